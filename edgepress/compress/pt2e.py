"""PT2E quantization of PyTorch programs, applied when a quantized handle is converted.

``edgepress.quantize(torch_model, "int8")`` records a recipe on the handle; each
converter applies it with its runtime's own quantizer, calibrated on the same stored
samples: ExecuTorch with the XNNPACK quantizer, TFLite with litert-torch's PT2E
quantizer, ONNX with ONNX Runtime (see ``onnx_quant``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgepress.artifact import Artifact
from edgepress.compress import calibration

QUANTIZATION_KEY = "quantization"  # report key holding the recipe on a quantized handle


def recipe_of(source: Artifact) -> dict[str, Any] | None:
    """The quantization recipe recorded on a handle (or carried by its saved ``.pt2``)."""
    recipe = source.report.get(QUANTIZATION_KEY)
    return recipe if isinstance(recipe, dict) and recipe.get("mode") in ("int8_static", "int8_dynamic", "fp16") else None


def carried(source: Artifact) -> dict[str, Any]:
    """Report entries a saved form of ``source`` must keep (the quantization recipe)."""
    recipe = recipe_of(source)
    return {QUANTIZATION_KEY: recipe, "name": source.report.get("name")} if recipe else {}


def xnnpack_program(recipe: dict[str, Any], module: Any, examples: tuple[Any, ...]) -> Any:
    """A torch.export program quantized with ExecuTorch's XNNPACK quantizer (fp32 I/O)."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    config = get_symmetric_quantization_config(is_per_channel=recipe.get("per_channel", True), is_dynamic=_dynamic(recipe))
    quantizer = XNNPACKQuantizer().set_global(config)
    quantized = _pt2e(recipe, module, examples, quantizer, fold=True)
    return torch.export.export(quantized, examples)


def litert_module(recipe: dict[str, Any], module: Any, examples: tuple[Any, ...], permute: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(quantized graph module, QuantConfig) for ``litert_torch.convert``; ``permute`` adapts samples to the module's layout."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig

    config = get_symmetric_quantization_config(is_per_channel=recipe.get("per_channel", True), is_dynamic=_dynamic(recipe))
    quantizer = PT2EQuantizer().set_global(config)
    return _pt2e(recipe, module, examples, quantizer, fold=False, permute=permute), QuantConfig(pt2e_quantizer=quantizer)


def _dynamic(recipe: dict[str, Any]) -> bool:
    return recipe["mode"] == "int8_dynamic"


def _pt2e(recipe: dict[str, Any], module: Any, examples: tuple[Any, ...], quantizer: Any, fold: bool, permute: Callable[[Any], Any] = lambda t: t) -> Any:
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(module, examples).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in calibration.samples(calibration.load(recipe["calibration_file"])):
            prepared(*(permute(torch.from_numpy(a)) for a in batch))
    converted = convert_pt2e(prepared, fold_quantize=fold)
    # Exported from an eval-mode module, the graph already holds inference ops; the flag
    # only tells converters so (exported modules refuse .eval()).
    converted.training = False
    return converted
