"""Read an edge artifact's input signature with its own runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepress.artifact import Format, InputSpec, StoredAs, TensorSpec
from edgepress.errors import ModelLoadError
from edgepress.layouts import guess_layout
from edgepress.targets.runtimes import missing_runtime_reason


def read_input_spec(path: Path, fmt: Format) -> InputSpec:
    """InputSpec of a ``.tflite`` or ``.pte`` file; ModelLoadError if unreadable."""
    reason = missing_runtime_reason(fmt)
    if reason:
        raise ModelLoadError(f"cannot read {path}: {reason}")
    readers = {Format.TFLITE: _tflite_spec, Format.EXECUTORCH: _executorch_spec}
    if fmt not in readers:
        raise ModelLoadError(f"{path}: {fmt.value} files carry no readable input signature; load the source model instead")
    try:
        tensors = readers[fmt](path)
    except Exception as exc:  # the runtimes raise RuntimeError/ValueError for damaged files
        raise ModelLoadError(f"{path} is a damaged or unsupported {fmt.value} file: {str(exc).splitlines()[0][:200]}") from None
    layout = "NHWC" if len(tensors[0].shape) == 4 and tensors[0].shape[3] in (1, 3, 4) else None
    return InputSpec(tensors, layout=layout)


def _tflite_spec(path: Path) -> tuple[TensorSpec, ...]:
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(path)).get_input_details()
    return tuple(_tflite_tensor(d) for d in details)


def _tflite_tensor(detail: dict[str, Any]) -> TensorSpec:
    """A quantized integer input (a scale set) reads as float32 stored as that integer type:
    the runners quantize float arrays into it; token ids (no scale) stay integers."""
    import numpy as np

    dtype = np.dtype(detail["dtype"])
    shape = tuple(int(v) for v in detail["shape"])
    scale, zero_point = detail["quantization"]
    if dtype.kind in "iu" and scale:
        return TensorSpec(detail["name"], shape, "float32", StoredAs(dtype.name, float(scale), int(zero_point)))
    return TensorSpec(detail["name"], shape, dtype.name)


# c10::ScalarType codes as ExecuTorch's MethodMeta reports them
_SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32", 7: "float64", 11: "bool"}


def _executorch_spec(path: Path) -> tuple[TensorSpec, ...]:
    from executorch.runtime import Runtime

    meta = Runtime.get().load_program(str(path)).metadata("forward")
    specs = []
    for index in range(meta.num_inputs()):
        tensor = meta.input_tensor_meta(index)
        specs.append(TensorSpec(f"input_{index}", tuple(tensor.sizes()), _SCALAR_TYPES.get(int(tensor.dtype()), "float32")))
    return tuple(specs)


def onnx_input_spec(model: Any) -> InputSpec:
    """InputSpec of an ONNX ModelProto's real inputs (initializers excluded)."""
    from onnx import helper

    initializers = {i.name for i in model.graph.initializer}
    tensors = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        ttype = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or f"d{i}") for i, d in enumerate(ttype.shape.dim))
        tensors.append(TensorSpec(value.name, dims, helper.tensor_dtype_to_np_dtype(ttype.elem_type).name))
    return InputSpec(tuple(tensors), layout=guess_layout(tensors[0].shape, prefer="NCHW") if tensors else None)
