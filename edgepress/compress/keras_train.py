"""The distillation / fine-tuning trainer for Keras models (Keras 3 and tf-keras, TensorFlow backend).

The same loss, seeding, validation split, early stopping and zero-keeping as the
PyTorch trainer, written as a ``tf.GradientTape`` loop so it serves both flavours.
Models are expected to output logits (no softmax layer at the end).
"""

from __future__ import annotations

from typing import Any

from edgepress.artifact import Artifact
from edgepress.errors import BadInputError, DataError
from edgepress.passes import describe


def distill_keras(p: Any, student: Artifact, teacher: Artifact | None, x: Any, y: Any, config: Any) -> Artifact:
    """Train a copy of a Keras student (against ``teacher`` when given); returns a new artifact."""
    from edgepress.compress.training import TrainLog, remember_origin
    from edgepress.compress.keras_prune import clone
    from edgepress.stats import model_stats
    from edgepress.intake.keras import from_keras

    model = clone(student.model.model, student.model.flavor)
    teacher_model = teacher.model.model if teacher is not None else None
    _check_outputs(teacher_model, model, x)
    log: TrainLog = fit_keras(model, x, y, config, student.model.flavor, teacher_model)
    made = from_keras(model, name=str(student.report.get("name", "model")))
    report = {
        **made.report,
        "training": log.to_dict(),
        "teacher": teacher.sha256 if teacher is not None else None,
        "stats": model_stats(made),
        "source_stats": student.report.get("stats") or model_stats(student),
    }
    made = made.derive(lineage=(*student.lineage, describe(p)), report=report)
    remember_origin(made, teacher if teacher is not None else student)
    return made


def fit_keras(model: Any, x: Any, y: Any, config: Any, flavor: str, teacher: Any = None) -> Any:
    """Adam mini-batch training with the KD loss, early stopping and the best epoch's weights kept."""
    import numpy as np
    import tensorflow as tf

    from edgepress.compress.training import TrainLog

    lib = _lib(flavor)
    lib.utils.set_random_seed(config.seed)
    (xt, yt), (xv, yv) = _split(np.asarray(x, np.float32), np.asarray(y, np.int64), config)
    optimizer = lib.optimizers.Adam(config.lr)
    masks = [(w, np.asarray(w) != 0) for w in model.trainable_weights if len(w.shape) > 1 and (np.asarray(w) == 0).any()]
    rng = np.random.default_rng(config.seed)
    log, best, best_score, stale = TrainLog(), model.get_weights(), _score(model, xv, yv), 0

    @tf.function
    def step(xb: Any, yb: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = kd_loss_tf(model(xb, training=True), yb, None if teacher is None else teacher(xb, training=False), config.alpha, config.temperature)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(xt))
        losses = []
        for begin in range(0, len(xt), config.batch_size):
            idx = order[begin : begin + config.batch_size]
            losses.append(float(step(tf.constant(xt[idx]), tf.constant(yt[idx]))))
            for weight, mask in masks:
                weight.assign(np.asarray(weight) * mask)
        score = _score(model, xv, yv)
        log.train_loss.append(float(np.mean(losses)))
        log.val_accuracy.append(score[0])
        if score > best_score:
            best, best_score, log.best_epoch, stale = model.get_weights(), score, epoch, 0
        else:
            stale += 1
        if stale >= config.patience:
            log.stopped_early = epoch < config.epochs
            break
    model.set_weights(best)
    return log


def kd_loss_tf(student_logits: Any, labels: Any, teacher_logits: Any, alpha: float, temperature: float) -> Any:
    """``alpha * CE + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))`` in TensorFlow."""
    import tensorflow as tf

    hard = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=student_logits))
    if teacher_logits is None:
        return hard
    t = temperature
    teacher_log = tf.nn.log_softmax(teacher_logits / t)
    kl = tf.reduce_mean(tf.reduce_sum(tf.exp(teacher_log) * (teacher_log - tf.nn.log_softmax(student_logits / t)), axis=-1))
    return alpha * hard + (1.0 - alpha) * t * t * kl


def _check_outputs(teacher: Any, student: Any, x: Any) -> None:
    if teacher is None:
        return
    sample = x[:1]
    want, got = tuple(teacher(sample, training=False).shape), tuple(student(sample, training=False).shape)
    if want != got:
        raise BadInputError(f"the student's output shape {got} differs from the teacher's {want}; a student must predict the same classes")


def _split(x: Any, y: Any, config: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    import numpy as np

    if len(x) != len(y):
        raise DataError(f"training data has {len(x)} inputs but {len(y)} labels")
    held = int(round(len(x) * config.val_fraction))
    if held == 0 or held >= len(x):
        return (x, y), (x, y)
    order = np.random.default_rng(config.seed + 1).permutation(len(x))
    return (x[order[held:]], y[order[held:]]), (x[order[:held]], y[order[:held]])


def _score(model: Any, x: Any, y: Any) -> tuple[float, float]:
    import numpy as np
    import tensorflow as tf

    logits = np.concatenate([np.asarray(model(x[i : i + 512], training=False)) for i in range(0, len(x), 512)])
    loss = float(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)))
    return float((logits.argmax(-1) == y).mean()), -loss


def _lib(flavor: str) -> Any:
    from edgepress.intake.keras import KERAS3

    if flavor == KERAS3:
        import keras

        return keras
    import tf_keras

    return tf_keras
