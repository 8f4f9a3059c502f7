"""QONNX quantizers (``Quant``, ``IntQuant``, ``BipolarQuant``) evaluated on constant weights in
numpy, as QONNX's own numpy code does, with the :class:`~sccompiler.ir.model.QuantSpec` each implies.

The ONNX importer (:mod:`.onnx_frontend`) evaluates them through :mod:`.onnx_graph` when a weight
tensor is produced by a quantizer node; the spec is attached to the imported layer's tensor.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import UnsupportedOpError
from ..ir.model import QuantSpec
from ..quantize.detect import MAX_DETECTED_LEVELS, detect_quant

QUANT_OPS = ("Quant", "IntQuant", "BipolarQuant")


def _int_range(signed: bool, narrow: bool, bits: int) -> tuple[int, int]:
    if signed:
        lo = -(2 ** (bits - 1)) + (1 if narrow else 0)
        return lo, 2 ** (bits - 1) - 1
    return 0, 2**bits - (2 if narrow else 1)


_ROUNDING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ROUND": np.round,  # half to even, as QONNX (numpy) does
    "HALF_EVEN": np.round,
    "CEIL": np.ceil,
    "FLOOR": np.floor,
    "ROUND_TO_ZERO": np.fix,
    "DOWN": np.fix,
    "UP": lambda v: np.sign(v) * np.ceil(np.abs(v)),
    "HALF_UP": lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5),
    "HALF_DOWN": lambda v: np.sign(v) * np.ceil(np.abs(v) - 0.5),
}


def _scalar(v: np.ndarray | None) -> float | None:
    return float(np.asarray(v).ravel()[0]) if v is not None and np.asarray(v).size == 1 else None


def qonnx_quant(op: str, ins: list, attrs: dict, node_name: str) -> tuple[np.ndarray, QuantSpec]:
    """Evaluate a QONNX quantizer on a constant, in the input's dtype, as QONNX's numpy code does.

    Returns the quantized values and the :class:`QuantSpec` they imply: ``binary`` for
    BipolarQuant (and 1-bit signed Quant), ``ternary`` for 2-bit signed narrow Quant with zero
    point 0, ``int`` otherwise.  For a per-tensor scale, ``levels`` is the quantizer's whole grid
    when it has at most 256 entries, else the values that occur; with per-channel scales the spec
    comes from the values (``detect_quant``) with the node's bit width.
    """
    x = np.asarray(ins[0])
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    x = x.astype(dtype)
    if len(ins) < 2 or ins[1] is None:
        raise UnsupportedOpError(op, node_name, "missing scale input")
    scale = np.asarray(ins[1]).astype(dtype)
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise UnsupportedOpError(op, node_name, "scale must be positive and finite")
    if op == "BipolarQuant":
        out = np.where(x >= 0, dtype.type(1), dtype.type(-1)) * scale
        grid = np.array([-1.0, 1.0], dtype=dtype)
        zeropt, bits, scheme = dtype.type(0), 1, "binary"
    else:
        if len(ins) < 4 or ins[2] is None or ins[3] is None:
            raise UnsupportedOpError(op, node_name, "needs inputs (x, scale, zeropt, bitwidth)")
        zeropt = np.asarray(ins[2]).astype(dtype)
        bw = np.asarray(ins[3])
        if bw.size != 1 or float(bw.ravel()[0]) != int(bw.ravel()[0]) or int(bw.ravel()[0]) < 1:
            raise UnsupportedOpError(op, node_name, f"bitwidth must be a positive integer scalar, got {bw.tolist()}")
        bits = int(bw.ravel()[0])
        signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
        mode = str(attrs.get("rounding_mode", "ROUND")).upper()
        if mode not in _ROUNDING:
            raise UnsupportedOpError(op, node_name, f"rounding_mode {mode!r} (supported: {', '.join(_ROUNDING)})")
        y = x / scale + zeropt
        if bits == 1 and signed:  # QONNX treats 1-bit signed as bipolar
            y = np.where(y >= 0, dtype.type(1), dtype.type(-1))
            grid = np.array([-1.0, 1.0], dtype=dtype)
        else:
            lo, hi = _int_range(signed, narrow, bits)
            y = _ROUNDING[mode](np.clip(y, lo, hi))
            grid = np.arange(lo, hi + 1, dtype=dtype)
        out = ((y - zeropt) * scale).astype(dtype)
        scheme = "binary" if bits == 1 and signed else "int"
        if bits == 2 and signed and narrow and not np.any(zeropt):
            scheme = "ternary"
    s, z = _scalar(scale), _scalar(zeropt)
    if s is None or z is None:
        spec = detect_quant(out)
        if spec.is_quantized:
            spec = QuantSpec(scheme=spec.scheme, levels=spec.levels, scale=spec.scale, bits=bits)
        return out, spec
    # like the quantizers: the whole codebook when it is small, else the values that occur
    if grid.size <= MAX_DETECTED_LEVELS:
        levels = np.unique(((grid - dtype.type(z)) * dtype.type(s)).astype(dtype).astype(np.float64))
    else:
        levels = np.unique(out.astype(np.float64))
    return out, QuantSpec(scheme=scheme, levels=tuple(float(v) for v in levels), scale=s, bits=bits)
