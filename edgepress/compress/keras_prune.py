"""Magnitude and N:M pruning of Keras models (Keras 3 and tf-keras).

One-shot pruning sets the smallest kernel weights of Conv/Dense layers to zero on a
copy of the model, the same for both flavours (TF-MOT refuses Keras 3 models, and
one-shot masks need no training anyway). Pruning while fine-tuning (``epochs`` > 0)
uses TF-MOT's ``prune_low_magnitude`` + ``strip_pruning`` on tf-keras models; for
Keras 3 prune one-shot and then train with ``distill.kd``, which keeps zeros at zero.
"""

from __future__ import annotations

from typing import Any

from edgepress.artifact import Artifact
from edgepress.errors import BadInputError
from edgepress.passes import describe

KERNEL_LAYERS = ("Conv1D", "Conv2D", "Conv3D", "Dense")


def prune_keras(p: Any, artifact: Artifact) -> Artifact:
    """Run ``prune.magnitude`` / ``prune.n_m`` on a Keras artifact; returns a new one."""
    from edgepress.compress.training import remember_origin
    from edgepress.stats import model_stats
    from edgepress.intake.keras import TF_KERAS, from_keras

    model, flavor = artifact.model.model, artifact.model.flavor
    if p.epochs > 0 and flavor != TF_KERAS:
        raise BadInputError(
            "pruning while fine-tuning needs TF-MOT, which takes tf-keras models only; for this Keras 3 model prune "
            "with epochs = 0, then train with distill.kd (it keeps pruned weights at zero)"
        )
    copy = _tfmot_prune(p, model) if p.epochs > 0 else _masked_copy(p, model, flavor)
    made = from_keras(copy, name=str(artifact.report.get("name", "model")))
    report = {**made.report, "stats": model_stats(made), "source_stats": artifact.report.get("stats") or model_stats(artifact)}
    made = made.derive(lineage=(*artifact.lineage, describe(p)), report=report)
    remember_origin(made, artifact)
    return made


def clone(model: Any, flavor: str) -> Any:
    """A copy of a Keras model with the same weights (the input is never changed)."""
    import keras
    import tf_keras

    from edgepress.intake.keras import KERAS3

    lib = keras if flavor == KERAS3 else tf_keras
    copy = lib.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _masked_copy(p: Any, model: Any, flavor: str) -> Any:
    import numpy as np

    copy = clone(model, flavor)
    kept = {s.strip() for s in p.keep.split(",") if s.strip()}
    layers = [layer for layer in copy.layers if type(layer).__name__ in KERNEL_LAYERS and layer.name not in kept]
    if not layers:
        raise BadInputError("the model has no Conv or Dense layers to prune (or all are listed in keep)")
    kernels = [np.asarray(layer.kernel) for layer in layers]
    masks = _n_m(kernels, p.n, p.m) if p.name == "prune.n_m" else _magnitude(kernels, p.sparsity, p.scope.value)
    for layer, kernel, mask in zip(layers, kernels, masks):
        layer.kernel.assign(kernel * mask)
    return copy


def _magnitude(kernels: list[Any], sparsity: float, scope: str) -> list[Any]:
    import numpy as np

    if scope == "layer":
        return [np.abs(k) > np.quantile(np.abs(k), sparsity, method="lower") for k in kernels]
    cut = np.quantile(np.concatenate([np.abs(k).ravel() for k in kernels]), sparsity, method="lower")
    return [np.abs(k) > cut for k in kernels]


def _n_m(kernels: list[Any], n: int, m: int) -> list[Any]:
    """Keep the n largest of every m consecutive input weights (Keras kernels end in the output axis)."""
    import numpy as np

    masks = []
    for k in kernels:
        flat = np.moveaxis(k, -1, 0).reshape(k.shape[-1], -1)  # (out, kh*kw*in), inputs innermost
        if flat.shape[1] % m:
            masks.append(np.ones_like(k, dtype=bool))
            continue
        groups = np.abs(flat).reshape(flat.shape[0], -1, m)
        order = np.argsort(-groups, axis=-1, kind="stable")[..., :n]
        mask = np.zeros_like(groups, dtype=bool)
        np.put_along_axis(mask, order, True, axis=-1)
        masks.append(np.moveaxis(mask.reshape(flat.shape[0], *k.shape[:-1]), 0, -1))
    return masks


def _tfmot_prune(p: Any, model: Any) -> Any:
    """TF-MOT prune_low_magnitude while fine-tuning a tf-keras model, then strip_pruning."""
    import numpy as np
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from edgepress.compress.training import recipe_data

    x, y = recipe_data(p.data, p.name)
    steps = int(np.ceil(len(x) / 64)) * p.epochs
    sparsity = tfmot.sparsity.keras
    if p.name == "prune.n_m":
        options: dict[str, Any] = {"sparsity_m_by_n": (p.n, p.m)}
    elif p.schedule.value == "constant":  # frequency=1: the default (100) leaves short runs unpruned
        options = {"pruning_schedule": sparsity.ConstantSparsity(p.sparsity, begin_step=0, frequency=1)}
    else:
        options = {"pruning_schedule": sparsity.PolynomialDecay(0.0, p.sparsity, begin_step=0, end_step=max(steps - 1, 1), frequency=1)}
    tf_keras.utils.set_random_seed(p.seed)
    wrapped = sparsity.prune_low_magnitude(clone(model, "tf_keras"), **options)
    wrapped.compile(optimizer=tf_keras.optimizers.Adam(p.lr), loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    wrapped.fit(x, y, batch_size=64, epochs=p.epochs, callbacks=[sparsity.UpdatePruningStep()], verbose=0)
    return sparsity.strip_pruning(wrapped)
