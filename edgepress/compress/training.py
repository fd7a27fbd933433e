"""The shared training kit: settings, the seeded PyTorch loop, its log, the progress bar, origins.

Distillation, fine-tuning, pruning schedules and quantization-aware training all train
with ``fit_torch`` (or the Keras loop in ``keras_train``) under a ``TrainConfig``, and
record which model a compression chain started from (``remember_origin``), so a later
``distill.kd`` in the chain finds its teacher.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgepress.artifact import Artifact
from edgepress.errors import BadInputError, DataError
from edgepress.quiet import user_stderr

# The models compression chains started from, by the sha256 of what was made from them
# (bounded, so a long session does not keep every model it ever pruned alive).
_ORIGINS: OrderedDict[str, Artifact] = OrderedDict()
_MAX_ORIGINS = 32


@dataclass(frozen=True)
class TrainConfig:
    """Training settings shared by distillation, plain fine-tuning and pruning schedules."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    alpha: float = 0.5
    temperature: float = 4.0
    val_fraction: float = 0.1
    patience: int = 3
    seed: int = 0
    progress: bool | None = None  # None: a progress bar when stderr is a terminal

    def check(self) -> None:
        """Raise BadInputError on settings no training run can use."""
        problems = [
            (self.epochs < 0, f"epochs must be >= 0, got {self.epochs}"),
            (self.batch_size < 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (not self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (not 0.0 <= self.alpha <= 1.0, f"alpha must be in [0, 1], got {self.alpha}"),
            (not self.temperature > 0, f"temperature must be > 0, got {self.temperature}"),
            (not 0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}"),
            (self.patience < 1, f"patience must be >= 1, got {self.patience}"),
        ]
        for bad, message in problems:
            if bad:
                raise BadInputError(message)


@dataclass
class TrainLog:
    """What a training run did: per-epoch loss and validation accuracy, the epoch kept."""

    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs_run": len(self.train_loss),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "train_loss": [round(v, 5) for v in self.train_loss],
            "val_accuracy": [round(v, 5) for v in self.val_accuracy],
        }


def remember_origin(made: Artifact, source: Artifact) -> None:
    """Record that ``made`` descends from ``source`` (and so from ``source``'s origin)."""
    _ORIGINS[made.sha256] = origin_of(source) or source
    while len(_ORIGINS) > _MAX_ORIGINS:
        _ORIGINS.popitem(last=False)


def origin_of(artifact: Artifact) -> Artifact | None:
    """The model a compression chain producing ``artifact`` started from, if known here."""
    return _ORIGINS.get(artifact.sha256)


def recipe_data(data: str, pass_name: str) -> tuple[Any, Any]:
    """Training arrays named by a pass option: a ``.npz`` path or a built-in data set."""
    from edgepress import digits
    from edgepress.data import training_arrays

    if not data:
        raise DataError(
            f"pass {pass_name!r} needs training data: set data = \"train.npz\" (arrays x and integer labels y) "
            f"or data = \"digits\" in the recipe, or call edgepress.distill(..., data=(x, y))"
        )
    if data == digits.NAME:
        return digits.train_arrays()
    return training_arrays(data)


def fit_torch(
    module: Any,
    x: Any,
    y: Any,
    config: TrainConfig,
    teacher: Any = None,
    after_step: Callable[[], None] | None = None,
) -> TrainLog:
    """Train ``module`` in place with Adam; distil from ``teacher`` when given.

    Example:
        >>> log = fit_torch(net, x_train, y_train, TrainConfig(epochs=5))
    """
    import torch

    config.check()
    torch.manual_seed(config.seed)
    (xt, yt), (xv, yv) = _split(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long), config)
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    log, best_state, best_score, stale = TrainLog(), copy.deepcopy(module.state_dict()), _score(module, xv, yv), 0
    with ProgressBar(config) as advance:
        for epoch in range(1, config.epochs + 1):
            loss = _epoch(module, teacher, xt, yt, optimizer, config, generator, after_step)
            score = _score(module, xv, yv)
            log.train_loss.append(loss)
            log.val_accuracy.append(score[0])
            if score > best_score:
                best_state, best_score, log.best_epoch, stale = copy.deepcopy(module.state_dict()), score, epoch, 0
            else:
                stale += 1
            advance(epoch, loss, score[0])
            if stale >= config.patience:
                log.stopped_early = epoch < config.epochs
                break
    module.load_state_dict(best_state)
    module.eval()
    return log


def zero_keeper(module: Any) -> Callable[[], None]:
    """A callback that re-zeroes the weights that are zero now (pruned weights stay pruned)."""
    import torch

    from edgepress.stats import PRUNABLE_TORCH

    masks = [
        (m.weight, m.weight.detach() != 0)
        for m in module.modules()
        if type(m).__name__ in PRUNABLE_TORCH and getattr(m, "weight", None) is not None and bool((m.weight == 0).any())
    ]

    def keep() -> None:
        with torch.no_grad():
            for weight, mask in masks:
                weight.mul_(mask)

    return keep


def _epoch(module: Any, teacher: Any, x: Any, y: Any, optimizer: Any, config: TrainConfig, generator: Any, after_step: Any) -> float:
    import torch

    module.train()
    order = torch.randperm(len(x), generator=generator)
    total, count = 0.0, 0
    for begin in range(0, len(x), config.batch_size):
        idx = order[begin : begin + config.batch_size]
        optimizer.zero_grad()
        loss = kd_loss(module(x[idx]), y[idx], _teacher_logits(teacher, x[idx]), config.alpha, config.temperature)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    return total / max(count, 1)


def kd_loss(student_logits: Any, labels: Any, teacher_logits: Any, alpha: float, temperature: float) -> Any:
    """``alpha * CE + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))``; CE alone without a teacher."""
    import torch.nn.functional as F

    hard = F.cross_entropy(student_logits, labels)
    if teacher_logits is None:
        return hard
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1), reduction="batchmean", log_target=True)
    return alpha * hard + (1.0 - alpha) * t * t * soft


def _teacher_logits(teacher: Any, x: Any) -> Any:
    import torch

    if teacher is None:
        return None
    with torch.no_grad():
        return teacher.eval()(x)


def _split(x: Any, y: Any, config: TrainConfig) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """A seeded train/validation split; no validation set means validating on the training data."""
    import torch

    if len(x) != len(y):
        raise DataError(f"training data has {len(x)} inputs but {len(y)} labels")
    held = int(round(len(x) * config.val_fraction))
    if held == 0 or held >= len(x):
        return (x, y), (x, y)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(config.seed + 1))
    return (x[order[held:]], y[order[held:]]), (x[order[:held]], y[order[:held]])


def _score(module: Any, x: Any, y: Any) -> tuple[float, float]:
    """(validation accuracy, minus validation loss): higher is better, loss breaks ties."""
    import torch
    import torch.nn.functional as F

    module.eval()
    with torch.no_grad():
        logits = torch.cat([module(x[i : i + 512]) for i in range(0, len(x), 512)])
    return float((logits.argmax(-1) == y).float().mean()), -float(F.cross_entropy(logits, y))


class ProgressBar:
    """A rich progress bar over epochs (on stderr), or nothing."""

    def __init__(self, config: TrainConfig) -> None:
        self.total = config.epochs
        self.show = user_stderr().isatty() if config.progress is None else config.progress  # the terminal, not the CLI's log
        self.bar: Any = None

    def __enter__(self) -> Callable[[int, float, float], None]:
        if not self.show or self.total == 0:
            return lambda *_args: None
        from rich.console import Console
        from rich.progress import Progress

        console = Console(file=user_stderr())  # the user's terminal, as the CLI's own messages
        self.bar = Progress(*Progress.get_default_columns(), "{task.fields[info]}", console=console, transient=True)
        self.bar.start()
        task = self.bar.add_task("training", total=self.total, info="")
        return lambda epoch, loss, acc: self.bar.update(task, completed=epoch, info=f"loss {loss:.4f}  val acc {acc:.4f}")

    def __exit__(self, *_exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
