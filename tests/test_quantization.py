"""QuantSpec: the typed recipe a quantized handle carries, its JSON form, the cache key it
enters, and the sidecars of the previous release that kept it as a dict in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgepress
from edgepress.artifact import Artifact, Format
from edgepress.passes import cache_key, create
from edgepress.quantization import Activations, Calibration, DataRef, Mode, QuantSpec, Training
from tests.conftest import INPUT_SHAPE

SPECS = [
    QuantSpec(Mode.INT8_STATIC, False, Calibration.ENTROPY, Activations.INT16, keep_float=("conv1",), data=DataRef("/c/a.npz", 16, True)),
    QuantSpec(Mode.INT8_STATIC, percentile=99.9, leading_float=False, data=DataRef("/c/b.npz", 128)),
    QuantSpec(Mode.INT8_DYNAMIC, data=DataRef("/c/c.npz", 1, True)),
    QuantSpec(Mode.FP16),
    QuantSpec(Mode.QAT, per_channel=False, training=Training(3, 1e-4, 512, "PT2E XNNPACKQuantizer")),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.mode.value)
def test_spec_survives_json_and_hashes(spec):
    back = QuantSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec and hash(back) == hash(spec)


def test_the_spec_enters_the_cache_key(torch_model):
    p = create("convert.onnx", {})
    plain = torch_model
    static, other = (torch_model.derive(quant=s) for s in SPECS[:2])
    keys = {cache_key(p, a) for a in (plain, static, other)}
    assert len(keys) == 3  # same bytes, three recipes: three conversions


def _old_sidecar(path) -> None:
    """Rewrite a sidecar the way the previous release wrote it: the recipe as a dict in the report."""
    sidecar = path.parent / ".edgepress" / f"{path.name}.json"
    record = json.loads(sidecar.read_text())
    quant = record["artifact"].pop("quant")
    record["artifact"]["report"]["quantization"] = quant
    record["cache_key"] = "written-by-the-previous-release"
    sidecar.write_text(json.dumps(record))


def test_a_pt2_saved_by_the_previous_release_still_converts_as_quantized(torch_model, tmp_path):
    q = edgepress.quantize(torch_model, "int8_dynamic")
    (pt2,) = edgepress.convert(q, ["pt2"], out_dir=tmp_path / "saved", isolate=False)
    assert pt2.quant == q.quant and "quantization" not in pt2.report  # the file is the float program; the recipe is beside it
    _old_sidecar(pt2.path)
    loaded = edgepress.load(pt2.path)
    assert loaded.quant == q.quant and "quantization" not in loaded.report  # read once, converted to the typed record
    (made,) = edgepress.convert(loaded, ["onnx"], out_dir=tmp_path / "out", isolate=False)
    assert made.report["quantization"]["mode"] == "int8_dynamic" and made.quant == q.quant
    assert "DynamicQuantizeLinear" in made.report["ops"]  # ONNX Runtime's dynamic quantizer ran


def test_old_output_sidecars_keep_their_report_and_gain_no_recipe():
    """An ONNX file's report entry is what its quantizer did, not a recipe to apply again."""
    record = {"path": "m_int8.onnx", "format": "onnx", "sha256": "0", "size_bytes": 1, "input_spec": {"tensors": [], "layout": None},
              "report": {"quantization": {"mode": "int8_static", "quantizer": "onnxruntime quantize_static (QDQ)"}}}
    art = Artifact.from_dict(record)
    assert art.format is Format.ONNX and art.quant is None and art.report["quantization"]["quantizer"].startswith("onnxruntime")


def test_handles_carry_the_spec_and_the_samples(torch_model):
    x = np.random.default_rng(0).random((6, *INPUT_SHAPE[1:]), dtype=np.float32)
    q = edgepress.quantize(torch_model, "int8", calibration=x, samples=4, method="minmax", per_channel=False)
    assert (q.quant.mode, q.quant.calibration, q.quant.per_channel, q.quant.data.count) == (Mode.INT8_STATIC, Calibration.MINMAX, False, 4)
    assert Artifact.from_dict(q.to_dict()).quant == q.quant
