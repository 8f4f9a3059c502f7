"""Bit-level simulation of the combinational activation realizations (docs/semantics.md §5.4-§5.5).

* ReSC (Bernstein) unit of degree n: n copies of the input stream, each from its own SNG and
  source (LFSR copies are phases ``m * s`` of one base seed, ``s`` coprime to the period: the seeds
  of an n-operand integral input, :func:`sccompiler.sim.fsm.stream_seeds`), the adder of the
  copies' bits ``k_t`` (:func:`~.rules.resc_select`) and the output bit ``R'_t < Bq[k_t]`` with
  the unit's own coefficient source R' (an LFSR of width max(16, w), its low w bits).
* two-dimensional WFSM (N states per counter): two copies (the seeds of a 2-operand
  simulate_fsm), each driving a linear FSM reset to N // 2, and ``R'_t < Wq[s1_t * N + s2_t]``.
* LUT+SNG: a table entry ``Tq[a]`` read at the address of the binary input value
  (:func:`~.rules.lut_address`) and one SNG ``R'_t < Tq[a]``.  A stream input is first counted
  for L cycles (the up counter of §5), the table is read at the counted value, and the output
  stream runs the next L cycles.

Every stream b of a batch is an independent instance with seeds derived from ``seed`` exactly as
:func:`sccompiler.sim.simulate_fsm` derives them; :func:`resc_trace` / :func:`lut_trace` are the
per-cycle definition that the simulators sum and the Verilog testbenches check bit by bit.
"""

from __future__ import annotations

import numpy as np

from ..errors import SCValueError
from .encoding import check_range, threshold
from .fsm import stream_seeds, weight_source_width
from .primitives import bits_to_steps, fsm_states, sng
from .rules import check_int, fsm_reset_state, lut_address, resc_select
from .seeds import KEY_IDEAL, derive_rng
from .sources import byte_tables, check_width, leap_matrix

SOURCES = ("lfsr", "ideal")
ENCODINGS = {"binary": "bipolar", "unipolar": "unipolar"}
#: element budget (streams x copies x cycles) of one chunk
CHUNK_ELEMENTS = 1 << 22


def _lfsr_rows(seeds: np.ndarray, width: int, length: int) -> np.ndarray:
    """(len(seeds), length) states of leap-forward LFSRs (stride = width) from each seed."""
    from .kernels import lfsr_state_sequence  # noqa: PLC0415  (numba loads lazily)

    tables = byte_tables(leap_matrix(width, width))
    flat = np.asarray(seeds, dtype=np.uint64).ravel()
    out = np.empty((flat.size, length), dtype=np.uint64)
    for i, s in enumerate(flat):
        out[i] = lfsr_state_sequence(tables, np.uint64(s), length)
    return out.reshape(*np.shape(seeds), length)


def _check(length: int, source: str, width: int, seed: int, bits: int) -> None:
    check_int("length", length, 1, 1 << 31)
    check_int("seed", seed, 0)
    check_int("coefficient_bits", bits, 1, 32)
    if source not in SOURCES:
        raise SCValueError("source", f"must be one of {SOURCES} for a combinational realization, got {source!r}"
                                     + (" (van der Corput copies differ by offset only and are correlated)"
                                        if source == "sobol" else ""))
    check_width(width)


def resc_seeds(seed: int, batch: int, degree: int, width: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, n) copy seeds and (B,) coefficient-source seeds (those of an n-operand simulate_fsm)."""
    inp, coef = stream_seeds(seed, batch, degree, width, bits, True)
    return inp, coef


def resc_trace(x, quantized_coefficients, *, coefficient_bits: int, length: int, input: str = "binary",  # noqa: A002
               source: str = "lfsr", width: int = 16, seed: int = 1, copy_bits: bool = False) -> dict[str, np.ndarray]:
    """Per-cycle behaviour of B ReSC instances: ``k`` (B, L), ``y`` (B, L), ``count`` (B,) and,
    with ``copy_bits``, the copies' bits (B, n, L)."""
    if input not in ENCODINGS:
        raise SCValueError("input", f"must be one of {tuple(ENCODINGS)}, got {input!r}")
    lo = -1.0 if input == "binary" else 0.0
    xv = check_range(np.atleast_1d(np.asarray(x, dtype=np.float64)), lo, 1.0, "inputs")
    if xv.ndim != 1:
        raise SCValueError("inputs", f"must have shape (B,), got {xv.shape}")
    bq = np.asarray(quantized_coefficients, dtype=np.int64)
    b = int(coefficient_bits)
    _check(length, source, width, seed, b)
    if bq.ndim != 1 or bq.size < 2 or np.any(bq < 0) or np.any(bq > (1 << b)):
        raise SCValueError("quantized_coefficients", f"need n+1 >= 2 integers in [0, 2^{b}]")
    n, batch = bq.size - 1, xv.size
    thr = threshold(xv, width, ENCODINGS[input], "inputs")
    if source == "lfsr":
        cseeds, wseeds = resc_seeds(seed, batch, n, width, b)
        rand = _lfsr_rows(cseeds, width, length)                     # (B, n, L)
        ww = weight_source_width(b)
        rw = _lfsr_rows(wseeds, ww, length) & np.uint64((1 << b) - 1)  # (B, L)
    else:
        rng = derive_rng(seed, KEY_IDEAL)
        rand = rng.integers(0, 1 << width, size=(batch, n, length), dtype=np.uint64)
        rw = rng.integers(0, 1 << b, size=(batch, length), dtype=np.uint64)
    bits = sng(rand, thr[:, None, None])
    k = resc_select(bits)
    y = rw.astype(np.int64) < bq[k]
    out = {"k": k, "y": y, "count": y.sum(axis=1)}
    if copy_bits:
        out["copy_bits"] = bits
    return out


def simulate_resc(x, quantized_coefficients, *, coefficient_bits: int, length: int, input: str = "binary",  # noqa: A002
                  source: str = "lfsr", width: int = 16, seed: int = 1) -> np.ndarray:
    """ones/length of B independent ReSC instances (stream b is :func:`resc_trace`'s instance b)."""
    xv = np.atleast_1d(np.asarray(x, dtype=np.float64))
    n = max(1, len(quantized_coefficients) - 1)
    if source == "ideal":  # one generator for the whole batch: not chunked
        return resc_trace(xv, quantized_coefficients, coefficient_bits=coefficient_bits, length=length,
                          input=input, source=source, width=width, seed=seed)["count"] / float(length)
    # LFSR seeds depend on the batch size (one draw per stream), so draw them once and chunk the
    # cycles' work over streams with the same seeds
    b = int(coefficient_bits)
    _check(length, source, width, seed, b)
    cseeds, wseeds = resc_seeds(seed, xv.size, n, width, b)
    bq = np.asarray(quantized_coefficients, dtype=np.int64)
    lo = -1.0 if input == "binary" else 0.0
    thr = threshold(check_range(xv, lo, 1.0, "inputs"), width, ENCODINGS.get(input, "bipolar"), "inputs")
    step = max(1, CHUNK_ELEMENTS // (n * int(length)))
    counts = np.empty(xv.size, dtype=np.int64)
    ww = weight_source_width(b)
    for s in range(0, xv.size, step):
        sl = slice(s, s + step)
        bits = sng(_lfsr_rows(cseeds[sl], width, length), thr[sl, None, None])
        rw = _lfsr_rows(wseeds[sl], ww, length) & np.uint64((1 << b) - 1)
        counts[sl] = (rw.astype(np.int64) < bq[resc_select(bits)]).sum(axis=1)
    return counts / float(length)


def lut_trace(x, table, *, table_bits: int, address_bits: int, domain: tuple[float, float], length: int,
              stream_input: bool = True, source: str = "lfsr", width: int = 16, seed: int = 1) -> dict[str, np.ndarray]:
    """Per-instance behaviour of B LUT+SNG units: ``address`` (B,), ``y`` (B, L), ``count`` (B,);
    with ``stream_input`` also the input ``in_count`` (B,) counted over the first L cycles (the
    bipolar input value read is 2 in_count / L - 1)."""
    tq = np.asarray(table, dtype=np.int64)
    b = int(table_bits)
    _check(length, source, width, seed, b)
    check_int("address_bits", address_bits, 1, 24)
    if tq.shape != (1 << address_bits,) or np.any(tq < 0) or np.any(tq > (1 << b)):
        raise SCValueError("table", f"needs 2^{address_bits} integers in [0, 2^{b}]")
    xv = check_range(np.atleast_1d(np.asarray(x, dtype=np.float64)), domain[0], domain[1], "inputs")
    batch = xv.size
    out: dict[str, np.ndarray] = {}
    if source == "lfsr":
        iseeds, wseeds = stream_seeds(seed, batch, 1, width, b, True)
        rw = _lfsr_rows(wseeds, weight_source_width(b), length) & np.uint64((1 << b) - 1)
    else:
        rng = derive_rng(seed, KEY_IDEAL)
        rw = rng.integers(0, 1 << b, size=(batch, length), dtype=np.uint64)
    value = xv
    if stream_input:
        thr = threshold(check_range(xv, -1.0, 1.0, "inputs"), width, "bipolar", "inputs")
        r = (_lfsr_rows(iseeds[:, 0], width, length) if source == "lfsr"
             else rng.integers(0, 1 << width, size=(batch, length), dtype=np.uint64))
        out["in_count"] = sng(r, thr[:, None]).sum(axis=1)
        value = np.clip(2.0 * out["in_count"] / float(length) - 1.0, domain[0], domain[1])
    addr = lut_address(value, address_bits, domain[0], domain[1])
    y = rw.astype(np.int64) < tq[addr][:, None]
    out.update(address=addr, y=y, count=y.sum(axis=1))
    return out


def wfsm2d_trace(x, table, *, states: int, weight_bits: int, length: int, source: str = "lfsr",
                 width: int = 16, seed: int = 1) -> dict[str, np.ndarray]:
    """Per-cycle behaviour of B two-dimensional WFSMs (bipolar inputs x): ``states`` (B, 2, L) --
    the two counters' states at the start of each cycle --, ``y`` (B, L), ``count`` (B,)."""
    n = check_int("states", states, 2, 1 << 12)
    b = int(weight_bits)
    _check(length, source, width, seed, b)
    wq = np.asarray(table, dtype=np.int64)
    if wq.shape != (n * n,) or np.any(wq < 0) or np.any(wq > (1 << b)):
        raise SCValueError("table", f"needs N*N = {n * n} integers in [0, 2^{b}]")
    xv = check_range(np.atleast_1d(np.asarray(x, dtype=np.float64)), -1.0, 1.0, "inputs")
    thr = threshold(xv, width, "bipolar", "inputs")
    if source == "lfsr":
        iseeds, wseeds = stream_seeds(seed, xv.size, 2, width, b, True)
        rand = _lfsr_rows(iseeds, width, length)
        rw = _lfsr_rows(wseeds, weight_source_width(b), length) & np.uint64((1 << b) - 1)
    else:
        rng = derive_rng(seed, KEY_IDEAL)
        rand = rng.integers(0, 1 << width, size=(xv.size, 2, length), dtype=np.uint64)
        rw = rng.integers(0, 1 << b, size=(xv.size, length), dtype=np.uint64)
    st = fsm_states(bits_to_steps(sng(rand, thr[:, None, None])), n, fsm_reset_state(n))
    y = rw.astype(np.int64) < wq[st[:, 0] * n + st[:, 1]]
    return {"states": st, "y": y, "count": y.sum(axis=1)}
