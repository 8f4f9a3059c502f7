"""Recognize tensors that already take few values (a model trained with quantized weights)."""

from __future__ import annotations

import math

import numpy as np

from ..ir.model import FLOAT, QuantSpec

#: a tensor with more distinct values than this is treated as float
MAX_DETECTED_LEVELS = 256


def _is_integer_multiple(values: np.ndarray, scale: float, rtol: float) -> bool:
    q = values / scale
    return bool(np.all(np.abs(q - np.round(q)) <= rtol * np.maximum(1.0, np.abs(q))))


def detect_quant(data: np.ndarray, rtol: float = 1e-6) -> QuantSpec:
    """Return the :class:`QuantSpec` a tensor's values imply.

    * two values ``{-a, +a}``: ``binary`` (1 bit), scale ``a``;
    * ``{-a, 0, +a}`` (or a subset containing 0 and ±a): ``ternary`` (2 bits), scale ``a``;
    * values ``s * 2^k`` (signed powers of two, maybe 0) spanning more than 3 levels: ``exp``;
    * integer multiples of a common scale with at most 256 levels: ``int`` with the bits needed;
    * anything else: ``float``.
    Tolerances are relative (``rtol``), so float32 round-off in exported files is accepted.
    """
    arr = np.asarray(data, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        return FLOAT
    # merge values equal up to rtol (float32 exports of the same level differ in the last bits)
    vals = np.unique(arr)
    if vals.size > 4 * MAX_DETECTED_LEVELS:
        return FLOAT
    merged: list[float] = []
    for v in vals:
        if merged and abs(v - merged[-1]) <= rtol * max(abs(v), abs(merged[-1]), 1e-300):
            continue
        merged.append(float(v))
    levels = np.array(merged)
    if levels.size > MAX_DETECTED_LEVELS:
        return FLOAT
    nz = np.abs(levels[levels != 0.0])
    if nz.size == 0:
        return QuantSpec(scheme="ternary", levels=(0.0,), scale=1.0, bits=2)
    amax = float(nz.max())
    amin = float(nz.min())
    symmetric_single = np.allclose(nz, amax, rtol=rtol)
    has_zero = bool(np.any(levels == 0.0))
    lv = tuple(float(v) for v in levels)
    if symmetric_single and not has_zero and levels.size <= 2:
        return QuantSpec(scheme="binary", levels=lv, scale=amax, bits=1)
    if symmetric_single and has_zero and levels.size <= 3:
        return QuantSpec(scheme="ternary", levels=lv, scale=amax, bits=2)
    if _is_integer_multiple(levels, amin, rtol):
        max_int = int(round(amax / amin))
        bits = 1 + max(1, math.ceil(math.log2(max_int + 1)))
        if bits <= 16:
            return QuantSpec(scheme="int", levels=lv, scale=amin, bits=bits)
    logs = np.log2(nz)
    if np.allclose(logs, np.round(logs), atol=1e-6) and levels.size > 3:
        kmin, kmax = int(np.round(logs.min())), int(np.round(logs.max()))
        bits = 1 + max(1, math.ceil(math.log2(kmax - kmin + 2)))  # sign + exponent (+ zero code)
        return QuantSpec(scheme="exp", levels=lv, scale=2.0 ** kmin, bits=bits)
    return FLOAT
