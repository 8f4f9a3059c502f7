"""Bit packing: 64 streams per uint64 word (lane k = bit k of the word), and bit planes.

``pack_bits`` packs the LAST axis (the batch/stream axis), so a (cycles, B) bool array becomes
(cycles, ceil(B/64)) words: one word holds one cycle of 64 streams, which is the layout the
bit-sliced kernels use.  Packed gates (:func:`packed_gate`) work on any such arrays.
"""

from __future__ import annotations

import numpy as np

from ..errors import SCValueError

WORD = 64
GATE_OPS = ("and", "or", "xor", "xnor", "mux", "not")


def words_for(count: int, multiple: int = 1) -> int:
    """Number of 64-bit words to hold ``count`` lanes, rounded up to a multiple of ``multiple``."""
    words = -(-count // WORD)
    return -(-words // multiple) * multiple


def pack_bits(bits: np.ndarray, nwords: int | None = None) -> np.ndarray:
    """Pack a bool/0-1 array along its last axis into uint64 words (zero padding)."""
    arr = np.asarray(bits).astype(bool, copy=False)
    count = arr.shape[-1]
    nwords = words_for(count) if nwords is None else nwords
    if nwords * WORD < count:
        raise SCValueError("nwords", f"{nwords} words cannot hold {count} lanes")
    pad = nwords * WORD - count
    if pad:
        arr = np.concatenate([arr, np.zeros(arr.shape[:-1] + (pad,), dtype=bool)], axis=-1)
    packed = np.packbits(arr, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits(words: np.ndarray, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: (…, W) uint64 -> (…, count) bool."""
    w = np.ascontiguousarray(np.asarray(words, dtype=np.uint64)).astype("<u8", copy=False)
    bits = np.unpackbits(w.view(np.uint8), axis=-1, bitorder="little")
    return bits[..., :count].astype(bool)


def ints_to_planes(values: np.ndarray, bits: int, nwords: int) -> np.ndarray:
    """Bit-slice non-negative integers: plane j = packed bit j of every lane -> (bits, nwords)."""
    from .kernels import bit_slice  # noqa: PLC0415

    v = np.ascontiguousarray(values, dtype=np.uint64).ravel()
    if nwords * WORD < v.size:
        raise SCValueError("nwords", f"{nwords} words cannot hold {v.size} lanes")
    planes = np.empty((bits, nwords), dtype=np.uint64)
    bit_slice(v, planes)
    return planes


def planes_to_ints(planes: np.ndarray, count: int) -> np.ndarray:
    """Inverse of :func:`ints_to_planes` over the first ``count`` lanes -> int64 array.

    ``planes`` may carry leading axes (..., bits, nwords)."""
    from .kernels import bit_unslice  # noqa: PLC0415

    planes = np.ascontiguousarray(planes, dtype=np.uint64)
    lead = planes.shape[:-2]
    flat = planes.reshape((-1,) + planes.shape[-2:])
    out = np.empty((flat.shape[0], count), dtype=np.int64)
    for i in range(flat.shape[0]):
        bit_unslice(flat[i], out[i])
    return out.reshape(lead + (count,))


def packed_gate(op: str, a: np.ndarray, b: np.ndarray | None = None,
                sel: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Packed gate on equally shaped uint64 arrays: and/or/xor/xnor/not, mux = sel ? a : b.

    Whole-array numpy ufuncs writing into ``out`` (allocated if None); they run at memory
    bandwidth, which measured faster here than an equivalent numba loop.  MUX is computed as
    ``((a ^ b) & sel) ^ b`` (three passes, no temporary)."""
    if op not in GATE_OPS:
        raise SCValueError("op", f"must be one of {sorted(GATE_OPS)}, got {op!r}")
    if op != "not" and b is None:
        raise SCValueError("b", f"{op} needs a second operand")
    if op == "mux" and sel is None:
        raise SCValueError("sel", "mux needs a select stream")
    a = np.asarray(a, dtype=np.uint64)
    for name, arr in (("b", b), ("sel", sel), ("out", out)):
        if arr is not None and np.shape(arr) != a.shape:
            raise SCValueError(name, f"shape {np.shape(arr)} does not match a {a.shape}")
    if out is None:
        out = np.empty_like(a)
    if op == "and":
        np.bitwise_and(a, b, out=out)
    elif op == "or":
        np.bitwise_or(a, b, out=out)
    elif op == "xor":
        np.bitwise_xor(a, b, out=out)
    elif op == "xnor":
        np.bitwise_xor(a, b, out=out)
        np.invert(out, out=out)
    elif op == "not":
        np.invert(a, out=out)
    else:
        np.bitwise_xor(a, b, out=out)
        np.bitwise_and(out, sel, out=out)
        np.bitwise_xor(out, b, out=out)
    return out
