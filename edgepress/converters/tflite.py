"""``convert.tflite``: PyTorch (litert-torch) or Keras (TFLiteConverter) -> ``.tflite``.

The conversion report counts operators by kind: builtin, Select-TF ("Flex", which need
the TensorFlow-ops runtime that LiteRT's Python package does not ship) and other custom
ops. Either of the latter sets a flag, since the artifact will not run in plain LiteRT.
It also says which operators LiteRT's XNNPACK delegate takes on this host
(``tflite_delegation``): any it leaves sets the ``fallback_ops`` flag.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format, InputSpec
from edgepress.converters.common import convert_with, example_inputs, quiet_exporter, refuse_fixed_shapes, static_spec, torch_program
from edgepress.passes import register
from edgepress.quantization import record


class Layout(enum.Enum):
    KEEP = "keep"  # the source's layout (NCHW for PyTorch); litert-torch inserts transposes inside
    NHWC = "nhwc"  # channels-last image inputs, as TFLite kernels want them (PyTorch sources)


@register
@dataclass(frozen=True)
class ConvertTflite:
    """Convert to TFLite: litert-torch for PyTorch, the TFLite converter for Keras."""

    name: ClassVar[str] = "convert.tflite"
    summary: ClassVar[str] = "PyTorch (litert-torch) or Keras (TFLiteConverter) -> .tflite; reports builtin vs Select-TF ops"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.TORCH_EXPORT, Format.KERAS})
    methods: ClassVar[dict[Format, str]] = {
        Format.TORCH: "litert-torch",
        Format.TORCH_EXPORT: "litert-torch",
        Format.KERAS: "tf.lite.TFLiteConverter",
    }

    layout: Layout = Layout.KEEP
    strip_debug_names: bool = True  # drop per-tensor debug names; inputs, outputs and signatures keep theirs

    def output_format(self, source: Format) -> Format:
        return Format.TFLITE

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        refuse_fixed_shapes(artifact, Format.TFLITE)
        write = self._write_keras if artifact.format is Format.KERAS else self._write_torch
        return convert_with(self, artifact, out_dir, Format.TFLITE, write, lambda path: self._spec(artifact, path))

    def _write_torch(self, source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
        import litert_torch

        module = source.model.module if source.format is Format.TORCH else torch_program(source).module()
        examples = example_inputs(source, 1)
        if self.layout is Layout.NHWC:
            image_args = [i for i, t in enumerate(examples) if t.dim() == 4]
            module = litert_torch.to_channel_last_io(module, args=image_args)
            module.training = False  # not .eval(): exported programs' modules refuse it
            examples = tuple(t.permute(0, 2, 3, 1).contiguous() if t.dim() == 4 else t for t in examples)
        from edgepress.converters.tflite_quant import convert_torch

        with quiet_exporter():  # float, or the handle's QuantSpec lowered for TFLite
            facts = convert_torch(source.quant, module, examples, path, self.layout is Layout.NHWC)
        report: dict[str, Any] = record(source.quant, facts)
        report["debug_names_stripped_bytes"] = strip_debug_names(path) if self.strip_debug_names else 0
        from edgepress.converters.coverage import check

        return (), check({"converter": f"litert-torch {_version('litert-torch')}", **op_report(path), **report}, source.quant, "tflite", path)

    def _write_keras(self, source: Artifact, path: Path) -> tuple[tuple[Path, ...], dict[str, Any]]:
        import tensorflow as tf

        from edgepress.intake.keras import keras_model

        from edgepress.converters.tflite_quant import configure

        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model(source).model)
        facts = configure(converter, source.quant)  # the converter's own quantization modes
        with quiet_exporter():
            path.write_bytes(converter.convert())
        extra = record(source.quant, facts)
        extra["debug_names_stripped_bytes"] = strip_debug_names(path) if self.strip_debug_names else 0
        from edgepress.converters.coverage import check

        return (), check({"converter": f"tensorflow {tf.__version__} TFLiteConverter", **op_report(path), **extra}, source.quant, "tflite", path)

    def _spec(self, source: Artifact, path: Path) -> InputSpec:
        if source.format is Format.KERAS:
            from edgepress.targets.signature import read_input_spec

            return read_input_spec(path, Format.TFLITE).with_layout(source.input_spec.layout)
        spec = declared_integers(static_spec(source), path)
        if self.layout is Layout.NHWC and spec.layout == "NCHW":
            tensors = tuple(replace(t, shape=(t.shape[0], t.shape[2], t.shape[3], t.shape[1])) if len(t.shape) == 4 else t for t in spec.tensors)
            return InputSpec(tensors, "NHWC")
        return spec


def declared_integers(spec: InputSpec, path: Path) -> InputSpec:
    """``spec`` with each integer input's dtype as the file declares it (litert-torch makes int64 ids int32),
    and each float input the file stores quantized marked with its integer type, scale and zero point."""
    from edgepress.targets.signature import read_input_spec

    declared = read_input_spec(path, Format.TFLITE).tensors
    tensors = tuple(
        replace(t, dtype=d.dtype) if t.dtype.startswith(("int", "uint")) and d.dtype.startswith(("int", "uint")) else replace(t, stored=d.stored)
        for t, d in zip(spec.tensors, declared)
    )
    return replace(spec, tensors=tensors)


def strip_debug_names(path: Path) -> int:
    """Clear the names of intermediate tensors; returns the bytes saved.

    Converters name every tensor after the layers it came from (PyTorch module paths run
    to hundreds of bytes each): often more than the weights of a small INT8 model. Unlike
    the library's ``strip_strings``, inputs, outputs and signature definitions keep their
    names, so signature runners still work.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    before = path.stat().st_size
    model = flatbuffer_utils.read_model(str(path))
    for graph in model.subgraphs:
        keep = set(graph.inputs) | set(graph.outputs)
        for index, tensor in enumerate(graph.tensors):
            if index not in keep:
                tensor.name = None
    flatbuffer_utils.write_model(model, str(path))
    return before - path.stat().st_size


def op_report(path: Path) -> dict[str, Any]:
    """Operator counts of a .tflite by kind, read from its flatbuffer (no TensorFlow needed)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    kinds = []
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode().decode()
            kinds.append(("select_tf" if custom.startswith("Flex") else "custom", custom))
        else:
            kinds.append(("builtin", names.get(builtin, str(builtin))))
    counts: dict[str, dict[str, int]] = {"builtin": {}, "select_tf": {}, "custom": {}}
    for sub in range(model.SubgraphsLength()):
        graph = model.Subgraphs(sub)
        for op in range(graph.OperatorsLength()):
            kind, name = kinds[graph.Operators(op).OpcodeIndex()]
            counts[kind][name] = counts[kind].get(name, 0) + 1
    flags = [flag for flag, kind in (("select_tf_ops", "select_tf"), ("custom_ops", "custom")) if counts[kind]]
    ops = {**counts["builtin"], **counts["select_tf"], **counts["custom"]}
    delegation = _delegation(path) if not counts["select_tf"] else {"xnnpack": "not checked: plain LiteRT cannot load Select-TF ops"}
    flags += delegation.pop("flags", [])
    return {"ops": dict(sorted(ops.items())), "builtin_ops": counts["builtin"], "select_tf_ops": counts["select_tf"], "custom_ops": counts["custom"], **delegation, "flags": flags}


def _delegation(path: Path) -> dict[str, Any]:
    """XNNPACK's share of the file (see ``tflite_delegation``), or why it could not be read."""
    from edgepress.converters.tflite_delegation import xnnpack_report

    try:
        return xnnpack_report(path)
    except (RuntimeError, ValueError) as error:  # LiteRT could not load or prepare the file
        return {"xnnpack": f"not checked: LiteRT could not load the file ({str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__})"}


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)
