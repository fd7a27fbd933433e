"""Quantization passes on real ONNX Runtime: static QDQ, dynamic, FP16, the guard, bad input."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import edgepress
from edgepress.artifact import Format
from edgepress.errors import BadInputError, DataError, FormatChainError
from edgepress.quantization import Calibration, Mode
from tests.conftest import INPUT_SHAPE
from tests.models import varied_inputs


def _x(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *INPUT_SHAPE[1:])).astype(np.float32)


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_static_int8_onnx_is_smaller_close_and_reports_sensitivity(onnx_artifact, tmp_path):
    made = edgepress.quantize(onnx_artifact, "int8", calibration=_x(32), out_dir=tmp_path)
    assert made.format is Format.ONNX and made.path.name.endswith("_int8.onnx")
    assert made.size_bytes < onnx_artifact.size_bytes  # a 3k-parameter model: graph overhead dominates
    ops = {n.op_type for n in __import__("onnx").load(str(made.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = _x(8, seed=5)
    ref, got = _run(onnx_artifact.path, x), _run(made.path, x)
    assert np.abs(ref - got).max() < 0.1 * np.abs(ref).max()
    record = made.report["quantization"]
    assert record["per_channel"] and record["activations"] == "uint8" and record["samples"] == 32
    layers = record["sensitivity"]
    assert layers and all({"layer", "op", "sqnr_db", "local_sqnr_db"} <= set(r) for r in layers)
    assert [r["local_sqnr_db"] for r in layers] == sorted(r["local_sqnr_db"] for r in layers)


def test_dynamic_and_fp16_onnx(onnx_artifact, tmp_path):
    dyn = edgepress.quantize(onnx_artifact, "int8_dynamic", out_dir=tmp_path)
    half = edgepress.quantize(onnx_artifact, "fp16", out_dir=tmp_path)
    x = _x(4, seed=2)
    ref = _run(onnx_artifact.path, x)
    assert half.size_bytes < onnx_artifact.size_bytes
    assert np.abs(_run(half.path, x) - ref).max() < 1e-2 * max(1.0, np.abs(ref).max())
    assert np.argmax(_run(dyn.path, x), 1).shape == (4,)
    assert dyn.path != half.path and dyn.path.exists()


def test_recipe_runs_quantize_pass(onnx_artifact, tmp_path, eval_npz):
    recipe = edgepress.Recipe.from_dict({"pass": [{"name": "quantize.int8_static", "data": str(eval_npz), "calibration": "percentile", "percentile": 99.9}]})
    (made,) = recipe.run(onnx_artifact, tmp_path)
    report = made.report["quantization"]
    assert report["quantizer"].startswith("onnxruntime") and report["samples"] == 12
    assert (report["method"], report["percentile"]) == ("percentile", 99.9)


def test_default_calibration_clips_at_the_99_99th_percentile(onnx_artifact, tmp_path):
    made = edgepress.quantize(onnx_artifact, "int8", calibration=_x(16), out_dir=tmp_path)
    assert (made.report["quantization"]["method"], made.report["quantization"]["percentile"]) == ("percentile", 99.99)
    with pytest.raises(BadInputError, match="percentile must be in"):
        edgepress.Recipe.from_dict({"pass": [{"name": "quantize.int8_static", "percentile": 20}]})


def test_guard_recovers_a_case_the_first_attempt_fails(trap_onnx, tmp_path):
    # Per-tensor weights round all but one weight of the trap's second conv to zero
    # (see tests.models.per_tensor_trap); per-channel weights recover it.
    made = edgepress.quantize(
        trap_onnx, "int8", calibration=varied_inputs(64), method="minmax", per_channel=False, out_dir=tmp_path, max_drop=0.05,
        eval_data=varied_inputs(48, seed=3), samples=64,
    )
    guard = made.report["guard"]
    assert guard["metric"] == "top-1 agreement with float"
    assert not guard["attempts"][0]["fits"] and guard["attempts"][-1]["fits"], guard["attempts"]
    assert guard["stopped"] == "fits" and guard["attempts"][-1]["changed"] == "per-channel weights"
    assert made.report["quantization"]["per_channel"] is True
    assert made.path.exists() and list(tmp_path.glob("*.onnx")) == [made.path]


def test_recipe_max_drop_runs_the_guard(trap_onnx, onnx_artifact, torch_model, tmp_path):
    np.savez(tmp_path / "calib.npz", x=varied_inputs(64))
    np.savez(tmp_path / "eval.npz", x=varied_inputs(48, seed=3))
    step = {"name": "quantize.int8_static", "data": str(tmp_path / "calib.npz"), "samples": 64, "calibration": "minmax",
            "per_channel": False, "max_drop": 0.05, "eval_data": str(tmp_path / "eval.npz")}
    recipe = edgepress.Recipe.from_dict({"pass": [step]})
    (made,) = recipe.run(trap_onnx, tmp_path / "out")
    guard = made.report["guard"]
    assert not guard["attempts"][0]["fits"] and guard["attempts"][-1]["fits"] and guard["stopped"] == "fits"
    assert [p.name for p in (tmp_path / "out").glob("*.onnx")] == [made.path.name]
    with pytest.raises(FormatChainError, match="recipe step 1: .*max_drop takes an onnx model.*convert.onnx"):
        recipe.check(torch_model.format)
    with pytest.raises(BadInputError, match="max_drop needs evaluation data"):
        edgepress.Recipe.from_dict({"pass": [{"name": "quantize.int8_static", "max_drop": 0.01}]}).run(onnx_artifact, tmp_path / "out")
    with pytest.raises(BadInputError, match="max_drop must be >= 0"):
        edgepress.Recipe.from_dict({"pass": [{**step, "max_drop": -1}]})


def test_the_guard_takes_a_pytorch_handle_as_the_cli_does(torch_model, tmp_path):
    # The float ONNX it scores goes to the cache's sources; the output folder gets the INT8 file only.
    x = varied_inputs(32)
    made = edgepress.quantize(torch_model, "int8", calibration=x, eval_data=varied_inputs(16, seed=2), max_drop=1.0, out_dir=tmp_path / "out")
    assert made.format is Format.ONNX and made.report["guard"]["stopped"] == "fits"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.onnx")) == [made.path.name]
    with pytest.raises(BadInputError, match="mode 'fp16' has none"):
        edgepress.quantize(torch_model, "fp16", calibration=x, max_drop=0.01, out_dir=tmp_path / "fp16")
    with pytest.raises(DataError):
        edgepress.quantize(torch_model, "int8", calibration=x[:, :1], max_drop=0.01, out_dir=tmp_path / "bad")
    assert not (tmp_path / "fp16").exists() and not (tmp_path / "bad").exists()


def test_bad_input_is_refused_and_nothing_written(onnx_artifact, tmp_path, torch_model):
    out = tmp_path / "out"
    with pytest.raises(DataError, match="no samples"):
        edgepress.quantize(onnx_artifact, "int8", calibration=np.zeros((0, *INPUT_SHAPE[1:]), np.float32), out_dir=out)
    with pytest.raises(DataError, match="expects samples shaped"):
        edgepress.quantize(onnx_artifact, "int8", calibration=np.zeros((4, 3, 8, 8), np.float32), out_dir=out)
    with pytest.raises(DataError, match="labels must be one integer per sample"):
        edgepress.quantize(onnx_artifact, "int8", calibration=(_x(4), np.arange(3)), out_dir=out)
    with pytest.raises(DataError, match="no batches"):
        edgepress.quantize(onnx_artifact, "int8", calibration=[], out_dir=out)
    with pytest.raises(BadInputError, match="unknown quantization mode"):
        edgepress.quantize(onnx_artifact, "int4", out_dir=out)
    assert not out.exists()


def test_model_without_quantizable_layers_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    with pytest.raises(BadInputError, match="no quantizable layers"):
        edgepress.quantize(edgepress.load(path), "int8", calibration=np.ones((2, 4), np.float32), out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.onnx"))


def test_torch_handle_records_recipe_without_writing(torch_model, tmp_path):
    q = edgepress.quantize(torch_model, "int8", calibration=_x(16), out_dir=tmp_path)
    assert q.format is Format.TORCH and q.model.module is torch_model.model.module
    assert q.sha256 != torch_model.sha256 and q.report["name"] == "resnet_tiny_int8"
    assert "quantization" not in q.report  # the recipe is the typed QuantSpec, not a report entry
    assert q.quant.mode is Mode.INT8_STATIC and q.quant.data.count == 16 and q.quant.calibration is Calibration.PERCENTILE
    assert np.load(q.quant.data.path)["x"].shape == (16, *INPUT_SHAPE[1:])
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_torch_handle_converts_to_int8_in_every_format(torch_model, tmp_path):
    q = edgepress.quantize(torch_model, "int8", calibration=_x(16))
    made = edgepress.convert(q, ["onnx", "executorch", "tflite"], out_dir=tmp_path)
    for artifact in made:
        assert artifact.report["quantization"]["mode"] == "int8_static", artifact.format
        assert artifact.path.name.startswith("resnet_tiny_int8")


def test_new_recipe_on_the_same_model_is_not_served_from_the_cache(torch_model, tmp_path):
    # Both handles save to the same float .pt2; only the recipe tells their outputs apart.
    first, second = (edgepress.quantize(torch_model, "int8", calibration=_x(16), method=m) for m in ("minmax", "percentile"))
    (a,) = edgepress.convert(first, ["onnx"], out_dir=tmp_path)
    (b,) = edgepress.convert(second, ["onnx"], out_dir=tmp_path)
    assert (a.report["quantization"]["method"], b.report["quantization"]["method"]) == ("minmax", "percentile")
    assert a.sha256 != b.sha256


def _run_tflite(path, x):
    """Outputs of a .tflite on float inputs, (de)quantizing int8 inputs and outputs as the runners do."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    (in_scale, in_zero), (out_scale, out_zero) = inp["quantization"], out["quantization"]
    rows = []
    for sample in x[:, None]:
        limits = np.iinfo(inp["dtype"]) if in_scale else None
        feed = np.clip(np.round(sample / in_scale + in_zero), limits.min, limits.max) if in_scale else sample
        interpreter.set_tensor(inp["index"], feed.astype(inp["dtype"]))
        interpreter.invoke()
        got = interpreter.get_tensor(out["index"]).astype(np.float32)
        rows.append((got - out_zero) * out_scale if out_scale else got)
    return np.concatenate(rows)


@pytest.mark.slow
def test_torch_handle_tflite_is_int8_from_ai_edge_quantizer(torch_model, tmp_path):
    import torch

    q = edgepress.quantize(torch_model, "int8", calibration=_x(32))
    (made,) = edgepress.convert(q, ["tflite"], out_dir=tmp_path)
    record = made.report["quantization"]
    assert record["quantizer"].startswith("ai-edge-quantizer") and record["samples"] == 32
    assert "99.99th percentile" in record["quantizer"]  # the spec's default method, as on ONNX
    assert record["float_ops"] == []  # this net's first convs hold most of its weights: all of it is INT8
    assert "DEQUANTIZE" not in made.report["ops"]
    x = _x(8, seed=5)
    with torch.no_grad():
        ref = torch_model.model.module(torch.from_numpy(x)).numpy()
    assert np.abs(_run_tflite(made.path, x) - ref).max() < 0.1 * np.abs(ref).max()


def test_an_int8_tflite_input_records_what_the_file_takes(tmp_path):
    """The file takes int8 with its own scale and zero point; callers still feed float32, which the runners quantize."""
    import torch
    from ai_edge_litert.interpreter import Interpreter

    from edgepress.digits import digits_cnn, load_digits_split

    split = load_digits_split()
    torch.manual_seed(0)  # an untrained net: its accuracy is luck, so the draw is fixed
    model = edgepress.from_torch(digits_cnn(width=8).eval(), torch.from_numpy(split.x_test[:1]), name="digits_w8")
    (made,) = edgepress.convert(edgepress.quantize(model, "int8", calibration=split.x_train[:16]), ["tflite"], out_dir=tmp_path)
    (detail,) = Interpreter(model_path=str(made.path)).get_input_details()
    (tensor,) = made.input_spec.tensors
    assert detail["dtype"] == np.int8 and tensor.dtype == "float32"
    assert (tensor.stored.dtype, tensor.stored.scale, tensor.stored.zero_point) == ("int8", pytest.approx(detail["quantization"][0]), detail["quantization"][1])
    assert edgepress.load(made.path).input_spec.tensors[0].stored == tensor.stored  # the file read back says the same
    (result,) = edgepress.bench([made], target="host-cpu", reference=model, data=(split.x_test[:20], split.y_test[:20]))
    assert result.error is None and result.accuracy is not None and result.drift.top1_agreement >= 0.8  # int8 fed through the file's own scale
    from edgepress.report.html import render_html

    assert f"(the file takes int8: scale {tensor.stored.scale:.4g}, zero point {tensor.stored.zero_point})" in render_html([result])


@pytest.mark.slow
def test_leading_convs_stay_float_while_a_small_share_of_the_weights(torch_model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from edgepress.converters.tflite_quant import quantize_static
    from edgepress.passes import apply, create

    fp32 = apply(create("convert.tflite", {"strip_debug_names": False}), torch_model, tmp_path)  # scopes are tensor names
    dst = tmp_path / "q.tflite"
    record = quantize_static(fp32.path, dst, (_x(16),), float_share=1.0)  # a share this net's stem fits in
    assert [name.split("#")[0] for name in record["float_ops"]] == ["CONV_2D", "CONV_2D"]
    interpreter = Interpreter(model_path=str(dst))
    filters = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details() if len(t["shape"]) == 4 and t["shape"][1:3].tolist() == [3, 3]}
    assert filters == {"float32"}  # both 3x3 convs kept their float filters; the classifier is int8
    from edgepress.converters.tflite_delegation import xnnpack_report

    delegation = xnnpack_report(dst)  # the float stem ends in a QUANTIZE mid-graph
    assert delegation["mid_graph_qdq"] >= 1 and delegation["delegated_ops"]["CONV_2D"] >= 2
    x = _x(8, seed=5)
    assert np.abs(_run_tflite(dst, x) - _run_tflite(fp32.path, x)).max() < 0.1 * np.abs(_run_tflite(fp32.path, x)).max()


def test_percentile_ranges_sit_inside_the_min_max_ones(torch_model, tmp_path):
    """Clipping at a percentile narrows some activation grids and widens none."""
    from ai_edge_litert.interpreter import Interpreter

    from edgepress.converters.tflite_quant import quantize_static
    from edgepress.passes import apply, create

    fp32 = apply(create("convert.tflite", {"strip_debug_names": False}), torch_model, tmp_path)  # names match across the two files
    x = _x(24)
    scales = {}
    for name, percentile in (("minmax", None), ("percentile", 99.9)):
        facts = quantize_static(fp32.path, tmp_path / f"{name}.tflite", (x,), float_share=0.0, percentile=percentile)
        assert facts["method"] == name
        details = Interpreter(model_path=str(tmp_path / f"{name}.tflite")).get_tensor_details()
        scales[name] = {d["name"]: d["quantization"][0] for d in details if d["dtype"] == np.int8 and d["quantization"][0] and "weight" not in d["name"]}
    shared = sorted(set(scales["minmax"]) & set(scales["percentile"]))
    assert len(shared) >= 5
    assert all(scales["percentile"][n] <= scales["minmax"][n] * (1 + 1e-6) for n in shared)
    assert sum(scales["percentile"][n] < 0.99 * scales["minmax"][n] for n in shared) >= 3


def test_bias_correction_takes_back_the_mean_shift_of_rounded_weights(torch_model, tmp_path):
    """Every int8 layer's bias absorbs (Wq - W) @ E[x]: the logits' mean error against the float file shrinks."""
    from edgepress.converters.tflite_quant import quantize_static
    from edgepress.passes import apply, create

    fp32 = apply(create("convert.tflite", {"strip_debug_names": False}), torch_model, tmp_path)
    x, held_out = _x(32), _x(64, seed=7)
    ref = _run_tflite(fp32.path, held_out)
    bias = {}
    for corrected in (False, True):
        facts = quantize_static(fp32.path, tmp_path / f"{corrected}.tflite", (x,), float_share=0.0, percentile=99.99, bias_correction=corrected)
        assert facts["bias_corrected"] == (3 if corrected else 0)  # two convs and the classifier, all int8
        bias[corrected] = np.abs((_run_tflite(tmp_path / f"{corrected}.tflite", held_out) - ref).mean(axis=0)).mean()
    assert bias[True] < 0.5 * bias[False]  # measured 0.0001 against 0.0005


def test_layers_reading_the_input_get_7bit_weights(onnx_artifact, tmp_path):
    import onnx
    from onnx import numpy_helper

    made = edgepress.quantize(onnx_artifact, "int8", calibration=_x(16), out_dir=tmp_path)
    assert len(made.report["quantization"]["weights_7bit"]) == 1  # the first conv reads the input
    model = onnx.load(str(made.path))
    int8 = [numpy_helper.to_array(i) for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    # one weight tensor spans at most 7 bits (the first layer's), the others use the full int8 range
    spans = sorted(int(np.abs(w.astype(np.int32)).max()) for w in int8)
    assert spans[0] <= 64 and spans[-1] == 127


def test_int16x8_onnx_is_closer_to_float_than_int8(onnx_artifact, tmp_path):
    import onnx

    calib, x = _x(32), _x(8, seed=4)
    int8 = edgepress.quantize(onnx_artifact, "int8", calibration=calib, out_dir=tmp_path)
    int16 = edgepress.quantize(onnx_artifact, "int16x8", calibration=calib, out_dir=tmp_path)
    assert int16.report["quantization"]["activations"] == "int16" and int16.path != int8.path
    types = {a.t.data_type for n in onnx.load(str(int16.path)).graph.node for a in n.attribute if a.name == "value"}
    zero_points = {i.data_type for i in onnx.load(str(int16.path)).graph.initializer}
    assert onnx.TensorProto.INT16 in zero_points | types
    ref = _run(onnx_artifact.path, x)
    assert np.abs(_run(int16.path, x) - ref).max() < np.abs(_run(int8.path, x) - ref).max()


def test_int16x8_of_a_torch_model_names_the_formats_that_take_it(torch_model, tmp_path):
    from edgepress.errors import ConversionError

    q = edgepress.quantize(torch_model, "int16x8", calibration=_x(8))
    with pytest.raises(ConversionError, match="int16x8 .* not supported by ExecuTorch's PT2E quantizer; convert it to ONNX .* or TFLite"):
        edgepress.convert(q, ["executorch"], out_dir=tmp_path)
    onnx_made, tflite_made = edgepress.convert(q, ["onnx", "tflite"], out_dir=tmp_path)
    assert onnx_made.report["quantization"]["activations"] == "int16"
    assert tflite_made.report["quantization"]["activations"] == "int16" and tflite_made.path.name == "resnet_tiny_int16x8.tflite"


@pytest.mark.slow
def test_int16x8_tflite_of_a_torch_model_is_closer_to_float_than_int8(torch_model, tmp_path):
    import torch
    from ai_edge_litert.interpreter import Interpreter

    calib, x = _x(32), _x(8, seed=4)
    int8, int16 = (edgepress.convert(edgepress.quantize(torch_model, mode, calibration=calib), ["tflite"], out_dir=tmp_path)[0] for mode in ("int8", "int16x8"))
    assert Interpreter(model_path=str(int16.path)).get_input_details()[0]["dtype"] == np.int16
    with torch.no_grad():
        ref = torch_model.model.module(torch.from_numpy(x)).numpy()
    assert np.abs(_run_tflite(int16.path, x) - ref).max() < np.abs(_run_tflite(int8.path, x) - ref).max()
