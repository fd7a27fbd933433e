"""Run the reference (original) model in this process to get the outputs drift compares against."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError
from edgepress.targets import measure_worker
from edgepress.targets.base import RunFn

if TYPE_CHECKING:
    import numpy as np

REFERENCE_BATCH = 64


def reference_outputs(reference: Artifact, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Outputs of ``reference`` on ``inputs`` (batch-first arrays), as float arrays.

    A model exported at a fixed batch (``torch.export`` at batch 1, the default) runs in
    chunks of that batch; a dynamic-batch model in chunks of ``REFERENCE_BATCH``.
    """
    run = _runner(reference)
    fixed = static_batch(reference)
    return measure_worker.run_batched(run, list(inputs), fixed or REFERENCE_BATCH, pad=fixed is not None)


def static_batch(art: Artifact) -> int | None:
    """The batch size a model was exported with, or None when its batch dimension is dynamic."""
    first = art.input_spec.tensors[0].shape if art.input_spec.tensors else ()
    return first[0] if first and isinstance(first[0], int) else None


def _runner(reference: Artifact) -> RunFn:
    if reference.format is Format.TORCH:
        return _torch_module_runner(reference.model.module)
    if reference.format is Format.TORCH_EXPORT and reference.model is not None:
        return _torch_module_runner(reference.model.module())
    if reference.format is Format.TORCHSCRIPT and reference.model is not None:
        return _torch_module_runner(reference.model)
    if reference.format is Format.KERAS:
        return _keras_runner(reference)
    if reference.path is None:
        raise BadInputError(f"cannot use an in-memory {reference.format.value} model as the reference")
    run, _, _ = measure_worker.load_runner(reference.format.value, str(reference.path), os.cpu_count() or 1)
    return run


def _torch_module_runner(module: Any) -> RunFn:
    import torch

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            out = module(*[torch.from_numpy(a) for a in arrays])
        return [o.detach().float().numpy() for o in measure_worker.flatten_outputs(out)]

    return run


def _keras_runner(reference: Artifact) -> RunFn:
    from edgepress.intake.keras import keras_model

    model = keras_model(reference).model

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        out = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        return [o.numpy() if hasattr(o, "numpy") else o for o in measure_worker.flatten_outputs(out)]

    return run
