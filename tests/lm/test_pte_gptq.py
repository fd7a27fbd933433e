"""GPTQ for ExecuTorch: codes on XNNPACK's symmetric 4-bit grid, written into torchao's weights, closer to float than rounding."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from edgepress.lm.hf import from_hf


def test_symmetric_gptq_codes_sit_on_the_signed_int4_grid():
    from edgepress.lm.gptq import gptq_codes

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 64)) @ (np.eye(64) + 0.3 * rng.normal(size=(64, 64)))
    found = gptq_codes(rng.normal(size=(64, 8)), 2 * x.T @ x / len(x), group_size=32, symmetric=True)
    assert np.all(found.zeros == 8) and found.codes.max() <= 15  # value = scale * (code - 8): int4 -8..7
    assert np.all(found.scales > 0)


def _logits_error(model, reference, ids) -> float:
    import torch

    with torch.no_grad():
        return float(torch.mean((model(ids).logits - reference) ** 2))


def test_gptq_writes_its_codes_into_torchao_weights_and_beats_rounding(tiny_llama):
    """On held-out text the GPTQ-quantized model's logits are closer to float than round-to-nearest's (same 8da4w kernels)."""
    import torch

    from edgepress.lm.executorch_export import quantize_torch
    from edgepress.lm.gptq import gptq_linears
    from edgepress.lm.onnx_weights import Calibration
    from edgepress.lm.text import calibration_windows, read_text, token_ids
    from edgepress.quantization import Mode, QuantSpec, WeightMethod

    lm = from_hf(tiny_llama)
    windows = calibration_windows(lm.tokenizer, None, count=8, window=128)
    held_out = torch.tensor([token_ids(lm.tokenizer, read_text(None), 256)])
    with torch.no_grad():
        reference = lm.model(held_out).logits
    gptq, rtn = copy.deepcopy(lm.model), copy.deepcopy(lm.model)
    facts = quantize_torch(gptq, QuantSpec(Mode.INT4, group_size=32, weight_method=WeightMethod.GPTQ), Calibration(windows, "test"))
    quantize_torch(rtn, QuantSpec(Mode.INT4, group_size=32))
    assert facts["calibration"]["windows"] == 8 and facts["lm_head_bits"] == 8
    expected = gptq_linears(lm.model, windows, {"model.layers.0.mlp.up_proj": 32})["model.layers.0.mlp.up_proj"]
    written = gptq.get_submodule("model.layers.0.mlp.up_proj").weight.dequantize()
    assert torch.allclose(written.double(), torch.from_numpy(expected.dequantized().T), atol=1e-5)
    assert _logits_error(gptq, reference, held_out) < 0.8 * _logits_error(rtn, reference, held_out)


def test_gptq_needs_calibration_windows(tiny_llama):
    from edgepress.errors import BadInputError
    from edgepress.lm.executorch_export import quantize_torch
    from edgepress.quantization import Mode, QuantSpec, WeightMethod

    with pytest.raises(BadInputError, match="--method gptq needs calibration text"):
        quantize_torch(copy.deepcopy(from_hf(tiny_llama).model), QuantSpec(Mode.INT4, group_size=32, weight_method=WeightMethod.GPTQ))
