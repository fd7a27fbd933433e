"""Token models: LSTM and GRU classifiers on int64 ids, quantized to INT8 ONNX, TFLite and .pte.

Each format must run on the ids as the file declares them (litert-torch writes int32
inputs), stay close to the float program, and say truthfully how much of it is INT8.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch

import edgepress
from edgepress.errors import DataError
from edgepress.layouts import cast_integers

VOCAB, EMB, HIDDEN, SEQ, CLASSES = 100, 16, 16, 12, 4


class TextRNN(torch.nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(VOCAB, EMB)
        self.rnn = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(EMB, HIDDEN, batch_first=True)
        self.fc = torch.nn.Linear(HIDDEN, CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.emb(tokens))
        return self.fc(hidden[:, -1])


def _save(tmp_path_factory, kind: str, module: torch.nn.Module):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp(kind) / f"{kind}.pt2"
    program = torch.export.export(module.eval(), (torch.randint(0, VOCAB, (1, SEQ)),))  # batch 1, as users export
    torch.export.save(program, str(path))
    return path


@pytest.fixture(scope="module", params=["lstm", "gru"])
def token_pt2(request, tmp_path_factory):
    torch.manual_seed(0)
    return request.param, _save(tmp_path_factory, request.param, TextRNN(request.param))


def _ids(n: int, seed: int, high: int = VOCAB) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, (n, SEQ), dtype=np.int64)


@pytest.mark.slow
def test_int8_in_every_format_runs_on_ids_and_reports_what_is_int8(token_pt2, tmp_path, fast):
    kind, path = token_pt2
    model = edgepress.load(path)
    q = edgepress.quantize(model, "int8", calibration=_ids(16, 0), out_dir=tmp_path)
    arts = {a.format.value: a for a in edgepress.convert(q, ["onnx", "tflite", "executorch"], out_dir=tmp_path, isolate=False)}
    results = dict(zip(arts, edgepress.bench(list(arts.values()), reference=model, data=_ids(8, 1), settings=fast)))
    for fmt, result in results.items():
        assert result.error is None, (fmt, result.error)
        assert result.drift.samples == 8 and result.drift.cosine > 0.99, (fmt, result.drift)
        assert set(arts[fmt].report.get("flags", [])) <= set(result.flags)  # bench carries the artifact's flags
    # litert-torch makes the ids int32: the spec says so and bench casts (and says it did)
    assert arts["tflite"].input_spec.dtypes == ("int32",) and arts["onnx"].input_spec.dtypes == ("int64",)
    assert results["tflite"].input_transform == "inputs cast int64 -> int32 for this artifact"
    assert results["executorch"].input_transform is None
    cover = {fmt: a.report["quantization"] for fmt, a in arts.items()}
    # XNNPACK and ai-edge-quantizer take the recurrent layer's Linear parts; the embedding table stays float
    assert cover["executorch"]["float_weights_by_op"] == {"embedding": VOCAB * EMB}
    assert cover["tflite"]["float_weights_by_op"] == {"EMBEDDING_LOOKUP": VOCAB * EMB}
    assert cover["executorch"]["quantized_weight_fraction"] >= 0.5 and cover["tflite"]["quantized_weight_fraction"] >= 0.5
    # ONNX Runtime's static QDQ leaves the LSTM / GRU node float, and the report says which share that is
    assert set(cover["onnx"]["float_weights_by_op"]) == {kind.upper()}
    partly = cover["onnx"]["quantized_weight_fraction"] < 0.5
    assert ("partly_quantized" in arts["onnx"].report.get("flags", [])) == partly
    assert ("--mode int8_dynamic" in cover["onnx"].get("coverage_warning", "")) == partly


@pytest.mark.slow
def test_onnx_static_int8_flags_a_float_lstm_and_dynamic_int8_quantizes_it(token_pt2, tmp_path):
    kind, path = token_pt2
    if kind != "lstm":
        pytest.skip("one recurrent model shows it")
    (onnx_model,) = edgepress.convert(edgepress.load(path), ["onnx"], out_dir=tmp_path, isolate=False)
    static = edgepress.quantize(onnx_model, "int8", calibration=_ids(16, 0), out_dir=tmp_path)
    assert "partly_quantized" in static.report["flags"]
    assert static.report["quantization"]["coverage_warning"].startswith("onnx: ONNX Runtime's static QDQ quantizer leaves LSTM")
    dynamic = edgepress.quantize(onnx_model, "int8_dynamic", out_dir=tmp_path)  # what the warning proposes
    assert "LSTM" not in dynamic.report["quantization"]["float_weights_by_op"]
    assert dynamic.report["quantization"]["quantized_weight_fraction"] > 0.9 and "partly_quantized" not in dynamic.report.get("flags", [])


@pytest.mark.slow
def test_pte_of_an_embedding_model_is_flagged_not_quantized_and_the_cli_says_why(tmp_path_factory, tmp_path, fast):
    # XNNPACK quantizes the Linear only (4.6% of the weights); the 1000x16 embedding table stays float
    bag = torch.nn.Sequential(torch.nn.Embedding(1000, 16), torch.nn.Flatten(), torch.nn.Linear(16 * SEQ, CLASSES))
    path = _save(tmp_path_factory, "bag", bag)
    np.savez(tmp_path / "calib.npz", x=_ids(16, 0, high=1000))
    proc = subprocess.run([sys.executable, "-m", "edgepress", "quantize", str(path), "--data", "calib.npz", "--to", "executorch", "--out", "q"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: executorch: XNNPACK's INT8 quantizer covers Linear and Conv"), proc.stderr
    assert "% of the weights are INT8 (float weight values by operator: embedding 16,000)" in warnings[0]
    pte = edgepress.load(tmp_path / "q" / "bag_int8.pte")
    (result,) = edgepress.bench(pte, reference=edgepress.load(path), data=_ids(8, 1, high=1000), settings=fast)
    assert result.error is None and "not_quantized" in result.flags


def test_integer_inputs_are_cast_to_the_declared_dtype_only_when_they_fit():
    ids = _ids(4, 0)
    (cast,), note = cast_integers([ids], ["int32"], ["tokens"])
    assert cast.dtype == np.int32 and np.array_equal(cast, ids) and note == "inputs cast int64 -> int32"
    assert cast_integers([ids.astype(np.float32)], ["int32"])[1] is None  # floats are the data check's business
    with pytest.raises(DataError, match=r"input 'tokens' holds values from 0 to 4294967296, but this artifact takes int32"):
        cast_integers([np.array([[0, 2**32]], np.int64)], ["int32"], ["tokens"])
