"""Value encodings of stochastic streams and the SNG threshold rule.

* unipolar: x = P(bit = 1) in [0, 1]
* bipolar:  x = 2 P - 1 in [-1, 1]
* integral: per-cycle integer (e.g. an APC output ``d = 2k - M`` in [-M, M])

An SNG emits ``bit_t = (R_t < X)``; a unipolar probability ``p`` becomes the integer threshold
``X = floor(p * 2^n + 1/2)`` in ``[0, 2^n]``.  Out-of-range values raise :class:`SCValueError`
(never clipped); NaN is out of range.
"""

from __future__ import annotations

import numpy as np

from ..errors import SCValueError
from .rules import quantized_weights

ENCODINGS = ("unipolar", "bipolar")


def _as_float_array(values: object, param: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SCValueError(param, f"must be numeric ({exc})") from None
    return arr


def check_range(values: object, lo: float, hi: float, param: str) -> np.ndarray:
    """Return ``values`` as float array if all lie in ``[lo, hi]`` (NaN is rejected)."""
    arr = _as_float_array(values, param)
    bad = ~((arr >= lo) & (arr <= hi))
    if np.any(bad):
        first = arr[bad].flat[0]
        raise SCValueError(param, f"values must lie in [{lo:g}, {hi:g}], got {first!r}"
                                  f" ({int(bad.sum())} value(s) out of range)")
    return arr


def bipolar_to_unipolar(x: object, param: str = "x") -> np.ndarray:
    """p = (x + 1) / 2 for x in [-1, 1]."""
    return (check_range(x, -1.0, 1.0, param) + 1.0) / 2.0


def unipolar_to_bipolar(p: object) -> np.ndarray:
    """x = 2 p - 1."""
    return 2.0 * np.asarray(p, dtype=np.float64) - 1.0


def threshold(value: object, bits: int, encoding: str = "unipolar",
              param: str = "value") -> np.ndarray:
    """SNG threshold ``X = floor(p * 2^bits + 1/2)`` (int64) for a unipolar or bipolar value."""
    if encoding == "unipolar":
        p = check_range(value, 0.0, 1.0, param)
    elif encoding == "bipolar":
        p = bipolar_to_unipolar(value, param)
    else:
        raise SCValueError("encoding", f"must be one of {ENCODINGS}, got {encoding!r}")
    return np.floor(p * float(1 << bits) + 0.5).astype(np.int64)


def quantize_weights(weights: object, bits: int, param: str = "weights") -> np.ndarray:
    """Per-state weights in [0, 1] -> integers ``Wq = floor(w * 2^bits + 1/2)`` in [0, 2^bits]
    (:func:`~sccompiler.sim.rules.quantized_weights`; out-of-range weights raise)."""
    return quantized_weights(check_range(weights, 0.0, 1.0, param), bits)


def lfsr_threshold_probability(x_threshold: object, bits: int, width: int) -> np.ndarray:
    """Exact P(R < X) over one full period of a width-``width`` LFSR compared on ``bits`` low bits.

    Each nonzero low value appears ``2^(W-n)`` times per period and 0 appears once less (the
    all-zero state is excluded), so the count is ``X 2^(W-n) - 1`` for ``X >= 1``.
    """
    xq = np.asarray(x_threshold, dtype=np.float64)
    count = np.where(xq >= 1, xq * float(1 << (width - bits)) - 1.0, 0.0)
    return count / float((1 << width) - 1)


def threshold_probability(x_threshold: object, bits: int, kind: str = "ideal",
                          width: int | None = None) -> np.ndarray:
    """Exact long-run P(R < X) of a source kind ("ideal", "sobol": X / 2^n; "lfsr": see above)."""
    if kind == "lfsr":
        return lfsr_threshold_probability(x_threshold, bits, bits if width is None else width)
    return np.asarray(x_threshold, dtype=np.float64) / float(1 << bits)
