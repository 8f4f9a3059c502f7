"""Input models of a saturating-counter FSM: what the counter sees per cycle.

A binary stream moves the counter by +-1; an integral stream (e.g. the output of a parallel
counter over M bipolar streams) moves it by a signed integer d_t.  The steady state of an
integral FSM depends on the whole distribution of d_t, not only on its mean (docs/background.md §3), so
synthesis needs an explicit model.  Every model answers one question: on which evaluation
points x (the value the input encoding represents) and with which per-cycle increment
distribution P(d | x) the FSM is driven.

* :class:`BinaryInput` -- d in {-1, +1}, P(+1) = (1+x)/2, x in [-1, 1] (bipolar stream).
* :class:`BinomialInput` -- the sum of M i.i.d. bipolar streams each encoding x/M:
  d = 2k - M, k ~ Binomial(M, (1 + x/M)/2), x in [-M, M].
* :class:`PoissonBinomialInput` -- given operand values (S, M) (e.g. calibration data), operand j
  is a bipolar stream of value a_sj; d = 2k - M with k Poisson-binomial; x_s = sum_j a_sj.
* :class:`EmpiricalInput` -- measured histograms of increments, one per sample; x_s = E[d].

Grid models (binary, binomial) are evaluated on a grid over the domain; sample models
(Poisson-binomial, empirical) on their samples, i.e. the fit is weighted by the empirical density.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Union

import numpy as np
from scipy import stats

from ..errors import LimitError, SCValueError
from ..sim.rules import check_int


@dataclass(frozen=True)
class IncrementTable:
    """Increment distributions at the evaluation points.

    ``x``: (G,) represented values; ``deltas``: (K,) integer increments; ``pmf``: (G, K) with rows
    summing to 1; ``density``: (G,) quadrature weights or None (the caller builds them).
    """

    x: np.ndarray
    deltas: np.ndarray
    pmf: np.ndarray
    density: np.ndarray | None = None


@dataclass(frozen=True)
class BinaryInput:
    """A bipolar binary stream: the linear FSM of Brown & Card."""

    kind: str = field(default="binary", init=False)

    @property
    def domain(self) -> tuple[float, float]:
        return (-1.0, 1.0)

    @property
    def max_step(self) -> int:
        return 1

    @property
    def name(self) -> str:
        return "binary"

    def key(self) -> str:
        return "binary"

    def increments(self, x: np.ndarray) -> IncrementTable:
        x = _check_in_domain(np.asarray(x, dtype=float), self.domain)
        p = (1.0 + x) / 2.0
        return IncrementTable(x, np.array([-1, 1]), np.stack([1.0 - p, p], axis=1))


@dataclass(frozen=True)
class BinomialInput:
    """Sum of ``operands`` independent bipolar streams, all encoding x/M (an APC output)."""

    operands: int
    kind: str = field(default="binomial", init=False)

    def __post_init__(self) -> None:
        check_int("operands", self.operands, 1)

    @property
    def domain(self) -> tuple[float, float]:
        return (-float(self.operands), float(self.operands))

    @property
    def max_step(self) -> int:
        return int(self.operands)

    @property
    def name(self) -> str:
        return f"integral:{self.operands}"

    def key(self) -> str:
        return f"binomial:{self.operands}"

    def increments(self, x: np.ndarray) -> IncrementTable:
        m = int(self.operands)
        x = _check_in_domain(np.asarray(x, dtype=float), self.domain)
        p = np.clip((1.0 + x / m) / 2.0, 0.0, 1.0)
        k = np.arange(m + 1)
        pmf = stats.binom.pmf(k[None, :], m, p[:, None])
        return IncrementTable(x, 2 * k - m, pmf / pmf.sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class PoissonBinomialInput:
    """Operand values (S, M), each a bipolar stream of its own; the counter adds 2*popcount - M."""

    operand_values: tuple[tuple[float, ...], ...]
    kind: str = field(default="poisson-binomial", init=False)

    @classmethod
    def from_array(cls, values) -> "PoissonBinomialInput":
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
            raise SCValueError("operand_values", f"need an (S>=2, M>=1) array, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1.0):
            raise SCValueError("operand_values", "bipolar operand values must lie in [-1, 1]")
        return cls(tuple(tuple(float(v) for v in row) for row in arr))

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.operand_values, dtype=float)

    @property
    def domain(self) -> tuple[float, float]:
        m = float(len(self.operand_values[0]))
        return (-m, m)

    @property
    def max_step(self) -> int:
        return len(self.operand_values[0])

    @property
    def name(self) -> str:
        return f"poisson-binomial:{len(self.operand_values[0])}x{len(self.operand_values)}"

    def key(self) -> str:
        return "pb:" + hashlib.sha256(self.array.tobytes()).hexdigest()[:16]

    def increments(self, x: np.ndarray | None = None) -> IncrementTable:
        ops = self.array
        m = ops.shape[1]
        pmf = poisson_binomial_pmf((1.0 + ops) / 2.0)
        return IncrementTable(ops.sum(axis=1), 2 * np.arange(m + 1) - m, pmf)


@dataclass(frozen=True)
class EmpiricalInput:
    """Measured increment histograms: ``deltas`` (K,) integers, ``counts`` (S, K), one row per sample."""

    deltas: tuple[int, ...]
    counts: tuple[tuple[float, ...], ...]
    kind: str = field(default="empirical", init=False)

    @classmethod
    def from_arrays(cls, deltas, counts) -> "EmpiricalInput":
        d = np.asarray(deltas)
        c = np.asarray(counts, dtype=float)
        if d.ndim != 1 or not np.issubdtype(d.dtype, np.integer) or len(np.unique(d)) != len(d):
            raise SCValueError("deltas", "need distinct integer increments")
        if c.ndim == 1:
            c = c[None, :]
        if c.ndim != 2 or c.shape[1] != len(d) or c.shape[0] < 1:
            raise SCValueError("counts", f"need shape (S, {len(d)}), got {c.shape}")
        if np.any(c < 0) or not np.all(np.isfinite(c)) or np.any(c.sum(axis=1) <= 0):
            raise SCValueError("counts", "histograms must be finite, non-negative and non-empty")
        return cls(tuple(int(v) for v in d), tuple(tuple(float(v) for v in row) for row in c))

    @property
    def domain(self) -> tuple[float, float]:
        m = float(max(abs(v) for v in self.deltas))
        return (-m, m)

    @property
    def max_step(self) -> int:
        return int(max(abs(v) for v in self.deltas))

    @property
    def name(self) -> str:
        return f"empirical:{len(self.counts)}"

    def key(self) -> str:
        blob = np.asarray(self.deltas).tobytes() + np.asarray(self.counts).tobytes()
        return "emp:" + hashlib.sha256(blob).hexdigest()[:16]

    def increments(self, x: np.ndarray | None = None) -> IncrementTable:
        c = np.asarray(self.counts, dtype=float)
        pmf = c / c.sum(axis=1, keepdims=True)
        d = np.asarray(self.deltas)
        return IncrementTable(pmf @ d, d, pmf)


InputModel = Union[BinaryInput, BinomialInput, PoissonBinomialInput, EmpiricalInput]
GRID_MODELS = (BinaryInput, BinomialInput)

_INTEGRAL_RE = re.compile(r"^integral:(\d+)$")
#: the largest M of an ``integral:M`` input spec (its tables grow with grid x M)
MAX_INTEGRAL_OPERANDS = 16384


def parse_input(spec: "str | InputModel") -> InputModel:
    """``"binary"`` | ``"integral:M"`` | an input-model instance -> an input model."""
    if isinstance(spec, (BinaryInput, BinomialInput, PoissonBinomialInput, EmpiricalInput)):
        return spec
    if isinstance(spec, str):
        s = spec.strip().lower()
        if s == "binary":
            return BinaryInput()
        m = _INTEGRAL_RE.match(s)
        if m and (len(m.group(1)) > 9 or int(m.group(1)) > MAX_INTEGRAL_OPERANDS):  # before any table is built
            digits = m.group(1)
            raise LimitError("input integral:M", int(digits) if len(digits) <= 9 else f"{digits[:12]}...",
                             MAX_INTEGRAL_OPERANDS, "operands")
        if m and int(m.group(1)) >= 1:
            return BinomialInput(int(m.group(1)))
    raise SCValueError("input", f"expected 'binary', 'integral:M' (M >= 1) or an input model, got {spec!r}")


def poisson_binomial_pmf(probs: np.ndarray) -> np.ndarray:
    """(S, M) success probabilities -> (S, M+1) pmf of the number of successes (exact DP)."""
    probs = np.asarray(probs, dtype=float)
    s, m = probs.shape
    pmf = np.zeros((s, m + 1))
    pmf[:, 0] = 1.0
    for j in range(m):
        # after j operands only columns 0..j can be non-zero: update that triangle in place
        p = probs[:, j:j + 1]
        head = pmf[:, :j + 1] * p
        pmf[:, :j + 1] *= 1.0 - p
        pmf[:, 1:j + 2] += head
    return pmf


def gated_operand_input(values, active) -> EmpiricalInput:
    """Operand values (S, M) with an activity mask (S, M) -> the exact increment distribution.

    An active operand is a bipolar stream of its value (+-1 per cycle, P(+1) = (1 + v)/2); an
    inactive one -- a zero ternary weight, or a zero exact input that gates its XNORs off -- adds
    exactly 0 (not a random +-1, which is what a zero-valued stream would add).  Each sample
    becomes one histogram of d = sum of the active operands' +-1, so samples with different
    numbers of active operands share one model.
    """
    v = np.asarray(values, dtype=float)
    a = np.asarray(active, dtype=bool)
    if v.ndim != 2 or v.shape != a.shape or v.shape[0] < 1 or v.shape[1] < 1:
        raise SCValueError("operand_values", f"need matching (S, M) values and mask, got {v.shape} and {a.shape}")
    # a value a rounding step outside [-1, 1] (e.g. -1.0000000000000002 = h / scale of a torch export)
    # is mathematically in range: clipped below; anything further out is refused
    if not np.all(np.isfinite(v)) or np.any(np.abs(v[a]) > 1.0 + 1e-12):
        raise SCValueError("operand_values", "active bipolar operand values must lie in [-1, 1]")
    s, m = v.shape
    # the number k of +1s among the active operands is Poisson-binomial with p = 0 for the
    # inactive ones (they never add a +1 and leave the pmf unchanged); d = 2k - m_active
    p = np.where(a, (1.0 + np.clip(v, -1.0, 1.0)) / 2.0, 0.0)
    pmf_k = poisson_binomial_pmf(p)                                     # (S, m + 1)
    m_on = a.sum(axis=1)
    pmf = np.zeros((s, 2 * m + 1))                                      # column m + d holds P(d)
    cols = m - m_on[:, None] + 2 * np.arange(m + 1)[None, :]            # d = 2k - m_on
    valid = np.arange(m + 1)[None, :] <= m_on[:, None]
    np.add.at(pmf, (np.broadcast_to(np.arange(s)[:, None], cols.shape)[valid], cols[valid]), pmf_k[valid])
    used = np.flatnonzero(pmf.max(axis=0) > 0.0)
    keep = np.arange(used.min(), used.max() + 1)
    return EmpiricalInput.from_arrays(keep - m, pmf[:, keep])


def _check_in_domain(x: np.ndarray, domain: tuple[float, float]) -> np.ndarray:
    lo, hi = domain
    tol = 1e-12 * max(1.0, abs(hi))
    if x.size and (np.any(~np.isfinite(x)) or x.min() < lo - tol or x.max() > hi + tol):
        raise SCValueError("domain", f"input values must lie in the encoding range [{lo:g}, {hi:g}]")
    return np.clip(x, lo, hi)
