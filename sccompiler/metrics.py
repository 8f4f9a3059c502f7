"""Task metrics of simulated outputs with confidence intervals (used by
:meth:`sccompiler.design.CompiledDesign.evaluate` and the examples' evaluate scripts).

* ``accuracy``: the last step's argmax against integer labels (B,); interval: Wilson score on the
  number of correct sequences (a binomial proportion).
* ``step_accuracy``: the argmax of every step against labels (B, T); interval: Student t over the
  per-sequence accuracies (steps of one sequence are not independent).
* ``bpc``: bits per character, mean of ``-log2 softmax(logits)[target]`` over every step of every
  sequence (targets (B, T)); interval: Student t over the per-sequence means (equal lengths, so
  their mean is the metric).
* ``mse``: mean squared error against real targets shaped like the outputs; interval: Student t
  over the per-sequence errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .errors import SCValueError

METRICS = ("accuracy", "step_accuracy", "bpc", "mse")


@dataclass(frozen=True)
class MetricResult:
    """A metric's value and its two-sided confidence interval over ``sequences`` sequences."""

    metric: str
    value: float
    low: float
    high: float
    confidence: float
    sequences: int
    interval: str

    def to_json(self) -> dict:
        return {"metric": self.metric, "value": self.value, "ci": [self.low, self.high],
                "confidence": self.confidence, "sequences": self.sequences, "interval": self.interval}


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n``."""
    if n <= 0:
        return (0.0, 1.0)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def t_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``samples`` (one value per sequence)."""
    s = np.asarray(samples, dtype=np.float64).ravel()
    m = float(s.mean()) if s.size else float("nan")
    if s.size < 2:
        return (m, m) if s.size else (float("nan"), float("nan"))
    half = float(stats.t.ppf(0.5 + confidence / 2, s.size - 1)) * float(s.std(ddof=1)) / math.sqrt(s.size)
    return (m - half, m + half)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def per_sequence(metric: str, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The metric of each sequence (B,) (accuracy: 0/1 per sequence)."""
    y = np.asarray(outputs, dtype=np.float64)
    if y.ndim != 3:
        raise SCValueError("outputs", f"must be (batch, steps, features), got shape {y.shape}")
    tg = np.asarray(targets)
    B, T = y.shape[:2]
    if metric == "accuracy":
        if tg.shape != (B,):
            raise SCValueError("targets", f"accuracy needs one label per sequence ({B},), got {tg.shape}")
        return (np.argmax(y[:, -1, :], axis=-1) == tg).astype(np.float64)
    if metric in ("step_accuracy", "bpc"):
        if tg.shape != (B, T):
            raise SCValueError("targets", f"{metric} needs one label per step ({B}, {T}), got {tg.shape}")
        if metric == "step_accuracy":
            return (np.argmax(y, axis=-1) == tg).mean(axis=1)
        if tg.min(initial=0) < 0 or tg.max(initial=0) >= y.shape[2]:
            raise SCValueError("targets", f"labels must be in [0, {y.shape[2]})")
        picked = np.take_along_axis(_log_softmax(y), tg.astype(np.int64)[..., None], axis=-1)[..., 0]
        return -picked.mean(axis=1) / math.log(2.0)
    if metric == "mse":
        if tg.shape != y.shape:
            raise SCValueError("targets", f"mse needs targets shaped like the outputs {y.shape}, got {tg.shape}")
        return ((y - tg.astype(np.float64)) ** 2).reshape(B, -1).mean(axis=1)
    raise SCValueError("metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")


def evaluate_metric(metric: str, outputs: np.ndarray, targets: np.ndarray,
                    confidence: float = 0.95) -> MetricResult:
    """The metric over all sequences with its confidence interval (see the module docstring)."""
    if not 0 < confidence < 1:
        raise SCValueError("confidence", f"must be in (0, 1), got {confidence!r}")
    per = per_sequence(metric, outputs, targets)
    n = int(per.size)
    value = float(per.mean()) if n else float("nan")
    if metric == "accuracy":
        lo, hi = wilson_interval(int(round(per.sum())), n, confidence)
        kind = "wilson"
    else:
        lo, hi = t_interval(per, confidence)
        kind = "student-t over sequences"
    return MetricResult(metric, value, float(lo), float(hi), confidence, n, kind)
