"""Random sources for stochastic number generators (SNGs).

One definition per source, shared by the simulator, the analysis code and the Verilog backend:

* Galois LFSRs of width 3..32 with one maximal-length tap mask per width (:data:`TAPS`).  One step
  is ``lsb = s & 1; s >>= 1; if lsb: s ^= TAPS[W]``.  A source advances ``stride`` steps per clock
  (leap-forward, default ``stride = W``) so that consecutive outputs share no shifted bits; in
  hardware the leap is the XOR network :func:`leap_matrix`.  ``R_t = s_t & (2^n - 1)`` where ``s_t``
  is the state at the start of cycle ``t``.
* Low-discrepancy (van der Corput = Sobol dimension 1):
  ``R_t = bitreverse_n((offset + t) mod 2^n)``.
* Ideal: a seeded numpy ``Generator`` (PCG64), ``R_t`` uniform in ``[0, 2^n)``; analysis only.
* Sobol registers of compiled designs (docs/semantics.md §2.5): dimension d of the Joe-Kuo
  sequence in Gray-code order, ``x_{u+1} = x_u ^ v_{d, c(u)}`` restarting at a digital shift
  every window (:func:`sobol_sequence`); the direction numbers are those of scipy's table.

The tap table was found by searching, for each width, the trinomial or pentanomial masks (top bit
set) whose step matrix has multiplicative order exactly ``2^W - 1`` (checked against every prime
factor of ``2^W - 1``), keeping the one whose default leap network ``A^W`` has the fewest XOR
inputs (cheapest in hardware and in the bit-sliced kernel).  :func:`is_maximal_length` repeats
the proof and the tests run it for every width.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import SCValueError
from .rules import check_int, is_int, unsigned_width  # noqa: F401 -- re-exported

MIN_WIDTH = 3
MAX_WIDTH = 32

#: maximal-length Galois tap masks (right-shift form, bit W-1 always set), width -> mask
TAPS: dict[int, int] = {
    3: 0x5, 4: 0xC, 5: 0x14, 6: 0x30, 7: 0x60, 8: 0xB4, 9: 0x110, 10: 0x240, 11: 0x500,
    12: 0x960, 13: 0x1290, 14: 0x2540, 15: 0x6000, 16: 0x8610, 17: 0x12000, 18: 0x20400,
    19: 0x48024, 20: 0x90000, 21: 0x140000, 22: 0x300000, 23: 0x420000, 24: 0xD80000,
    25: 0x1200000, 26: 0x2109000, 27: 0x4090200, 28: 0x9000000, 29: 0x14000000,
    30: 0x22011000, 31: 0x48000000, 32: 0x90048000,
}

SOURCE_KINDS = ("lfsr", "sobol", "ideal")


# ----------------------------------------------------------------------------- validation
# the integer validator is :func:`sccompiler.sim.rules.check_int`, imported above and re-exported
# (``sources.check_int`` is public API)


def check_width(width: object, param: str = "width") -> int:
    """Validate an LFSR width (3..32)."""
    return check_int(param, width, MIN_WIDTH, MAX_WIDTH)


def check_seed(seed: object, width: int, param: str = "seed") -> int:
    """Validate an LFSR seed: ``1 <= seed < 2^width`` (the all-zero state is a lock-up state)."""
    return check_int(param, seed, 1, (1 << width) - 1)


def check_seeds(seeds: np.ndarray, width: int, param: str = "seeds") -> np.ndarray:
    """Validate an array of LFSR seeds; return it as uint64."""
    arr = np.asarray(seeds)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise SCValueError(param, f"must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 1 or arr.max() >= (1 << width)):
        raise SCValueError(param, f"every seed must be in [1, {(1 << width) - 1}] "
                                  f"for width {width}")
    return arr.astype(np.uint64)


# ----------------------------------------------------------------------------- LFSR algebra
def lfsr_step(state: int, width: int) -> int:
    """One Galois step (the contract): ``lsb = s & 1; s >>= 1; if lsb: s ^= TAPS[W]``."""
    lsb = state & 1
    state >>= 1
    if lsb:
        state ^= TAPS[width]
    return state


def step_matrix(width: int, mask: int | None = None) -> tuple[int, ...]:
    """GF(2) matrix of one step as row masks: new bit ``i`` = parity(``s & row[i]``)."""
    mask = TAPS[width] if mask is None else mask
    rows = []
    for i in range(width):
        row = (1 << (i + 1)) if i + 1 < width else 0
        if (mask >> i) & 1:
            row |= 1
        rows.append(row)
    return tuple(rows)


def _matmul(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for row in a:
        acc, j = 0, 0
        while row:
            if row & 1:
                acc ^= b[j]
            row >>= 1
            j += 1
        out.append(acc)
    return tuple(out)


def matrix_power(rows: tuple[int, ...], exponent: int) -> tuple[int, ...]:
    """``rows ** exponent`` over GF(2) (square-and-multiply)."""
    result = tuple(1 << i for i in range(len(rows)))
    base = rows
    while exponent:
        if exponent & 1:
            result = _matmul(result, base)
        base = _matmul(base, base)
        exponent >>= 1
    return result


@lru_cache(maxsize=None)
def leap_matrix(width: int, stride: int) -> tuple[int, ...]:
    """XOR network that advances a width-``width`` LFSR by ``stride`` steps in one clock.

    Row ``i`` is the set of current state bits whose XOR is the next value of bit ``i``; the
    Verilog backend emits exactly these XORs.
    """
    check_width(width)
    check_int("stride", stride, 1)
    return matrix_power(step_matrix(width), stride)


def apply_matrix(rows: tuple[int, ...], states: np.ndarray | int) -> np.ndarray:
    """Apply a GF(2) row-mask matrix to integer state(s) (vectorized over an array)."""
    s = np.asarray(states, dtype=np.uint64)
    out = np.zeros_like(s)
    for i, row in enumerate(rows):
        bit = _parity(s & np.uint64(row))
        out |= bit << np.uint64(i)
    return out


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        x ^= x >> np.uint64(shift)
    return x & np.uint64(1)


def _prime_factors(n: int) -> list[int]:
    factors, d = [], 2
    while d * d <= n:
        if n % d == 0:
            factors.append(d)
            while n % d == 0:
                n //= d
        d += 1 if d == 2 else 2
    if n > 1:
        factors.append(n)
    return factors


def is_maximal_length(width: int, mask: int) -> bool:
    """True iff the Galois LFSR (width, mask) cycles through all ``2^W - 1`` nonzero states."""
    period = (1 << width) - 1
    rows = step_matrix(width, mask)
    identity = tuple(1 << i for i in range(width))
    if matrix_power(rows, period) != identity:
        return False
    return all(matrix_power(rows, period // q) != identity for q in _prime_factors(period))


def byte_tables(rows: tuple[int, ...]) -> np.ndarray:
    """Lookup tables ``T[k, v]`` = image of byte ``v`` at byte position ``k`` under a GF(2) map.

    ``apply(rows, s) == T[0, s & 255] ^ T[1, (s >> 8) & 255] ^ ...`` — the per-stream kernels use
    this to leap ``stride`` steps with four lookups.
    """
    width = len(rows)
    nbytes = (width + 7) // 8
    tab = np.zeros((4, 256), dtype=np.uint64)
    values = np.arange(256, dtype=np.uint64)
    for k in range(nbytes):
        tab[k] = apply_matrix(rows, values << np.uint64(8 * k)) if 8 * k < width else 0
    return tab


# ----------------------------------------------------------------------------- source spec
@dataclass(frozen=True)
class SourceSpec:
    """One random source of a design.

    kind: "lfsr" | "sobol" | "ideal".  For "lfsr": ``width`` is the register width, ``seed`` its
    reset value and ``stride`` the steps per clock (0 means the default, ``width``).  For "sobol":
    ``seed`` is the offset of the van der Corput counter.  For "ideal": ``seed`` seeds PCG64.
    """

    kind: str
    width: int
    seed: int
    stride: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise SCValueError("source", f"must be one of {SOURCE_KINDS}, got {self.kind!r}")
        check_width(self.width)
        if self.kind == "lfsr":
            check_seed(self.seed, self.width)
            check_int("stride", self.stride, 0)
        else:
            check_int("seed", self.seed, 0)

    @property
    def steps_per_cycle(self) -> int:
        return self.stride or self.width

    def sequence(self, length: int, bits: int | None = None, start: int = 0) -> np.ndarray:
        """``R_t`` for ``t = start .. start+length-1`` as uint64, ``bits`` (default width) wide."""
        return source_sequence(self, length, bits, start)


def lfsr_states(width: int, seed: int, length: int, stride: int | None = None,
                start: int = 0) -> np.ndarray:
    """States ``s_t`` (at the start of cycle t) of a leap-forward LFSR, t = start..start+L-1."""
    from .kernels import lfsr_state_sequence  # noqa: PLC0415  (numba loads lazily)

    check_width(width)
    check_seed(seed, width)
    stride = width if stride is None else check_int("stride", stride, 1)
    check_int("length", length, 0)
    check_int("start", start, 0)
    period = (1 << width) - 1
    s0 = int(apply_matrix(matrix_power(step_matrix(width), stride * start % period), seed))
    return lfsr_state_sequence(byte_tables(leap_matrix(width, stride)), np.uint64(s0), length)


def bitreverse(values: np.ndarray, bits: int) -> np.ndarray:
    """Reverse the low ``bits`` bits of each value."""
    v = np.asarray(values, dtype=np.uint64)
    out = np.zeros_like(v)
    for i in range(bits):
        out |= ((v >> np.uint64(i)) & np.uint64(1)) << np.uint64(bits - 1 - i)
    return out


def vdc_sequence(bits: int, offset: int, length: int, start: int = 0) -> np.ndarray:
    """van der Corput (Sobol dimension 1): ``R_t = bitreverse_n((offset + t) mod 2^n)``."""
    t = np.arange(start, start + length, dtype=np.uint64)
    mask = np.uint64((1 << bits) - 1)
    return bitreverse((t + np.uint64(offset)) & mask, bits)


def ideal_sequence(bits: int, seed: int, length: int, start: int = 0) -> np.ndarray:
    """Ideal source: PCG64(seed), R_t uniform in [0, 2^bits) (``start`` skips draws)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    values = rng.integers(0, 1 << bits, size=start + length, dtype=np.uint64)
    return values[start:]


def source_sequence(spec: SourceSpec, length: int, bits: int | None = None,
                    start: int = 0) -> np.ndarray:
    """R_t of a source for ``length`` cycles, truncated to ``bits`` (<= width) low bits."""
    bits = spec.width if bits is None else check_int("bits", bits, 1, spec.width)
    check_int("length", length, 0)
    if spec.kind == "lfsr":
        states = lfsr_states(spec.width, spec.seed, length, spec.steps_per_cycle, start)
        return states & np.uint64((1 << bits) - 1)
    if spec.kind == "sobol":
        return vdc_sequence(bits, spec.seed, length, start)
    return ideal_sequence(bits, spec.seed, length, start)


# ----------------------------------------------------------------------------- Sobol (compiled designs)
#: precision of the direction numbers taken from scipy (a b-bit source keeps their top b bits)
SOBOL_PRECISION = 32
#: dimensions of scipy's Joe-Kuo table (new-joe-kuo-6.21201)
SOBOL_MAX_DIMS = 21201
#: direction numbers per dimension (a window of up to 2^SOBOL_MAX_DIRECTIONS cycles)
SOBOL_MAX_DIRECTIONS = 24


def trailing_ones(t: np.ndarray | int) -> np.ndarray:
    """c(t): the number of trailing one bits of ``t`` (the Gray-code step's direction index)."""
    v = np.asarray(t, dtype=np.uint64)
    out = np.zeros(v.shape, dtype=np.int64)
    live = np.ones(v.shape, dtype=bool)
    for k in range(64):
        live &= ((v >> np.uint64(k)) & np.uint64(1)).astype(bool)
        if not live.any():
            break
        out += live
    return out


@lru_cache(maxsize=4)
def _direction_table(dims: int) -> np.ndarray:
    """(dims, SOBOL_MAX_DIRECTIONS) uint64: the SOBOL_PRECISION-bit direction numbers of
    the Joe-Kuo table scipy ships (``scipy/stats/_sobol_direction_numbers.npz``: primitive
    polynomial ``poly`` and initial numbers ``vinit`` per dimension), by the recurrence of scipy's
    unscrambled ``qmc.Sobol`` (Bratley-Fox / Joe-Kuo): for a degree-s polynomial with inner
    coefficients a_1..a_{s-1}, ``m_j = m_{j-s} ^ (2^s m_{j-s}) ^ XOR_i a_i 2^i m_{j-i}``;
    ``v_j = m_j << (P - 1 - j)``.  The tests check the points against scipy's."""
    import importlib.util  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    spec = importlib.util.find_spec("scipy")               # the file only: importing scipy.stats is slow
    root = Path(next(iter(spec.submodule_search_locations or [])))
    with np.load(root / "stats" / "_sobol_direction_numbers.npz") as z:
        poly, vinit = z["poly"][:dims].astype(np.int64), z["vinit"][:dims].astype(np.uint64)
    n, cols = dims, SOBOL_MAX_DIRECTIONS
    m = np.zeros((n, cols), dtype=np.uint64)
    m[0] = 1                                                   # dimension 0: van der Corput
    deg = np.floor(np.log2(np.maximum(poly, 1))).astype(np.int64)
    deg[0] = 0
    for j in range(cols):
        init = (deg > j) & (np.arange(n) > 0)
        if init.any():
            m[init, j] = vinit[init, j]
        rec = (deg <= j) & (np.arange(n) > 0)
        for s_ in np.unique(deg[rec]):
            rows = np.flatnonzero(rec & (deg == s_))
            new = m[rows, j - s_]
            for k in range(s_):
                bit = ((poly[rows] >> (s_ - 1 - k)) & 1).astype(bool)
                new = new ^ np.where(bit, m[rows, j - k - 1] << np.uint64(k + 1), np.uint64(0))
            m[rows, j] = new
    shifts = np.array([SOBOL_PRECISION - 1 - j for j in range(cols)], dtype=np.uint64)
    return m << shifts[None, :]


def sobol_directions(dim: int, bits: int, count: int) -> tuple[int, ...]:
    """Direction numbers ``v_{d,0..count-1}`` of Sobol dimension ``dim`` (0 = van der Corput),
    ``bits`` wide: the top ``bits`` bits of the 32-bit Joe-Kuo direction numbers."""
    check_int("dim", dim, 0, SOBOL_MAX_DIMS - 1)
    check_int("bits", bits, 1, SOBOL_PRECISION)
    check_int("count", count, 0, SOBOL_MAX_DIRECTIONS)
    dims = 256
    while dims <= dim:
        dims *= 4
    table = _direction_table(min(dims, SOBOL_MAX_DIMS))
    return tuple(int(v) >> (SOBOL_PRECISION - bits) for v in table[dim, :count])


def sobol_first_rows(dims: int, count: int) -> np.ndarray:
    """(dims,) int64: per dimension the first row of its generator matrix over ``count`` columns,
    bit k = the most significant bit of ``v_{d,k}`` -- the top random bit of the points is the
    parity of ``gray(t) & row``.  Two dimensions with equal rows have identical top bits."""
    check_int("dims", dims, 1, SOBOL_MAX_DIMS)
    check_int("count", count, 0, SOBOL_MAX_DIRECTIONS)
    size = 256
    while size < dims:
        size *= 4
    table = _direction_table(min(size, SOBOL_MAX_DIMS))[:dims, :count]
    top = ((table >> np.uint64(SOBOL_PRECISION - 1)) & np.uint64(1)).astype(np.int64)
    return (top << np.arange(count, dtype=np.int64)[None, :]).sum(axis=1)


def sobol_direction_count(window: int) -> int:
    """Direction numbers a source restarting every ``window`` cycles uses: c(t) for t < window - 1."""
    check_int("window", window, 1, 1 << SOBOL_MAX_DIRECTIONS)
    return unsigned_width(window - 1)             # the bits of the cycle index u = 0 .. window - 1


def sobol_sequence(dim: int, bits: int, length: int, shift: int = 0, window: int | None = None,
                   start: int = 0) -> np.ndarray:
    """``R_t`` of a Sobol source for ``t = start .. start+length-1`` (docs/semantics.md §2.5).

    The register restarts at ``x_0 = shift`` every ``window`` cycles (None: never) and steps
    ``x_{u+1} = x_u ^ v_{d, c(u)}`` (u the cycle within the window, c the trailing ones,
    ``v_{d,k} = 0`` for ``k >= sobol_direction_count(window)``); closed form
    ``x_u = shift ^ XOR_{k: bit k of gray(u)} v_{d,k}``, gray(u) = u ^ (u >> 1)."""
    check_int("bits", bits, 1, SOBOL_PRECISION)
    check_int("shift", shift, 0, (1 << bits) - 1)
    check_int("length", length, 0)
    check_int("start", start, 0)
    count = SOBOL_MAX_DIRECTIONS if window is None else sobol_direction_count(window)
    v = sobol_directions(dim, bits, count)
    t = np.arange(start, start + length, dtype=np.uint64)
    u = t if window is None else t % np.uint64(window)
    gray = u ^ (u >> np.uint64(1))
    x = np.full(t.shape, shift, dtype=np.uint64)
    for k, vk in enumerate(v):
        x ^= np.where((gray >> np.uint64(k)) & np.uint64(1), np.uint64(vk), np.uint64(0))
    if window is None and length and int(u.max()) >= 1 << SOBOL_MAX_DIRECTIONS:
        raise SCValueError("length", f"a Sobol source runs at most 2^{SOBOL_MAX_DIRECTIONS} cycles")
    return x


def sobol_step(x: int, u: int, directions: tuple[int, ...]) -> int:
    """One clock of a Sobol register (the contract the RTL implements): cycle ``u`` of the window,
    ``x ^ v[c(u)]`` (0 beyond the table)."""
    c = int(trailing_ones(u))
    return x ^ (directions[c] if c < len(directions) else 0)
