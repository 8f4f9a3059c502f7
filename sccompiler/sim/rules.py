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


def check_int(param: str, value: object, lo: int, hi: int | None = None) -> int:
    """Return ``value`` as int if it is an integer in ``[lo, hi]``, else raise SCValueError."""
    if not is_int(value):
        raise SCValueError(param, f"must be an integer, got {value!r}")
    v = int(value)  # type: ignore[arg-type]
    if v < lo or (hi is not None and v > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise SCValueError(param, f"must be in {rng}, got {v}")
    return v


# ----------------------------------------------------------------------------- register widths
def unsigned_width(max_value: int) -> int:
    """Bits of an unsigned register holding 0..max_value (at least 1)."""
    return max(1, int(max_value).bit_length())


def signed_width(lo: int, hi: int) -> int:
    """Bits of a two's-complement register holding lo..hi (lo <= 0 <= hi; at least 1)."""
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
    an odd function of the input for every N (docs/semantics.md §3)."""
    n = int(states)
    w = (np.arange(n) >= n / 2).astype(np.float64)
    if n % 2:
        w[n // 2] = 0.5
    return w


def quantized_weights(weights: np.ndarray, bits: int) -> np.ndarray:
    """FSM weights in [0, 1] as b-bit comparator thresholds floor(w 2^b + 1/2) (weight 1 -> 2^b:
    the comparator R < 2^b is always true)."""
    return np.floor(np.asarray(weights, dtype=np.float64) * (1 << int(bits)) + 0.5).astype(np.int64)


# ----------------------------------------------------------------------------- decoding, statistics
def sign_decode(count, length: int) -> np.ndarray:
    """h = sign of a counted bipolar stream: +1 when 2 C >= L (ties to +1, as sign(0) = +1), else -1."""
    return np.where(2 * np.asarray(count) >= int(length), 1.0, -1.0)


def stats_row(step: int, rows: int) -> int:
    """The row of a per-step table (batch-norm statistics, bias constants, WFSM table banks) that
    time step ``step`` reads: min(step, rows - 1) -- steps beyond the last row reuse the last."""
    return min(int(step), int(rows) - 1)
