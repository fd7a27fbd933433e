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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError
from edgepress.passes import describe, register
from edgepress.compress.training import TrainConfig, fit_torch, origin_of, recipe_data, remember_origin, zero_keeper


class Teacher(enum.Enum):
    """Who teaches the student in a recipe."""

    ORIGIN = "origin"  # the model the compression chain started from (the input itself if none)
    NONE = "none"  # no teacher: plain fine-tuning on the labels


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
    from edgepress.data import arrays_label, training_arrays

    if not isinstance(student, Artifact):
        student = _wrap_student(student, teacher)
    x, y = training_arrays(data)
    p = DistillKD(
        data=arrays_label(x, y), teacher=Teacher.ORIGIN if teacher is not None else Teacher.NONE,
        alpha=alpha, temperature=temperature, epochs=epochs, batch_size=batch_size, lr=lr,
        val_fraction=val_fraction, patience=patience, seed=seed,
    )  # fmt: skip
    if student.format not in p.accepts:
        raise BadInputError(f"distill takes an in-memory PyTorch or Keras model as the student; got a {student.format.value} model")
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
    from edgepress.stats import torch_stats
    from edgepress.intake.torch import from_torch

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


def _wrap_student(module: Any, teacher: Artifact | None) -> Artifact:
    """A user's own student module, taking the teacher's example inputs."""
    from edgepress.intake.torch import from_torch

    if teacher is None or teacher.format is not Format.TORCH:
        raise BadInputError("a student given as a torch.nn.Module needs a PyTorch teacher artifact (for its inputs); wrap it with edgepress.from_torch")
    return from_torch(module, teacher.model.example_inputs, name=f"{teacher.report.get('name', 'model')}_student")
