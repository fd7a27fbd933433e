"""Drift of an artifact's outputs against the reference model's on the same inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from edgepress.errors import RuntimeFailure

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Drift:
    """Error of every output against the reference; top-1 agreement for classifiers.

    ``cosine`` is the mean over samples of the cosine similarity of the first output
    (the logits, for a classifier); ``cosine_min`` is the worst sample's.
    """

    max_abs: float
    mean_abs: float
    cosine: float
    cosine_min: float
    top1_agreement: float | None
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(outputs: list[np.ndarray], reference: list[np.ndarray]) -> Drift:
    """Compare outputs with reference outputs of the same shapes."""
    import numpy as np

    if len(outputs) != len(reference):
        raise RuntimeFailure(f"the artifact has {len(outputs)} outputs; the reference has {len(reference)}")
    diffs = []
    for index, (out, ref) in enumerate(zip(outputs, reference)):
        out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
        if out.shape != ref.shape:
            raise RuntimeFailure(f"output {index} is shaped {out.shape}; the reference's is {ref.shape}")
        diffs.append(np.abs(out - ref).ravel())
    every = np.concatenate(diffs)
    cosines = _row_cosines(np.asarray(outputs[0], np.float64), np.asarray(reference[0], np.float64))
    return Drift(
        max_abs=float(every.max(initial=0.0)),
        mean_abs=float(every.mean()) if every.size else 0.0,
        cosine=float(cosines.mean()),
        cosine_min=float(cosines.min()),
        top1_agreement=top1_agreement(outputs[0], reference[0]),
        samples=int(np.asarray(outputs[0]).shape[0]),
    )


def is_classifier_output(logits: np.ndarray) -> bool:
    """A 2-D (samples, classes) output with more than one class."""
    return logits.ndim == 2 and logits.shape[1] > 1


def top1_agreement(outputs: np.ndarray, reference: np.ndarray) -> float | None:
    """Fraction of samples whose argmax class matches the reference's (None if not a classifier)."""
    import numpy as np

    if not is_classifier_output(np.asarray(reference)):
        return None
    return float((np.argmax(outputs, axis=1) == np.argmax(reference, axis=1)).mean())


def accuracy(logits: np.ndarray, labels: np.ndarray | None) -> float | None:
    """Top-1 accuracy of classifier logits against integer labels (None without labels)."""
    import numpy as np

    if labels is None or not is_classifier_output(np.asarray(logits)):
        return None
    return float((np.argmax(logits, axis=1) == labels).mean())


def _row_cosines(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    import numpy as np

    a = out.reshape(out.shape[0], -1) if out.ndim > 1 else out.reshape(1, -1)
    b = ref.reshape(a.shape)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = (a * b).sum(axis=1)
    # Two all-zero rows are identical (cosine 1); one zero row against a non-zero is 0.
    both_zero = norms == 0
    return np.where(both_zero, np.where(np.abs(a - b).sum(axis=1) == 0, 1.0, 0.0), dots / np.where(both_zero, 1, norms))
