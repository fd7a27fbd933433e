"""``distill.kd``: knowledge distillation (and plain fine-tuning) that wins accuracy back.

The loss is ``alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)``
where ``_T`` are logits softened by temperature ``T`` (Hinton et al., 2015). Without a
teacher the same trainer fine-tunes on the labels alone. Training is seeded, holds out a
validation split, stops early when validation accuracy stops improving and keeps the
best epoch's weights. Weights that are exactly zero (pruned) stay zero.

In a recipe the teacher is the model the chain started from (the origin of the pruned
model), so ``prune.channels -> distill.kd`` needs no extra wiring.
"""

from __future__ import annotations

import copy
import enum
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError, DataError
from edgepress.passes import describe, register
from edgepress.quiet import user_stderr

# The models compression chains started from, by the sha256 of what was made from them
# (bounded, so a long session does not keep every model it ever pruned alive).
_ORIGINS: OrderedDict[str, Artifact] = OrderedDict()
_MAX_ORIGINS = 32
BUILTIN_DATA = ("digits",)  # data="digits": scikit-learn digits, the demo's training split


class Teacher(enum.Enum):
    """Who teaches the student in a recipe."""

    ORIGIN = "origin"  # the model the compression chain started from (the input itself if none)
    NONE = "none"  # no teacher: plain fine-tuning on the labels


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


@register
@dataclass(frozen=True)
class DistillKD:
    """Train the input model (the student) against a teacher's softened outputs.

    ``data`` names a ``.npz`` file with ``x`` and integer labels ``y`` (or ``digits``,
    scikit-learn's digits training split). ``teacher = "none"`` fine-tunes on labels only.
    """

    name: ClassVar[str] = "distill.kd"
    summary: ClassVar[str] = "knowledge distillation / fine-tuning: alpha*CE + (1-alpha)*T^2*KL, early stopping"
    accepts: ClassVar[frozenset[Format]] = frozenset({Format.TORCH, Format.KERAS})

    data: str = ""
    teacher: Teacher = Teacher.ORIGIN
    alpha: float = 0.5
    temperature: float = 4.0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    val_fraction: float = 0.1
    patience: int = 3
    seed: int = 0

    def output_format(self, source: Format) -> Format:
        return source

    def config(self, progress: bool | None = None) -> TrainConfig:
        return TrainConfig(
            self.epochs, self.batch_size, self.lr, self.alpha, self.temperature, self.val_fraction, self.patience, self.seed, progress
        )

    def run(self, artifact: Artifact, out_dir: Path) -> Artifact:
        x, y = recipe_data(self.data, self.name)
        teacher = None if self.teacher is Teacher.NONE else (origin_of(artifact) or artifact)
        return train_artifact(self, artifact, teacher, x, y, self.config())


def recipe_data(data: str, pass_name: str) -> tuple[Any, Any]:
    """Training arrays named by a pass option: a ``.npz`` path or a built-in data set."""
    from edgepress.data import training_arrays

    if not data:
        raise DataError(
            f"pass {pass_name!r} needs training data: set data = \"train.npz\" (arrays x and integer labels y) "
            f"or data = \"digits\" in the recipe, or call edgepress.distill(..., data=(x, y))"
        )
    if data == "digits":
        from edgepress.demo import load_digits_split

        split = load_digits_split()
        return split.x_train, split.y_train
    return training_arrays(data)


def distill(
    teacher: Artifact | None,
    student: Artifact | Any,
    data: Any,
    *,
    epochs: int = 10,
    alpha: float = 0.5,
    temperature: float = 4.0,
    batch_size: int = 64,
    lr: float = 3e-3,
    val_fraction: float = 0.1,
    patience: int = 3,
    seed: int = 0,
    progress: bool | None = None,
) -> Artifact:
    """Distil ``teacher`` into ``student`` (or fine-tune ``student`` when ``teacher`` is None).

    Args:
        teacher: the original model (from ``edgepress.from_torch``), or None for plain
            fine-tuning on the labels.
        student: the pruned model (from ``edgepress.prune``), a smaller model you
            built (an Artifact or a ``torch.nn.Module``, which takes the teacher's inputs).
        data: labelled training data: ``(x, y)`` arrays, a ``.npz`` path with ``x`` and
            ``y``, or a torch DataLoader of ``(x, y)`` batches.
        epochs: the most epochs to train; early stopping may end sooner.
        alpha: weight of the label loss; ``1 - alpha`` weighs the teacher's soft targets.
        temperature: softens both models' logits in the distillation term.
        batch_size, lr: Adam mini-batch training settings.
        val_fraction: share of ``data`` held out for validation and early stopping.
        patience: epochs without a better validation accuracy before stopping.
        seed: seeds the split, the shuffling and the initial state.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        A new in-memory model (the inputs are never changed) that ``edgepress.quantize``
        and ``edgepress.convert`` accept; its ``report`` holds the training log and stats.

    Example:
        >>> small = edgepress.prune(model, "channels", ratio=0.5)
        >>> tuned = edgepress.distill(teacher=model, student=small, data=(x, y), epochs=10)
    """
    from edgepress.data import training_arrays

    if not isinstance(student, Artifact):
        student = _wrap_student(student, teacher)
    p = DistillKD(
        data="<in-memory>", teacher=Teacher.ORIGIN if teacher is not None else Teacher.NONE,
        alpha=alpha, temperature=temperature, epochs=epochs, batch_size=batch_size, lr=lr,
        val_fraction=val_fraction, patience=patience, seed=seed,
    )  # fmt: skip
    if student.format not in p.accepts:
        raise BadInputError(f"distill takes an in-memory PyTorch or Keras model as the student; got a {student.format.value} model")
    x, y = training_arrays(data)
    return train_artifact(p, student, teacher, x, y, p.config(progress))


def train_artifact(p: DistillKD, student: Artifact, teacher: Artifact | None, x: Any, y: Any, config: TrainConfig) -> Artifact:
    """Train a copy of ``student``'s model and wrap it as a new artifact (the shared core)."""
    config.check()
    if teacher is not None and teacher.format is not student.format:
        raise BadInputError(f"teacher ({teacher.format.value}) and student ({student.format.value}) must be the same framework")
    if student.format is Format.KERAS:
        from edgepress.compress.keras_train import distill_keras

        return distill_keras(p, student, teacher, x, y, config)
    return _distill_torch(p, student, teacher, x, y, config)


def _distill_torch(p: DistillKD, student: Artifact, teacher: Artifact | None, x: Any, y: Any, config: TrainConfig) -> Artifact:
    from edgepress.compress.stats import torch_stats
    from edgepress.intake import from_torch

    examples = student.model.example_inputs
    module = copy.deepcopy(student.model.module)
    teacher_module = teacher.model.module if teacher is not None else None
    check_same_outputs(teacher_module, module, examples)
    log = fit_torch(module, x, y, config, teacher=teacher_module, after_step=zero_keeper(module))
    made = from_torch(module.eval(), examples, name=str(student.report.get("name", "model")))
    report = {
        "name": made.report["name"],
        "training": log.to_dict(),
        "teacher": teacher.sha256 if teacher is not None else None,
        "stats": torch_stats(module, examples),
        "source_stats": student.report.get("stats") or torch_stats(student.model.module, examples),
    }
    made = made.derive(lineage=(*student.lineage, describe(p)), report=report)
    remember_origin(made, teacher if teacher is not None else student)
    return made


def check_same_outputs(teacher: Any, student: Any, examples: tuple[Any, ...]) -> None:
    """A student must produce what its teacher produces: the same output shape."""
    import torch

    if teacher is None:
        return
    with torch.no_grad():
        want = tuple(teacher.eval()(*examples).shape)
        try:
            got = tuple(copy.deepcopy(student).eval()(*examples).shape)
        except Exception as exc:  # a student built for other inputs
            raise BadInputError(f"the student cannot run on the teacher's inputs {[tuple(t.shape) for t in examples]}: {exc}") from None
    if want != got:
        raise BadInputError(
            f"the student's output shape {got} differs from the teacher's {want}; a student must predict the same classes "
            "(give it the teacher's classifier width)"
        )


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
    with _progress(config) as advance:
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

    from edgepress.compress.stats import PRUNABLE_TORCH

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


class _progress:
    """A rich progress bar over epochs (on stderr), or nothing."""

    def __init__(self, config: TrainConfig) -> None:
        self.total = config.epochs
        self.show = user_stderr().isatty() if config.progress is None else config.progress  # the terminal, not the CLI's log
        self.bar: Any = None

    def __enter__(self) -> Callable[[int, float, float], None]:
        if not self.show or self.total == 0:
            return lambda *_args: None
        from rich.progress import Progress

        from edgepress.cli.common import err_console

        self.bar = Progress(*Progress.get_default_columns(), "{task.fields[info]}", console=err_console, transient=True)
        self.bar.start()
        task = self.bar.add_task("training", total=self.total, info="")
        return lambda epoch, loss, acc: self.bar.update(task, completed=epoch, info=f"loss {loss:.4f}  val acc {acc:.4f}")

    def __exit__(self, *_exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


def _wrap_student(module: Any, teacher: Artifact | None) -> Artifact:
    """A user's own student module, taking the teacher's example inputs."""
    from edgepress.intake import from_torch

    if teacher is None or teacher.format is not Format.TORCH:
        raise BadInputError("a student given as a torch.nn.Module needs a PyTorch teacher artifact (for its inputs); wrap it with edgepress.from_torch")
    return from_torch(module, teacher.model.example_inputs, name=f"{teacher.report.get('name', 'model')}_student")
