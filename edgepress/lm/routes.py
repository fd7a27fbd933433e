"""Which formats a Hugging Face language model goes to, and how: the language-model rows of the conversion matrix.

Language models do not go through the converter registry (their exporters take a
``HFModel`` with its tokenizer, and each format has one fixed route), so their routes are
listed here, next to the reasons for the formats they do not go to.
"""

from __future__ import annotations

from edgepress.artifact import Format
from edgepress.lm.hf import Task

ROUTES: dict[Task, dict[Format, str]] = {
    Task.TEXT_GENERATION: {
        Format.ONNX: "ONNX Runtime GenAI's model builder: GroupQueryAttention, KV cache in and out (`edgepress.lm.onnx_export`)",
        Format.TFLITE: "litert-torch's Hugging Face exporter, prefill and decode signatures (`edgepress.lm.tflite_export`)",
        Format.EXECUTORCH: "transformers' static-cache module, torch.export + XNNPACK (`edgepress.lm.executorch_export`)",
    },
    Task.FEATURE_EXTRACTION: {
        Format.ONNX: "torch.onnx dynamo exporter, dynamic batch and sequence (`edgepress.lm.onnx_export`)",
        Format.TFLITE: "litert_torch.convert at sequence 128 (`edgepress.lm.encoder_export`)",
        Format.EXECUTORCH: "torch.export with a dynamic sequence + XNNPACK (`edgepress.lm.encoder_export`)",
    },
}
NOT_MADE: dict[Format, str] = {
    Format.TORCHSCRIPT_LITE: "the lite interpreter is deprecated upstream and edgepress exports no language model to it; use executorch",
    Format.TORCH_EXPORT: "a language model's exported program ships inside the .pte; use executorch (or onnx)",
}


def matrix_rows(targets: tuple[Format, ...]) -> list[str]:
    """Markdown rows ``hf <task>`` for the conversion matrix, one cell per target format."""
    rows = []
    for task, routes in ROUTES.items():
        cells = [f"yes: {routes[t]}" if t in routes else f"no: {NOT_MADE.get(t, 'not a language-model format')}" for t in targets]
        rows.append(f"| hf {task.value} | " + " | ".join(cells) + " |")
    return rows
