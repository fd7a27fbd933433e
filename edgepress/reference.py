"""Run the reference (original) model in this process to get the outputs drift compares against."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError
from edgepress.targets import worker
from edgepress.targets.base import RunFn

if TYPE_CHECKING:
    import numpy as np

REFERENCE_BATCH = 64


def reference_outputs(reference: Artifact, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Outputs of ``reference`` on ``inputs`` (batch-first arrays), as float arrays."""
    run = _runner(reference)
    return worker.run_batched(run, list(inputs), REFERENCE_BATCH)


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
    run, _, _ = worker.load_runner(reference.format.value, str(reference.path), os.cpu_count() or 1)
    return run


def _torch_module_runner(module: Any) -> RunFn:
    import torch

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            out = module(*[torch.from_numpy(a) for a in arrays])
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.detach().float().numpy() for o in outs]

    return run


def _keras_runner(reference: Artifact) -> RunFn:
    from edgepress.keras_models import keras_model

    model = keras_model(reference).model

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        out = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() if hasattr(o, "numpy") else o for o in outs]

    return run
