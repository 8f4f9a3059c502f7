"""The rules of the SC primitives, each defined once (docs/semantics.md pins them).

The simulator, the netlist runtime, FSM synthesis, the Verilog emitter and the cost model import
these instead of restating them: an FSM's reset state and state-register width, two's-complement
and unsigned register widths, the sign decode of a counted stream, which statistics row a time
step reads, the Brown-Card Stanh weight table, and the integer validator every public parameter
goes through.
"""

from __future__ import annotations

import numpy as np

from ..errors import SCValueError


# ----------------------------------------------------------------------------- validation
def is_int(value: object) -> bool:
    """True for Python and numpy integers (bool excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def int_problem(value: object, lo: int, hi: int | None = None) -> str | None:
    """What is wrong with ``value`` as an integer in ``[lo, hi]`` (``hi=None``: unbounded), or None.

    The one wording of the integer check: "must be an integer, got X" for a non-integer (bool
    included), "must be in [lo, hi], got v" / "must be >= lo, got v" for one out of range.
    :func:`check_int` raises it as an SCValueError; the config loader as a ConfigError.
    """
    if not is_int(value):
        return f"must be an integer, got {value!r}"
    v = int(value)  # type: ignore[arg-type]
    if v < lo or (hi is not None and v > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        return f"must be {rng}, got {v}"
    return None


def check_int(param: str, value: object, lo: int, hi: int | None = None) -> int:
    """Return ``value`` as int if it is an integer in ``[lo, hi]``, else raise SCValueError."""
    problem = int_problem(value, lo, hi)
    if problem is not None:
        raise SCValueError(param, problem)
    return int(value)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- register widths
def unsigned_width(max_value: int) -> int:
    """Bits of an unsigned register holding 0..max_value (at least 1)."""
    return max(1, int(max_value).bit_length())


def signed_width(lo: int, hi: int) -> int:
    """Bits of a two's-complement register holding lo..hi: the smallest w >= 1 with
    -2^(w-1) <= lo and hi <= 2^(w-1) - 1 (any lo, hi; a bound on the far side of 0 costs nothing)."""
    lo, hi = int(lo), int(hi)
    need = max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length() if hi > 0 else 0)
    return need + 1


# ----------------------------------------------------------------------------- FSMs
def fsm_reset_state(states: int) -> int:
    """The state an N-state saturating FSM starts in (and returns to under state_policy 'reset'):
    N // 2, the lowest state of the upper half."""
    return int(states) // 2


def fsm_state_width(states: int) -> int:
    """State register width ceil(log2 N) of an N-state FSM (at least 1)."""
    return max(1, (int(states) - 1).bit_length())


def stanh_weights(states: int) -> np.ndarray:
    """Brown-Card Stanh as a weighted FSM: weight 0 in the lower half of the states, 1 in the
    upper half; for odd N the middle state (N-1)/2 has weight 1/2, so that the bipolar output is
    an odd function of the input for every N (docs/semantics.md, "FSM rules")."""
    n = check_int("states", states, 2)
    w = (np.arange(n) >= n / 2).astype(np.float64)
    if n % 2:
        w[n // 2] = 0.5
    return w


def stanh_threshold(states: int) -> int:
    """The deterministic Stanh decode y = (s >= N/2) without a weight source: the first state of
    the upper half, N/2.  Defined for even N only -- an odd N's middle state has Stanh weight 1/2,
    which a state decode cannot realize; odd N raises SCValueError (use a weighted FSM with
    :func:`stanh_weights`)."""
    n = check_int("states", states, 2)
    if n % 2:
        raise SCValueError("states", f"the deterministic Stanh decode needs an even state count, "
                                     f"got {n}; for odd N use a weighted FSM with "
                                     f"stanh_weights(N) (middle state weight 1/2)")
    return n // 2


def quantized_weights(weights: np.ndarray, bits: int) -> np.ndarray:
    """FSM weights in [0, 1] as b-bit comparator thresholds floor(w 2^b + 1/2) (weight 1 -> 2^b:
    the comparator R < 2^b is always true)."""
    return np.floor(np.asarray(weights, dtype=np.float64) * (1 << int(bits)) + 0.5).astype(np.int64)


# ----------------------------------------------------------------------------- combinational realizations
def resc_select(copy_bits) -> np.ndarray:
    """The coefficient a ReSC (Bernstein) unit selects in cycle t: k_t = the number of ones among
    its n copies' bits that cycle (copies on axis -2, cycles last), in 0..n; the output bit is
    ``R'_t < Bq[k_t]`` with the unit's own coefficient source R' (docs/semantics.md §5.4)."""
    return np.asarray(copy_bits, dtype=np.int64).sum(axis=-2)


def resc_copy_width(degree: int) -> int:
    """Width of the LFSRs that make a ReSC unit's n copies: 16 bits up to n = 16, 24 above.  The
    copies are phases of one m-sequence, so in each cycle they are n linear images of one W-bit
    state; for large n a 16-bit state makes their adder's count measurably non-binomial (n = 89:
    the mean output is off its analytic value by 2.6 binomial standard errors RMS, 1.2 at 24 bits)."""
    return 16 if int(degree) <= 16 else 24


def lut_address(x, bits: int, lo: float, hi: float) -> np.ndarray:
    """The table entry a LUT+SNG unit reads for a binary input value x in [lo, hi]: the uniform
    quantizer a = min(floor((x - lo) / (hi - lo) * 2^k), 2^k - 1) (x = hi reads the last entry)."""
    k = 1 << int(bits)
    a = np.floor((np.asarray(x, dtype=np.float64) - lo) / (hi - lo) * k).astype(np.int64)
    return np.clip(a, 0, k - 1)


# ----------------------------------------------------------------------------- decoding, statistics
def sign_decode(count, length: int) -> np.ndarray:
    """h = sign of a counted bipolar stream: +1 when 2 C >= L (ties to +1, as sign(0) = +1), else -1."""
    return np.where(2 * np.asarray(count) >= int(length), 1.0, -1.0)


def ternary_state(x, threshold):
    """The GXNOR ternary hidden state (Deng et al.): +1 where ``x >= threshold``, -1 where
    ``x <= -threshold``, else 0 (threshold r > 0), i.e. sign(x) [|x| >= r] with ties at |x| = r
    going to +-1.  The one definition of the rule: training's forward (torch tensors: the result
    is a float tensor), the reference, the design reference and the runtimes' count decode
    (:func:`ternary_decode`) all call it; numpy in, float64 out."""
    return 1.0 * (x >= threshold) - 1.0 * (x <= -threshold)


def ternary_count_threshold(threshold: float, length: int) -> int:
    """The integer threshold k of a ternary decode over L cycles: the smallest k with
    ``k / L >= threshold`` (float64), so that ``ternary_state((2 C - L) / L, r)`` equals
    ``ternary_state(2 C - L, k)`` for every count C in 0..L (k >= 1 for r > 0)."""
    r, L = float(threshold), int(length)
    if not (np.isfinite(r) and r > 0):
        raise SCValueError("hidden_threshold", f"must be a positive finite number, got {threshold!r}")
    k = max(1, int(np.ceil(r * L)))
    while k > 1 and (k - 1) / L >= r:
        k -= 1
    while k / L < r:
        k += 1
    return k


def ternary_decode(count, length: int, k: int) -> np.ndarray:
    """h in {-1, 0, +1} of a counted bipolar stream (C ones in L cycles): :func:`ternary_state`
    of d = 2 C - L against the integer threshold ``k`` (:func:`ternary_count_threshold`)."""
    return ternary_state(2 * np.asarray(count, dtype=np.float64) - int(length), int(k))


def bipolar_count(count, length: int) -> np.ndarray:
    """The signed integer of a counted bipolar stream: 2 C - L for C ones in L cycles (E = L x for
    a stream of value x); a fixed-point head's operand (int64; an expected count, float, stays
    float)."""
    c = np.asarray(count)
    return 2 * (c.astype(np.float64) if c.dtype.kind == "f" else c.astype(np.int64)) - int(length)


def int_mac_operands(values, operands: str, length: int, operand_scale: float = 1.0) -> np.ndarray:
    """The integer operands o_j of a fixed-point head (``int_mac``): the exact codes
    round(v / operand_scale) in {-1, 0, 1} (``operands="codes"``), or the bipolar counts 2 c - L of
    per-input stream counts c (``"counts"``, :func:`bipolar_count`; an expected count stays float)."""
    if operands == "codes":
        return np.rint(np.asarray(values, dtype=np.float64) / float(operand_scale)).astype(np.int64)
    if operands == "counts":
        return bipolar_count(values, length)
    raise SCValueError("operands", f"must be 'codes' or 'counts', got {operands!r}")


def int_mac(wq, o) -> np.ndarray:
    """A fixed-point head's accumulators acc_r = sum_j Wq_rj o_j over the last axis of ``o``
    (int64, exact; float operands -- expected counts -- give float).  The order in which a
    sequential MAC adds the products does not change the integer sum."""
    o = np.asarray(o)
    w = np.asarray(wq, dtype=np.int64)
    return o @ (w.T if o.dtype.kind != "f" else w.T.astype(np.float64))


#: ``head_macs`` of a fully parallel (combinational) fixed-point head
FULL_MACS = "full"


def mac_cycles(products: int, macs: int) -> int:
    """Cycles of a sequential (folded) MAC: ceil(products / P) for P shared multiply-accumulate
    units (products = outputs x inputs, zero weights included: a fixed schedule)."""
    n = check_int("products", products, 1)
    return -(-n // check_int("head_macs", macs, 1, n))


def mac_latency(products: int, macs: int | None) -> int:
    """Cycles from the one in which a head's operands are final to the one in which its
    accumulators are: 0 for a fully parallel head (``macs`` None: combinational), else one
    operand-capture cycle + ceil(products / P) accumulate cycles."""
    return 0 if macs is None else 1 + mac_cycles(products, macs)


def auto_macs(products: int, period: int) -> int:
    """``head_macs: auto``: the smallest P whose latency (:func:`mac_latency`) fits one step period
    of ``period`` cycles (the head then overlaps the next step's cycles without stretching it);
    P = products (one cycle) when even that is longer than the period."""
    n = check_int("products", products, 1)
    p = check_int("period", period, 1)
    if p < 2:
        return n
    return min(n, -(-n // (p - 1)))


def mac_schedule(rows: int, cols: int, macs: int) -> list[list[tuple[int, int]]]:
    """Which product a sequential MAC's unit computes in each cycle: the products in row-major
    order m = r * cols + j, unit u taking the contiguous block m in [u C, (u + 1) C) (C =
    :func:`mac_cycles`), one per cycle; unit u's cycle c is ``schedule[u][c]`` = (r, j).  A unit
    keeps one partial sum per row its block touches; acc_r is the sum of the partials of row r."""
    n = check_int("rows", rows, 1) * check_int("cols", cols, 1)
    c = mac_cycles(n, macs)
    return [[divmod(m, cols) for m in range(u * c, min((u + 1) * c, n))] for u in range(macs)
            if u * c < n]


def bipolar_count_width(length: int) -> int:
    """Two's-complement bits of 2 C - L, C in 0..L: ``unsigned_width(L) + 1``."""
    return signed_width(-int(length), int(length))


def cell_sign_thresholds(scale: np.ndarray | None, shift: np.ndarray | None, cell_range: int, length: int,
                         size: int) -> tuple[np.ndarray, np.ndarray]:
    """The binary hidden state of an LSTM read off its cell state (``sign_from: cell``):
    h = sign(o tanh(s c + m)) = sign(s c + m) because o > 0, with c = clip(C / L, -K, K), C this
    step's signed count of c's integral stream (s, m: bn_c's per-step affine, 1 and 0 without).

    Returns ``(ge, thr)``, int64 (T, size): h = +1 iff ``C >= thr`` (ge = 1) or ``C <= thr``
    (ge = 0), else -1 (ties to +1, as sign(0) = +1).  s > 0: c >= theta = -m/s, i.e.
    C >= ceil(theta L) for -K < theta <= K; s < 0: C <= floor(theta L) for -K <= theta < K;
    outside those ranges (and for s = 0) h is constant: thr = -(K+1) L (always) or (K+1) L + 1
    (never) with ge = 1, the count range of c's counter widened by one."""
    K, L = int(cell_range), int(length)
    s = np.ones((1, size)) if scale is None else np.asarray(scale, dtype=np.float64).reshape(-1, size)
    m = np.zeros((1, size)) if shift is None else np.asarray(shift, dtype=np.float64).reshape(-1, size)
    s, m = np.broadcast_arrays(s, m)
    always, never = -(K + 1) * L, (K + 1) * L + 1
    ge = np.ones(s.shape, dtype=np.int64)
    thr = np.full(s.shape, never, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        theta = np.where(s != 0, -m / np.where(s != 0, s, 1.0), 0.0)
    pos, neg = s > 0, s < 0
    thr[(s == 0) & (m >= 0)] = always
    thr[pos & (theta <= -K)] = always
    mid = pos & (theta > -K) & (theta <= K)
    thr[mid] = np.ceil(theta[mid] * L).astype(np.int64)
    thr[neg & (theta >= K)] = always
    mid = neg & (theta >= -K) & (theta < K)
    thr[mid] = np.floor(theta[mid] * L).astype(np.int64)
    ge[mid] = 0
    return ge, thr


def cell_sign(count, ge: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """h = +1 / -1 from this step's cell count and one row of :func:`cell_sign_thresholds`."""
    c = np.asarray(count)
    return np.where(np.where(ge != 0, c >= thr, c <= thr), 1.0, -1.0)


def stats_row(step: int, rows: int) -> int:
    """The row of a per-step table (batch-norm statistics, bias constants, WFSM table banks) that
    time step ``step`` reads: min(step, rows - 1) -- steps beyond the last row reuse the last."""
    return min(int(step), int(rows) - 1)


def stats_rows(steps: int, rows: int) -> np.ndarray:
    """:func:`stats_row` of the steps 0..steps-1 at once, (steps,) int64."""
    return np.minimum(np.arange(int(steps)), int(rows) - 1)


# ----------------------------------------------------------------------------- source wiring
def comparator_bits(node) -> int:
    """Bits b of the random number a comparator node's elements read: an SNG bank's ``bits``, a
    WFSM's ``weight_bits`` (its weight comparator ``R' < Wq[s]``)."""
    return int(node.params["bits"] if node.op == "sng" else node.params["weight_bits"])


def comparator_random(state: int, taps) -> int:
    """The random number a comparator reads from its source register's state s_t:
    ``R_t = sum_k bit(s_t, taps[k]) << k`` (docs/semantics.md §2.4; taps = 0..b-1 is the low
    b bits, ``s_t & (2^b - 1)``)."""
    return sum(((int(state) >> int(t)) & 1) << k for k, t in enumerate(taps))


# ------------------------------------------------------------------- sequence-level heads
#: what a ``LastStep`` keeps (``ir.model.LastStep.select``): the output at the last step, or after
#: a bidirectional layer its directions' final states (both, the forward one, the backward one)
LAST_STEP_SELECTS = ("last", "final", "forward", "backward")


def last_step_select(seq, select: str = "last"):
    """The one step a ``LastStep`` hands on, ``(B, T, F) -> (B, 1, ·)`` (the float reference, the
    design reference, both runtimes, their traces and the fixed-point model call this): ``"last"``
    the output at step T - 1; after a bidirectional layer (``F = 2H``, forward half first, the
    backward half in the sequence's time order) ``"final"`` = concat(forward h_{T-1}, backward h_0)
    (each direction's final state: the backward one ran from step T - 1 down to 0),
    ``"forward"`` = forward h_{T-1} (H), ``"backward"`` = backward h_0 (H).  Works on any array
    with the time axis 1 and the features last (a trace of (B, T, ..., F))."""
    if select not in LAST_STEP_SELECTS:
        raise SCValueError("select", f"must be one of {', '.join(LAST_STEP_SELECTS)}, got {select!r}")
    if select == "last":
        return seq[:, -1:]
    hidden = seq.shape[-1] // 2
    if select == "forward":
        return seq[:, -1:, ..., :hidden]
    if select == "backward":
        return seq[:, :1, ..., hidden:]
    return np.concatenate([seq[:, -1:, ..., :hidden], seq[:, :1, ..., hidden:]], axis=-1)


# ------------------------------------------------------------------------- input SNG scale
def input_accepted(values, bound: float) -> np.ndarray:
    """Which input values a layer compiled for the range [-bound, bound] accepts: |x| <= bound,
    exactly (no tolerance: every value the range was taken from -- the calibration's own max |x|
    -- is accepted, and every accepted value is encodable, :func:`covering_scale`)."""
    return np.abs(np.asarray(values, dtype=np.float64)) <= float(bound)


def covering_scale(scale: float, bound: float) -> float:
    """The SNG scale s of an input bank of range [-bound, bound] (the bank encodes x / s): the
    computed ``scale`` (e.g. u / a_x with u = |a_x| bound, which floating point may round one ulp
    below ``bound``) moved away from zero by ulps until bound / |s| <= 1, so that every accepted
    |x| <= bound encodes to |x / s| <= 1 (division is monotone).  Both runtimes and the RTL
    testbench read the scale from the node, so all encode with it."""
    s = float(scale)
    b = float(bound)
    while s != 0 and np.isfinite(s) and b / abs(s) > 1.0:
        s = float(np.nextafter(s, np.copysign(np.inf, s)))
    return s


def covering_gain(gain, bound: float) -> np.ndarray:
    """The per-step / per-row input gains g of a bank encoding x g (the counterpart of
    :func:`covering_scale`): each moved toward zero by ulps until bound |g| <= 1."""
    g = np.array(gain, dtype=np.float64)
    b = float(bound)
    bad = np.abs(g) * b > 1.0
    while np.any(bad):
        g[bad] = np.nextafter(g[bad], 0.0)
        bad = np.abs(g) * b > 1.0
    return g
