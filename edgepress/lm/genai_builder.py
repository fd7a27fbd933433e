"""Decoder -> ONNX with ONNX Runtime GenAI's model builder (``onnxruntime_genai.models.builder``).

Why the builder rather than a traced export: it writes ONNX Runtime's fused decoder ops,
``GroupQueryAttention`` (rotary embedding inside, the KV cache appended in place of a
Concat chain) and ``SkipSimplifiedLayerNormalization``, so a SmolLM2 decode step runs
about 310 nodes instead of about 2,100. That per-token overhead is what held INT4 decode
back: the weights shrink 4x, the small ops do not.

The graph keeps the layout every ONNX decoder here has (Optimum's and ORT GenAI's):
``input_ids``, ``attention_mask``, ``past_key_values.N.key|value`` in; ``logits``,
``present.N.key|value`` out. Positions come from the attention mask. ``genai_config.json``
stays beside the graph, so the folder also runs in ``onnxruntime_genai.Model(folder)``.

The builder reads a Hugging Face folder, so the model (which may be in memory, or
dequantized from a GGUF file) is written to a temporary one first. It runs in a child
process: it prints progress bars and notes, which go to the log, not the terminal.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgepress.errors import ConversionError

BUILDER = "onnxruntime_genai.models.builder"
GENAI_CONFIG = "genai_config.json"
TIMEOUT_S = 1800.0


def build_decoder(lm: Any, path: Path, head_dim: int) -> None:
    """Write ``lm`` (an ``HFModel`` decoder) as ``path``, its weights as ``<path name>.data`` and ``genai_config.json`` beside it."""
    from edgepress.lm.hf import save_float_folder

    with tempfile.TemporaryDirectory(prefix="edgepress-genai-", dir=path.parent) as tmp:
        source, built = Path(tmp) / "hf", Path(tmp) / "onnx"
        save_float_folder(lm, source)
        _run_builder(source, built, Path(tmp) / "cache")
        _publish(built, path, head_dim)


def builder_version() -> str:
    from importlib.metadata import version

    return f"onnxruntime-genai {version('onnxruntime-genai')} model builder"


def _run_builder(source: Path, out: Path, cache: Path) -> None:
    from importlib.util import find_spec

    from edgepress.isolation import SAFE_PATH
    from edgepress.quiet import log_child_output

    if find_spec("onnxruntime_genai") is None:
        raise ConversionError("a decoder goes to ONNX through ONNX Runtime GenAI's model builder: pip install 'edgepress[lm]' (or onnxruntime-genai)")
    argv = [sys.executable, SAFE_PATH, "-m", BUILDER, "-m", str(source), "-i", str(source), "-o", str(out), "-p", "fp32", "-e", "cpu", "-c", str(cache)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"ONNX Runtime GenAI's model builder did not finish within {TIMEOUT_S:.0f} s") from None
    log_child_output("onnxruntime-genai model builder", done.stderr, done.stdout)
    if done.returncode != 0 or not (out / "model.onnx").is_file():
        last = (done.stderr or done.stdout).strip().splitlines()
        raise ConversionError(f"ONNX Runtime GenAI's model builder failed (exit status {done.returncode}): {last[-1][-300:] if last else '(no output)'}")


def _publish(built: Path, path: Path, head_dim: int) -> None:
    """The built graph under edgepress's name, with its weights in ``<name>.data`` and a numeric head size."""
    import onnx

    model = onnx.load(str(built / "model.onnx"))
    for value in [*model.graph.input, *model.graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param == "kv_cache_dim":  # symbolic in the builder's graph; the cache is made from this shape
                dim.dim_value = head_dim
    onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data", size_threshold=1024)
    shutil.copy2(built / GENAI_CONFIG, path.parent / GENAI_CONFIG)
    point_genai_config(path.parent, path.name)


def point_genai_config(folder: Path, filename: str) -> None:
    """Make ``genai_config.json`` (when the folder has one) name the graph file ``filename``."""
    config_file = folder / GENAI_CONFIG
    if not config_file.is_file():
        return
    config = json.loads(config_file.read_text())
    config["model"]["decoder"]["filename"] = filename
    config_file.write_text(json.dumps(config, indent=4))
