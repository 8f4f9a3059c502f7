"""``simulate_fsm``: bit-exact simulation of a (weighted) saturating FSM fed by SNGs.

This is the entry point the WFSM synthesis calls.  Each of the B streams is an independent
instance: its input SNG(s) and its weight source get their own seeds, derived from ``seed``
(:mod:`sccompiler.sim.seeds`).  A binary-input FSM with LFSR sources runs on the fused bit-sliced
kernel (64 streams per word); every other combination runs on the per-stream kernel in chunks of
cycles.  Memory stays O(B) (plus one chunk), never O(B x length).
"""

from __future__ import annotations

import numpy as np

from ..errors import SCValueError
from .encoding import check_range, quantize_weights, threshold
from .packed import ints_to_planes, planes_to_ints, words_for
from .primitives import weight_rom_program
from .rules import fsm_reset_state, fsm_state_width, stanh_threshold, unsigned_width
from .seeds import KEY_IDEAL, KEY_INPUT, KEY_WEIGHT, derive_lfsr_seeds, derive_rng, spread_phases
from .sources import SOURCE_KINDS, TAPS, bitreverse, byte_tables, check_int, check_width, leap_matrix

MAX_STATES = 1 << 12
MAX_LENGTH = (1 << 32) - 1
MAX_OPERANDS = 1 << 10
#: element budget of one per-stream chunk (cycles x streams)
CHUNK_ELEMENTS = 1 << 22


def weight_source_width(weight_bits: int) -> int:
    """Width of the per-FSM weight LFSR: at least 16 so that R' (its low b bits) is ~uniform."""
    return max(16, weight_bits)


def low_taps(width: int) -> np.ndarray:
    """Positions of the tap bits below the top bit of TAPS[width] (the XORs of one step)."""
    mask = TAPS[width]
    return np.asarray([j for j in range(width - 1) if (mask >> j) & 1], dtype=np.int64)


def stream_seeds(seed: int, batch: int, operands: int, width: int, weight_bits: int,
                 weighted: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The LFSR seeds simulate_fsm uses: (B, M) input seeds and (B,) weight seeds (or None).

    Input: base seeds from (seed, KEY_INPUT); operand m is ``m * s`` steps after the base, s the
    largest value <= P/M coprime to P (:func:`~sccompiler.sim.seeds.coprime_spacing`).  Weight: from
    (seed, KEY_WEIGHT) at width weight_source_width(b).
    """
    base = derive_lfsr_seeds(seed, KEY_INPUT, batch, width)
    inp = spread_phases(base, width, operands) if operands > 1 else base[:, None]
    wseeds = (derive_lfsr_seeds(seed, KEY_WEIGHT, batch, weight_source_width(weight_bits))
              if weighted else None)
    return inp, wseeds


def sobol_offsets(seed: int, batch: int, operands: int, width: int) -> np.ndarray:
    """(B, M) van der Corput offsets for source='sobol'."""
    return derive_rng(seed, KEY_INPUT).integers(0, 1 << width, size=(batch, operands),
                                                dtype=np.uint64)


def _validate(inputs, states, weights, weight_bits, length, source, width, seed, reset_state):
    try:
        arr = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SCValueError("inputs", f"must be numeric, shape (B,) or (B, M) ({exc})") from None
    if arr.ndim not in (1, 2) or arr.shape[0] == 0 or (arr.ndim == 2 and arr.shape[1] == 0):
        raise SCValueError("inputs", f"must have shape (B,) or (B, M) with B, M >= 1, "
                                     f"got {arr.shape}")
    if arr.ndim == 2:
        check_int("inputs.shape[1]", arr.shape[1], 1, MAX_OPERANDS)
    x = check_range(arr, -1.0, 1.0, "inputs")
    nstates = check_int("states", states, 2, MAX_STATES)
    check_int("weight_bits", weight_bits, 1, 32)
    check_int("length", length, 1, MAX_LENGTH)
    if source not in SOURCE_KINDS:
        raise SCValueError("source", f"must be one of {SOURCE_KINDS}, got {source!r}")
    if source == "lfsr":
        check_width(width)
    else:
        check_int("width", width, 1, 32)
    check_int("seed", seed, 0)
    reset = (fsm_reset_state(nstates) if reset_state is None
             else check_int("reset_state", reset_state, 0, nstates - 1))
    if weights is None:
        stanh_threshold(nstates)  # Stanh (weights=None) is a state decode: even N only
        wq = None
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (nstates,):
            raise SCValueError("weights", f"must have shape ({nstates},), got {w.shape}")
        wq = quantize_weights(w, weight_bits, "weights")
    return x, nstates, reset, wq


def simulate_fsm(inputs, *, states: int, weights=None, weight_bits: int = 8, length: int,
                 source: str = "lfsr", width: int = 16, seed: int = 1,
                 reset_state: int | None = None, return_occupancy: bool = False):
    """Simulate B independent FSM instances for ``length`` cycles; return ones/length per stream.

    inputs: (B,) bipolar values (binary-input linear FSM) or (B, M) bipolar operand values
    (integral input d_t = 2 popcount - M).  weights: (N,) in [0, 1], quantized to
    ``weight_bits`` (Wq = floor(w 2^b + 1/2)) and realized as ``y = R' < Wq[s]`` with a
    per-stream weight LFSR (ideal RNG when source='ideal'); None = Stanh (y = s >= N/2).
    With ``return_occupancy`` also returns (B, N) int64 counts of cycles spent in each state
    (the state at the start of each cycle).  See docs/semantics.md for the exact contract.
    """
    x, nstates, reset, wq = _validate(inputs, states, weights, weight_bits, length, source,
                                      width, seed, reset_state)
    batch = x.shape[0]
    operands = 1 if x.ndim == 1 else x.shape[1]
    xthr = threshold(x, width, "bipolar", "inputs").reshape(batch, operands)
    if x.ndim == 1 and source == "lfsr":
        counts, occ = _run_sliced(xthr[:, 0], nstates, reset, wq, weight_bits, length, width,
                                  seed, return_occupancy)
    else:
        counts, occ = _run_streams(xthr, nstates, reset, wq, weight_bits, length,
                                   source, width, seed, return_occupancy)
    p_hat = counts.astype(np.float64) / float(length)
    return (p_hat, occ) if return_occupancy else p_hat


def _half(nstates: int, wq) -> int:
    """The kernels' Stanh-decode threshold: N/2 for an unweighted (Stanh) FSM, whose N is even
    (checked in _validate); unused by a weighted FSM (0)."""
    return stanh_threshold(nstates) if wq is None else 0


def _run_sliced(xthr, nstates, reset, wq, weight_bits, length, width, seed, want_occ):
    from .kernels import fsm_sliced_lfsr, lane_words  # noqa: PLC0415

    batch = xthr.shape[0]
    group = lane_words(words_for(batch))
    nwords = words_for(batch, group)
    inp_seeds, w_seeds = stream_seeds(seed, batch, 1, width, weight_bits, wq is not None)
    lfsr = ints_to_planes(inp_seeds[:, 0], width, nwords)
    x_planes = ints_to_planes(xthr, width + 1, nwords)
    taps = low_taps(width)
    sbits = fsm_state_width(nstates)
    state = ints_to_planes(np.full(batch, reset), sbits, nwords)
    cbits = unsigned_width(length)
    counts = np.zeros((cbits, nwords), dtype=np.uint64)
    occ = np.zeros((nstates if want_occ else 0, cbits, nwords), dtype=np.uint64)
    if wq is not None:
        wwidth = weight_source_width(weight_bits)
        wlfsr = ints_to_planes(w_seeds, wwidth, nwords)
        wtaps = low_taps(wwidth)
        rom, rom_out, rom_regs = weight_rom_program(wq, weight_bits, sbits)
    else:
        wlfsr = np.zeros((0, nwords), dtype=np.uint64)
        wwidth = 0
        wtaps = np.zeros(0, dtype=np.int64)
        rom = np.zeros((0, 4), dtype=np.int64)
        rom_out = np.zeros(1, dtype=np.int64)
        rom_regs = 0
    fsm_sliced_lfsr(lfsr, x_planes, taps, width, width, state, nstates, _half(nstates, wq),
                    wlfsr, wtaps, wwidth, rom, rom_out, rom_regs, counts, occ, int(length),
                    group)
    occ_out = planes_to_ints(occ, batch).T.copy() if want_occ else None
    return planes_to_ints(counts, batch), occ_out


def _run_streams(xthr, nstates, reset, wq, weight_bits, length, source, width, seed,
                 want_occ):
    from .kernels import fsm_streams, lfsr_fill  # noqa: PLC0415

    batch, operands = xthr.shape
    weighted = wq is not None
    chunk = max(1, min(length, CHUNK_ELEMENTS // (batch * (operands + 1))))
    state = np.full(batch, reset, dtype=np.int64)
    counts = np.zeros(batch, dtype=np.int64)
    occ = np.zeros((batch, nstates) if want_occ else (0, 0), dtype=np.int64)
    wq_arr = (wq if weighted else np.zeros(nstates, dtype=np.int64)).astype(np.uint64)
    mask_n = np.uint64((1 << width) - 1)
    step_dtype = np.int8 if operands <= 127 else np.int16
    if source == "lfsr":
        inp_seeds, _ = stream_seeds(seed, batch, operands, width, weight_bits, False)
        in_states = [np.ascontiguousarray(inp_seeds[:, m]) for m in range(operands)]
        in_tables = byte_tables(leap_matrix(width, width))
    elif source == "sobol":
        offsets = sobol_offsets(seed, batch, operands, width)
    if source == "ideal":
        rng = derive_rng(seed, KEY_IDEAL)
    elif weighted:
        # the weight source is a per-stream LFSR for both "lfsr" and "sobol" inputs
        wwidth = weight_source_width(weight_bits)
        w_states = derive_lfsr_seeds(seed, KEY_WEIGHT, batch, wwidth)
        w_tables = byte_tables(leap_matrix(wwidth, wwidth))
    xq = xthr.astype(np.uint64)
    rbuf = np.empty((chunk, batch), dtype=np.uint64)
    start = 0
    while start < length:
        lc = min(chunk, length - start)
        r = rbuf[:lc]
        ones = np.zeros((lc, batch), dtype=np.int16)
        for m in range(operands):
            if source == "lfsr":
                lfsr_fill(in_tables, in_states[m], r, mask_n)
            elif source == "sobol":
                t = np.arange(start, start + lc, dtype=np.uint64)[:, None]
                r[:] = bitreverse((t + offsets[None, :, m]) & mask_n, width)
            else:
                r[:] = rng.integers(0, 1 << width, size=(lc, batch), dtype=np.uint64)
            ones += r < xq[None, :, m]
        steps = (2 * ones - operands).astype(step_dtype)
        if weighted:
            rw = np.empty((lc, batch), dtype=np.uint64)
            if source == "ideal":
                rw[:] = rng.integers(0, 1 << weight_bits, size=(lc, batch), dtype=np.uint64)
            else:
                lfsr_fill(w_tables, w_states, rw, np.uint64((1 << weight_bits) - 1))
        else:
            rw = np.zeros((0, batch), dtype=np.uint64)
        fsm_streams(steps, rw, wq_arr, _half(nstates, wq), nstates, state, counts, occ)
        start += lc
    return counts, (occ if want_occ else None)
