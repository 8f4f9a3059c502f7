"""Validation data of an exploration: VAL.npz with ``x`` (batch, time, features) -- or token ids
(batch, time) for an embedding model -- and optionally ``y``, the targets of a task metric.

Read with :class:`sccompiler.io.SafeNpz` (no pickles, headers checked against the file and the
array limit before anything is allocated); ``x`` is checked against the model as every
simulation input is; ``y`` against the metric.  The first ``calibration`` sequences are the
compiler's calibration inputs (input ranges, FSM input models) of every trial.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import metrics
from ..errors import ConfigError, InputFileError, SCValueError
from ..io import SafeNpz
from ..reference import check_input, forward

#: calibration sequences taken from the front of x
CALIBRATION = 32


@dataclass(frozen=True)
class ValData:
    x: np.ndarray
    y: np.ndarray | None
    metric: str | None
    reference: np.ndarray       # the quantized model's output on x (what ``error`` is measured against)
    digest: str

    @property
    def steps(self) -> int:
        return int(self.x.shape[1])

    @property
    def calibration(self) -> np.ndarray:
        return self.x[:CALIBRATION]


def infer_metric(y: np.ndarray, out_shape: tuple[int, ...]) -> str:
    B, T = out_shape[:2]
    if np.issubdtype(y.dtype, np.integer):
        if y.shape == (B,):
            return "accuracy"
        if y.shape == (B, T):
            return "step_accuracy"
    elif np.issubdtype(y.dtype, np.floating) and y.shape == tuple(out_shape):
        return "mse"
    raise ConfigError(f"y: cannot tell the task metric from shape {y.shape} and dtype {y.dtype} (outputs {out_shape}); "
                      f"integer labels (B,) or (B, T), or float targets shaped like the outputs; or give --metric")


def load_data(path: str | Path, model, metric: str | None = None) -> ValData:
    """Read and check VAL.npz (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"data {p}: not found")
    with SafeNpz(p, "data", InputFileError) as npz:
        extra = sorted(set(npz.files) - {"x", "y"})
        if "x" not in npz:
            raise InputFileError(f"data {p}: no array 'x' (batch, time, features); "
                                 f"members: {', '.join(npz.files) or 'none'}")
        if extra:
            raise InputFileError(f"data {p}: unexpected member(s) {', '.join(extra)}; expected x and optionally y")
        x_raw = npz["x"]
        y = npz.get("y")
    try:
        x = check_input(model, x_raw)
    except SCValueError as exc:
        raise InputFileError(f"data {p}: {exc}") from None
    reference = forward(model, x)
    if y is not None:
        if y.dtype == object or not np.issubdtype(y.dtype, np.number):
            raise InputFileError(f"data {p}: y must be numeric, got dtype {y.dtype}")
        if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
            raise InputFileError(f"data {p}: y holds NaN or infinite values")
        metric = metric or infer_metric(y, reference.shape)
        if metric not in metrics.METRICS:
            raise ConfigError(f"metric: must be one of {', '.join(metrics.METRICS)}, got {metric!r}")
        try:
            metrics.per_sequence(metric, reference, y)
        except SCValueError as exc:
            raise InputFileError(f"data {p}: y does not fit metric {metric}: {exc}") from None
    elif metric is not None:
        raise ConfigError(f"metric {metric}: VAL.npz has no targets 'y'")
    h = hashlib.sha256(np.ascontiguousarray(x).tobytes() + str(x.shape).encode())
    if y is not None:
        h.update(np.ascontiguousarray(y).tobytes() + str(y.shape).encode())
    return ValData(x, y, metric if y is not None else None, reference, h.hexdigest())
