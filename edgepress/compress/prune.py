"""Pruning: ``prune.magnitude`` (unstructured), ``prune.n_m`` (2:4) and ``prune.channels`` (structured).

- Unstructured magnitude pruning zeroes the smallest weights (globally or per layer).
  The zeros shrink the gzip-compressed file, **not** the dense file and **not** the
  latency: dense kernels multiply zeros as fast as any other number.
- N:M sparsity keeps the N largest of every M consecutive input weights (2:4 is what
  sparse tensor cores and some NPUs run faster); on CPUs it is, again, a size win.
- Channel pruning (Torch-Pruning) physically removes whole channels and resizes every
  dependent layer, so the model really has fewer parameters and MACs and runs faster
  everywhere, and still converts to every format.

Every pass deep-copies the model (the input is never changed) and records statistics
of both models in ``report["stats"]`` / ``report["source_stats"]``. An optional
fine-tuning phase (``epochs`` > 0 with ``data``) prunes gradually on a cubic schedule
(Zhu & Gupta, 2017) while training, keeping pruned weights at zero.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.compress.training import TrainConfig, fit_torch, recipe_data, remember_origin
from edgepress.stats import PRUNABLE_TORCH, torch_stats
from edgepress.errors import BadInputError
from edgepress.passes import Pass, apply, create, describe, register

UNSTRUCTURED_NOTE = (
    "unstructured sparsity shrinks the compressed (gzip) file only; dense kernels run zeros at full cost, "
    "so latency does not improve (use prune.channels for speed)"
)
N_M_NOTE = "N:M sparsity speeds up only hardware with sparse kernels (e.g. 2:4 sparse tensor cores); on CPUs it shrinks the gzip size"


class Scope(enum.Enum):
    """Where the sparsity target applies."""

    GLOBAL = "global"  # one magnitude threshold across all layers (layers end up unevenly sparse)
    LAYER = "layer"  # every layer gets the target sparsity


class Schedule(enum.Enum):
    """How sparsity grows over fine-tuning epochs (only with epochs > 0)."""

    POLYNOMIAL = "polynomial"  # cubic ramp to the target (Zhu & Gupta)
    CONSTANT = "constant"  # the target from the first step, then fine-tune


class Importance(enum.Enum):
    """How channels are ranked for removal."""

    L1 = "l1"
    L2 = "l2"


def _check_fraction(value: float, what: str) -> None:
    if not 0.0 < value < 1.0:
        raise BadInputError(f"{what} must be between 0 and 1 (exclusive), got {value}; e.g. 0.5 removes half")


@register
@dataclass(frozen=True)
class PruneMagnitude:
    """Zero the smallest-magnitude weights of conv and linear layers (masks made permanent).

    ``keep`` lists layer names (comma-separated) to leave dense. With ``epochs`` > 0 and
    ``data``, sparsity grows over fine-tuning epochs per ``schedule``.
    """

    name: ClassVar[str] = "prune.magnitude"
    summary: ClassVar[str] = "unstructured magnitude pruning (global or per layer); shrinks gzip size, not latency"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.KERAS})

    sparsity: float = 0.5
    scope: Scope = Scope.GLOBAL
    keep: str = ""
    schedule: Schedule = Schedule.POLYNOMIAL
    epochs: int = 0
    data: str = ""
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        _check_fraction(self.sparsity, "sparsity")  # bad options fail when a recipe is read

    def output_format(self, source: Format) -> Format:
        return source

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        if artifact.format is Format.KERAS:
            from edgepress.compress.keras_prune import prune_keras

            return prune_keras(self, artifact)

        def masks(module: Any, fraction: float) -> dict[str, Any]:
            return magnitude_masks(module, fraction, self.scope, _names(self.keep))

        made = _masked_torch(self, artifact, masks, self.sparsity)
        return made.derive(report={**made.report, "note": UNSTRUCTURED_NOTE})


@register
@dataclass(frozen=True)
class PruneNM:
    """N:M sparsity: in every M consecutive input weights keep the N largest (2:4 by default).

    Layers whose input size is not a multiple of M are left dense and listed in the report.
    """

    name: ClassVar[str] = "prune.n_m"
    summary: ClassVar[str] = "N:M semi-structured sparsity (2:4); speeds up sparse-core hardware, shrinks gzip size"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.KERAS})

    n: int = 2
    m: int = 4
    keep: str = ""
    epochs: int = 0
    data: str = ""
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.n < self.m:
            raise BadInputError(f"N:M sparsity needs 0 < n < m, got n={self.n}, m={self.m} (e.g. n=2, m=4)")

    def output_format(self, source: Format) -> Format:
        return source

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        if artifact.format is Format.KERAS:
            from edgepress.compress.keras_prune import prune_keras

            return prune_keras(self, artifact)
        skipped: list[str] = []

        def masks(module: Any, _fraction: float) -> dict[str, Any]:
            made, missed = n_m_masks(module, self.n, self.m, _names(self.keep))
            skipped[:] = missed
            return made

        made = _masked_torch(self, artifact, masks, 1.0 - self.n / self.m, schedule=Schedule.CONSTANT)
        return made.derive(report={**made.report, "pattern": f"{self.n}:{self.m}", "dense_layers": skipped, "note": N_M_NOTE})


@register
@dataclass(frozen=True)
class PruneChannels:
    """Remove whole channels with Torch-Pruning; dependent layers are resized to match.

    ``ratio`` is the share of channels removed per layer (about ``(1 - ratio)^2`` of
    the parameters remain). ``keep`` names layers whose outputs stay (default: the
    classifier, found as the last conv/linear layer the model runs). ``round_to`` keeps
    channel counts multiples of it (SIMD-friendly widths).
    """

    name: ClassVar[str] = "prune.channels"
    summary: ClassVar[str] = "structured channel pruning (Torch-Pruning): fewer params and MACs, faster everywhere"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.KERAS})

    ratio: float = 0.5
    importance: Importance = Importance.L2
    keep: str = ""
    round_to: int = 1

    def __post_init__(self) -> None:
        _check_fraction(self.ratio, "ratio")
        if self.round_to < 1:
            raise BadInputError(f"round_to must be >= 1, got {self.round_to}")

    def output_format(self, source: Format) -> Format:
        return source

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        if artifact.format is Format.KERAS:
            raise BadInputError(
                "prune.channels is implemented for PyTorch models; for a Keras model use prune.magnitude or prune.n_m, "
                "or build a narrower Keras model and train it with edgepress.distill (teacher = your model)"
            )
        module = copy.deepcopy(artifact.model.module).eval()
        examples = artifact.model.example_inputs
        kept = channel_prune(module, examples, self.ratio, self.importance, _names(self.keep), self.round_to)
        return _made(self, artifact, module, {"kept_layers": kept})


def prune(model: Artifact, method: str, **options: Any) -> Artifact:
    """Prune a model: ``"magnitude"``, ``"n_m"`` or ``"channels"`` with the pass's options.

    Args:
        model: an in-memory model (``edgepress.from_torch`` or ``edgepress.from_keras``).
        method: ``"magnitude"`` (unstructured), ``"n_m"`` (2:4) or ``"channels"``.
        **options: the pass options, e.g. ``sparsity=0.8``, ``ratio=0.5, round_to=8``.

    Returns:
        A new model (the input is untouched) that ``edgepress.distill``,
        ``edgepress.quantize`` and ``edgepress.convert`` accept; ``report["stats"]``
        holds parameters, MACs and sparsity per layer.

    Example:
        >>> small = edgepress.prune(model, "channels", ratio=0.5, round_to=8)
        >>> small.report["stats"]["params"] / small.report["source_stats"]["params"]
        0.29
    """
    p: Pass = create(f"prune.{method}", options)
    return apply(p, model, Path("."))  # in-memory in, in-memory out: nothing is written


def magnitude_masks(module: Any, sparsity: float, scope: Scope, keep: set[str]) -> dict[str, Any]:
    """Boolean keep-masks (True = keep) zeroing ``sparsity`` of the prunable weights by magnitude."""
    import torch

    weights = {name: m.weight.detach() for name, m in prunable_layers(module, keep)}
    if not weights:
        raise BadInputError("the model has no conv or linear layers to prune (or all are listed in keep)")
    if scope is Scope.LAYER:
        return {name: _threshold_mask(w.abs(), w.abs().flatten(), sparsity) for name, w in weights.items()}
    pooled = torch.cat([w.abs().flatten() for w in weights.values()])
    cut = _kth(pooled, sparsity)
    return {name: w.abs() > cut for name, w in weights.items()}


def n_m_masks(module: Any, n: int, m: int, keep: set[str]) -> tuple[dict[str, Any], list[str]]:
    """N:M keep-masks over each layer's input dimension; layers that cannot be grouped are listed."""
    import torch

    masks, skipped = {}, []
    for name, layer in prunable_layers(module, keep):
        w = layer.weight.detach()
        # group along the reduction axis in (kh, kw, in) order, as sparse kernels read it
        flat = w.permute(0, *range(2, w.dim()), 1).reshape(w.shape[0], -1) if w.dim() > 2 else w
        if flat.shape[1] % m:
            skipped.append(name)
            continue
        groups = flat.abs().reshape(flat.shape[0], -1, m)
        top = groups.topk(n, dim=-1).indices
        mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, top, True).reshape(flat.shape)
        if w.dim() > 2:
            mask = mask.reshape(w.shape[0], *w.shape[2:], w.shape[1]).permute(0, w.dim() - 1, *range(1, w.dim() - 1))
        masks[name] = mask.contiguous()
    return masks, skipped


def channel_prune(module: Any, examples: tuple[Any, ...], ratio: float, importance: Importance, keep: set[str], round_to: int) -> list[str]:
    """Prune ``module`` in place with Torch-Pruning; returns the names of layers kept whole."""
    import torch_pruning as tp

    layers = dict(module.named_modules())
    unknown = sorted(keep - set(layers))
    if unknown:
        raise BadInputError(f"keep names layers the model does not have: {unknown} (layers: {sorted(n for n in layers if n)[:20]})")
    kept = sorted(keep) if keep else [classifier_name(module, examples)]
    _check_channels_left(module, ratio, set(kept), round_to)
    pruner = tp.pruner.MetaPruner(
        module,
        examples[0] if len(examples) == 1 else examples,
        importance=tp.importance.GroupMagnitudeImportance(p=1 if importance is Importance.L1 else 2),
        pruning_ratio=ratio,
        ignored_layers=[layers[name] for name in kept],
        round_to=round_to if round_to > 1 else None,
    )
    pruner.step()
    return kept


def classifier_name(module: Any, examples: tuple[Any, ...]) -> str:
    """The last conv/linear layer the model runs: its outputs are the model's outputs."""
    import torch

    order: list[str] = []
    hooks = [m.register_forward_hook(lambda *_a, n=name: order.append(n)) for name, m in prunable_layers(module, set())]
    try:
        with torch.no_grad():
            module(*examples)
    finally:
        for hook in hooks:
            hook.remove()
    if not order:
        raise BadInputError("the model has no conv or linear layers to prune")
    return order[-1]


def prunable_layers(module: Any, keep: set[str]) -> list[tuple[str, Any]]:
    """(name, layer) of every conv / linear layer with a weight, minus those in ``keep``."""
    return [
        (name, m)
        for name, m in module.named_modules()
        if type(m).__name__ in PRUNABLE_TORCH and getattr(m, "weight", None) is not None and name not in keep
    ]


def _check_channels_left(module: Any, ratio: float, kept: set[str], round_to: int) -> None:
    """Refuse a ratio that would leave a layer with no channels at all."""
    for name, layer in prunable_layers(module, kept):
        channels = int(layer.weight.shape[0])
        removed = int(channels * ratio)
        if round_to > 1:  # Torch-Pruning rounds what remains to a multiple of round_to
            left = channels - removed
            removed = channels - max(left - left % round_to, 0)
        if channels - removed < 1:
            raise BadInputError(
                f"ratio={ratio} with round_to={round_to} would remove every channel of layer {name!r} ({channels} channels); "
                "use a smaller ratio or round_to, or list the layer in keep"
            )


def _masked_torch(p: Any, artifact: Artifact, masks_for: Callable[[Any, float], dict[str, Any]], target: float, schedule: Any = None) -> Artifact:
    """Apply masks to a copy of the model, fine-tuning on a schedule when asked."""
    module = copy.deepcopy(artifact.model.module).eval()
    if p.epochs > 0:
        _finetune_pruning(p, module, masks_for, target, schedule or p.schedule)
    else:
        _apply_masks(module, masks_for(module, target))
    return _made(p, artifact, module, {})


def _finetune_pruning(p: Any, module: Any, masks_for: Callable[[Any, float], dict[str, Any]], target: float, schedule: Schedule) -> None:
    """Prune a little more each epoch of the ramp, then fine-tune at the target with masks held.

    The ramp takes the first half of the epochs (rounded up) and the rest train at the final
    sparsity: like TF-MOT's PolynomialDecay ending before training does, because the last
    pruning step hurts most and needs epochs of its own to recover.
    """
    x, y = recipe_data(p.data, p.name)
    ramp = 1 if schedule is Schedule.CONSTANT else -(-p.epochs // 2)
    for epoch in range(1, ramp + 1):
        fraction = target * (1.0 - (1.0 - epoch / ramp) ** 3)
        masks = masks_for(module, fraction)
        _apply_masks(module, masks)
        left = 1 if epoch < ramp else p.epochs - ramp + 1  # the last ramp step trains for the remaining epochs
        config = TrainConfig(epochs=left, lr=p.lr, seed=p.seed + epoch, val_fraction=0.0, patience=left)
        fit_torch(module, x, y, config, after_step=_mask_keeper(module, masks))
    _apply_masks(module, masks_for(module, target))  # the final masks are exact


def _apply_masks(module: Any, masks: dict[str, Any]) -> None:
    import torch

    layers = dict(module.named_modules())
    with torch.no_grad():
        for name, mask in masks.items():
            layers[name].weight.mul_(mask)


def _mask_keeper(module: Any, masks: dict[str, Any]) -> Callable[[], None]:
    return lambda: _apply_masks(module, masks)


def _made(p: Any, source: Artifact, module: Any, extra: dict[str, Any]) -> Artifact:
    """The pruned module as a new artifact with lineage, statistics and its origin recorded."""
    from edgepress.intake.torch import from_torch

    examples = source.model.example_inputs
    name = str(source.report.get("name", "model"))
    made = from_torch(module.eval(), examples, name=name)
    report = {
        "name": name,
        "stats": torch_stats(module, examples),
        "source_stats": source.report.get("stats") or torch_stats(source.model.module, examples),
        **extra,
    }
    made = made.derive(lineage=(*source.lineage, describe(p)), report=report)
    remember_origin(made, source)
    return made


def _threshold_mask(magnitude: Any, pool: Any, fraction: float) -> Any:
    return magnitude > _kth(pool, fraction)


def _kth(values: Any, fraction: float) -> Any:
    """The magnitude at or below which ``fraction`` of ``values`` fall (the pruning cut)."""
    import torch

    count = int(round(fraction * values.numel()))
    if count <= 0:
        return torch.tensor(-1.0)
    return values.kthvalue(count).values


def _names(text: str) -> set[str]:
    return {part.strip() for part in text.split(",") if part.strip()}
