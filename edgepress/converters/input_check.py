"""The rule every converter keeps: a made artifact takes the inputs its source model takes.

An exporter can change a model's inputs without failing: tf2onnx once turned the mean and
variance of a Keras Normalization layer into extra ONNX graph inputs, and the artifact ran
(on random values for those "inputs") until data was fed by name. ``convert_with`` calls
``check_inputs`` on every staged artifact, so such a file is a ConversionError before it
is published.

What may legitimately differ, and is not compared: names outside ONNX (TFLite and
ExecuTorch name inputs their own way), the batch dimension and dynamic dimensions (edge
formats fix them to a size), the integer width (int64 token ids become int32 in TFLite),
the float width (fp16), an integer input that carries a quantization scale (a quantized
TFLite model's float input), and the order of image dimensions between NCHW and NHWC.
ONNX, TFLite and ExecuTorch inputs are read from the file; other formats (.pt2, .ptl,
.keras) hold no signature readable without rebuilding the model, so their converter's
declared spec is checked.
"""

from __future__ import annotations

from pathlib import Path

from edgepress.artifact import Format, InputSpec, TensorSpec
from edgepress.errors import ConversionError

# Integer inputs with a quantization scale read as float: the runner quantizes floats into them.
QUANTIZED = "quantized"


def check_inputs(source: InputSpec, path: Path, fmt: Format, declared: InputSpec) -> None:
    """ConversionError when the ``fmt`` file at ``path`` takes other inputs than ``source``.

    ``declared`` is the spec the converter states for the file (its layout tells whether
    image dimensions were permuted).

    Example:
        >>> check_inputs(source.input_spec, Path("out/m.onnx"), Format.ONNX, made_spec)
    """
    made = read_file_spec(path, fmt) or declared
    problems = input_differences(source, made.with_layout(declared.layout), names=fmt is Format.ONNX)
    if problems:
        raise ConversionError(
            f"the {fmt.value} converter made a model whose inputs differ from the source model's: {'; '.join(problems)} "
            f"(source inputs: {describe(source)}; {fmt.value} inputs: {describe(made)}); the file was not kept, since it "
            f"would be fed the wrong data. Convert to another format, or report this model to edgepress with this message"
        )


def input_differences(source: InputSpec, made: InputSpec, names: bool = True) -> list[str]:
    """Each way ``made`` takes other inputs than ``source``, in words (empty when they agree)."""
    if len(made.tensors) != len(source.tensors):
        return [f"{len(made.tensors)} input(s) instead of {len(source.tensors)}"]
    if names and made.names != source.names:
        return [f"inputs named {list(made.names)} instead of {list(source.names)}"]
    problems = []
    for index, (want, got) in enumerate(zip(source.tensors, made.tensors)):
        problems += [f"input {index} ({want.name}): {p}" for p in _tensor_differences(want, got, source.layout, made.layout)]
    return problems


def _tensor_differences(want: TensorSpec, got: TensorSpec, want_layout: str | None, got_layout: str | None) -> list[str]:
    if len(got.shape) != len(want.shape):
        return [f"rank {len(got.shape)} instead of {len(want.shape)}"]
    problems = []
    if _kind(got.dtype) != _kind(want.dtype) and QUANTIZED not in (_kind(got.dtype), _kind(want.dtype)):
        problems.append(f"dtype {got.dtype} instead of {want.dtype}")
    if _kind(got.dtype) == QUANTIZED and _kind(want.dtype) != "float":
        problems.append(f"a quantized {got.dtype.split(':')[1]} input for a {want.dtype} one")
    expected = _in_layout(want.shape, want_layout, got_layout)
    fixed = [i for i in range(1, len(expected)) if isinstance(expected[i], int) and isinstance(got.shape[i], int)]
    if any(expected[i] != got.shape[i] for i in fixed):
        problems.append(f"shape {_dims(got.shape)} instead of {_dims(expected)}")
    return problems


def _in_layout(shape: tuple[int | str, ...], layout: str | None, target: str | None) -> tuple[int | str, ...]:
    """``shape`` with its image dimensions in the ``target`` layout's order."""
    if len(shape) != 4 or layout == target or {layout, target} != {"NCHW", "NHWC"}:
        return shape
    n, a, b, c = shape
    return (n, b, c, a) if target == "NHWC" else (n, c, a, b)


def _kind(dtype: str) -> str:
    if dtype.startswith(QUANTIZED):
        return QUANTIZED
    if "float" in dtype:
        return "float"
    if dtype.startswith(("int", "uint")):
        return "integer"
    return dtype


def _dims(shape: tuple[int | str, ...]) -> str:
    return "x".join(str(d) for d in shape)


def describe(spec: InputSpec) -> str:
    """``name dtype shape`` per input, for messages."""
    return ", ".join(f"{t.name} {t.dtype} {_dims(t.shape)}" for t in spec.tensors) or "none"


def read_file_spec(path: Path, fmt: Format) -> InputSpec | None:
    """The inputs a file declares (ONNX, TFLite, ExecuTorch); None for formats without a readable signature."""
    if fmt is Format.ONNX:
        import onnx

        from edgepress.targets.signature import onnx_input_spec

        return onnx_input_spec(onnx.load(str(path), load_external_data=False))
    if fmt is Format.TFLITE:
        return InputSpec(_tflite_inputs(path))
    if fmt is Format.EXECUTORCH:
        from edgepress.targets.runtimes import missing_runtime_reason
        from edgepress.targets.signature import read_input_spec

        return None if missing_runtime_reason(fmt) else read_input_spec(path, fmt)
    return None


def _tflite_inputs(path: Path) -> tuple[TensorSpec, ...]:
    """Subgraph 0's inputs from the flatbuffer (no interpreter: a file with Select-TF ops still reads)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    tensors = []
    for index in graph.InputsAsNumpy():
        tensor = graph.Tensors(int(index))
        signature = tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength() else tensor.ShapeAsNumpy()
        shape = tuple(f"d{i}" if d < 0 else int(d) for i, d in enumerate(signature))
        dtype = types.get(tensor.Type(), str(tensor.Type()))
        scaled = tensor.Quantization() is not None and tensor.Quantization().ScaleLength() > 0
        tensors.append(TensorSpec(tensor.Name().decode(), shape, f"{QUANTIZED}:{dtype}" if scaled and "float" not in dtype else dtype))
    return tuple(tensors)
