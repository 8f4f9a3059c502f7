"""Seed allocation and correlation analysis.

Every SNG of a design gets its own source from one :class:`SourceAllocator`; sharing a source is
only possible by naming the same source explicitly.  LFSR sources of one width share the tap mask,
so independence comes from phase: the allocator places the k-th LFSR seed ``k * spacing`` steps
along the m-sequence from a base seed, ``spacing`` = the largest value <= ``(2^W - 1) /
max_sources`` coprime to ``2^W - 1`` (so that no few sources are XOR-combinations of others).  A spacing
of at least ``2 W`` steps keeps two sources from sharing shifted state bits in the same cycle (an
error below that); :attr:`SourceAllocator.windows_disjoint` tells whether, in addition, no two
sources visit the same states during a run of ``length`` cycles (``spacing >= stride * length``).

:func:`scc` is the stochastic cross-correlation of Alaghi & Hayes; :func:`check_uncorrelated`
flags gate operands whose streams are correlated beyond binomial noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, SCValueError, SimulationError
from .sources import SOURCE_KINDS, SourceSpec, apply_matrix, check_int, check_width, matrix_power, step_matrix

#: sub-stream keys of a master seed, so that unrelated uses never draw the same numbers
KEY_INPUT, KEY_WEIGHT, KEY_IDEAL = 0, 1, 2


def derive_rng(master_seed: int, key: int) -> np.random.Generator:
    """Independent PCG64 generator for (master_seed, key)."""
    check_int("seed", master_seed, 0)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(master_seed), key])))


def derive_lfsr_seeds(master_seed: int, key: int, count: int, width: int) -> np.ndarray:
    """``count`` LFSR seeds in ``[1, 2^width)`` drawn from (master_seed, key) (uint64)."""
    check_width(width)
    rng = derive_rng(master_seed, key)
    return rng.integers(1, 1 << width, size=count, dtype=np.uint64)


def advance_lfsr(seeds: np.ndarray | int, width: int, steps: int) -> np.ndarray:
    """LFSR states ``steps`` single steps after ``seeds`` (vectorized, exact)."""
    period = (1 << width) - 1
    return apply_matrix(matrix_power(step_matrix(width), steps % period), seeds)


def coprime_spacing(period: int, count: int) -> int:
    """Largest ``s <= period // count`` with ``gcd(s, period) == 1`` (0 if period < count).

    Phases ``0, s, 2s, ...`` of one LFSR are the maps ``A^(k s)``; with ``gcd(s, P) = 1`` the
    element ``A^s`` generates the whole field GF(2^W), so no W or fewer of these maps XOR to
    zero.  An even spacing ``P / 3`` (P = 2^16 - 1 is divisible by 3) would give
    ``I + A^s + A^2s = 0``: the third source's state is the XOR of the other two every cycle.
    """
    s = period // count
    while s > 1 and math.gcd(s, period) != 1:
        s -= 1
    return s


def spread_phases(base_seeds: np.ndarray, width: int, count: int) -> np.ndarray:
    """(len(base), count) seeds: operand m starts ``m * s`` steps after the base, s =
    :func:`coprime_spacing` (P, count)."""
    period = (1 << width) - 1
    spacing = coprime_spacing(period, count)
    if spacing == 0:
        raise SCValueError("width", f"{count} sources do not fit in the period {period} of a "
                                    f"{width}-bit LFSR; use a wider source")
    return np.stack([advance_lfsr(base_seeds, width, m * spacing) for m in range(count)], axis=-1)


@dataclass
class SourceAllocator:
    """Hands out independent named sources for one design.

    kind/width/stride describe every source; ``max_sources`` fixes the LFSR phase spacing;
    ``length`` (cycles per run) is used for :attr:`windows_disjoint`.  ``max_sources=None``
    means the most sources (at most 1024) whose coprime spacing is still >= 2W.  ``get(name)`` returns the
    same source again for the same name (explicit sharing); ``allocate(name)`` fails on reuse.
    """

    kind: str = "lfsr"
    width: int = 16
    length: int = 1024
    stride: int = 0
    master_seed: int = 1
    max_sources: int | None = None
    _sources: dict[str, SourceSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise SCValueError("kind", f"must be one of {SOURCE_KINDS}, got {self.kind!r}")
        check_width(self.width)
        check_int("length", self.length, 1)
        check_int("stride", self.stride, 0)
        check_int("seed", self.master_seed, 0)
        if self.max_sources is None:
            # default: up to 1024 sources, as many as keep a 2 W phase spacing
            k = max(1, min(1024, self.period // (2 * self.width)))
            while k > 1 and coprime_spacing(self.period, k) < 2 * self.width:
                k -= 1
            self.max_sources = k
        check_int("max_sources", self.max_sources, 1)
        if self.kind == "lfsr" and self.spacing < 2 * self.width:
            raise SCValueError("max_sources", f"{self.max_sources} sources leave only "
                               f"{self.spacing} steps between phases of a {self.width}-bit "
                               f"LFSR (need >= {2 * self.width}); use a wider LFSR")
        self._base = int(derive_lfsr_seeds(self.master_seed, KEY_INPUT, 1, self.width)[0])
        self._jump: tuple[int, ...] | None = None
        self._last_seed = self._base

    @property
    def period(self) -> int:
        return (1 << self.width) - 1

    @property
    def spacing(self) -> int:
        """Steps between the phases of consecutive LFSR sources (:func:`coprime_spacing`)."""
        return coprime_spacing(self.period, self.max_sources)

    @property
    def windows_disjoint(self) -> bool:
        """True if no two LFSR sources visit a common state within ``length`` cycles."""
        return self.spacing >= (self.stride or self.width) * self.length

    @property
    def sources(self) -> dict[str, SourceSpec]:
        return dict(self._sources)

    def allocate(self, name: str) -> SourceSpec:
        """A new independent source named ``name`` (SCValueError if the name is taken)."""
        if name in self._sources:
            raise SCValueError("name", f"source {name!r} already allocated; share it with get()")
        k = len(self._sources)
        if k >= self.max_sources:
            raise SCValueError("max_sources", f"all {self.max_sources} sources are allocated")
        if self.kind == "lfsr":
            # seed_k = J seed_{k-1} with J = A^spacing: O(W) per call instead of a matrix power
            if k == 0:
                seed = self._base
            else:
                if self._jump is None:
                    self._jump = matrix_power(step_matrix(self.width),
                                              self.spacing % self.period)
                prev = self._last_seed
                seed = 0
                for i, row in enumerate(self._jump):
                    seed |= (bin(prev & row).count("1") & 1) << i
            self._last_seed = seed
        elif self.kind == "sobol":
            # van der Corput has one dimension: sources differ by counter offset only, so
            # operands that meet in a gate should not both be Sobol (check_uncorrelated flags it)
            seed = int(derive_rng(self.master_seed, KEY_INPUT).integers(0, 1 << self.width,
                                                                        size=k + 1)[-1])
        else:
            seed = int(derive_rng(self.master_seed, KEY_IDEAL + 1 + k).integers(0, 2**63))
        spec = SourceSpec(self.kind, self.width, seed, self.stride, name)
        self._sources[name] = spec
        return spec

    def get(self, name: str) -> SourceSpec:
        """The source named ``name``, allocating it on first use (explicit sharing by name)."""
        return self._sources[name] if name in self._sources else self.allocate(name)

    def bank_seeds(self, start: int, count: int) -> np.ndarray:
        """Seeds of LFSR sources ``start .. start+count-1``, exactly as successive
        :meth:`allocate` calls place them (``k * spacing`` steps after the base), in O(log count)
        matrix powers instead of one call per source (~6 ms each: 40 s for the 7,000 SNGs of a
        1x1000 LSTM).  Does not register names."""
        if self.kind != "lfsr":
            raise SCValueError("kind", f"bank seeds are LFSR phases; got source kind {self.kind!r}")
        if start + count > self.max_sources:
            raise ConfigError(f"the design needs {start + count} random sources but a {self.width}-bit LFSR "
                              f"allocator holds {self.max_sources}; use lfsr_width=32")
        step = step_matrix(self.width)
        first = apply_matrix(matrix_power(step, (start * self.spacing) % self.period),
                             np.array([self._base], dtype=np.uint64))
        seeds = first
        while seeds.size < count:
            jump = matrix_power(step, (seeds.size * self.spacing) % self.period)
            seeds = np.concatenate([seeds, apply_matrix(jump, seeds)])
        return seeds[:count].astype(np.uint64)


# ----------------------------------------------------------------------------- correlation
def scc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Stochastic cross-correlation of two bit streams along the last axis, in [-1, 1].

    SCC = (p11 - pa pb) / (min(pa, pb) - pa pb) if p11 > pa pb, else
    (p11 - pa pb) / (pa pb - max(pa + pb - 1, 0)); 0 where the denominator vanishes.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise SCValueError("b", f"shape {b.shape} does not match a {a.shape}")
    pa = a.mean(axis=-1)
    pb = b.mean(axis=-1)
    p11 = (a & b).mean(axis=-1)
    delta = p11 - pa * pb
    pos = np.minimum(pa, pb) - pa * pb
    neg = pa * pb - np.maximum(pa + pb - 1.0, 0.0)
    den = np.where(delta > 0, pos, neg)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(den) > 1e-15, delta / np.where(den == 0, 1, den), 0.0)
    return out


def correlation_z(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z-score of the covariance p11 - pa pb against independent Bernoulli streams."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    length = a.shape[-1]
    pa = a.mean(axis=-1)
    pb = b.mean(axis=-1)
    delta = (a & b).mean(axis=-1) - pa * pb
    sd = np.sqrt(np.maximum(pa * (1 - pa) * pb * (1 - pb), 1e-300) / length)
    return np.where(sd > 1e-150, delta / sd, 0.0)


def check_uncorrelated(operands: dict[str, np.ndarray], *, gate: str = "gate",
                       z_limit: float = 5.0, scc_limit: float = 0.1) -> None:
    """Raise SimulationError if two operand streams of a gate are correlated.

    A pair is flagged when both its SCC magnitude exceeds ``scc_limit`` and its covariance is
    more than ``z_limit`` binomial standard errors from zero (so short streams are not flagged
    for noise).  Operands are bool arrays (..., L); any flagged lane fails.
    """
    names = list(operands)
    for i, na in enumerate(names):
        for nb_ in names[i + 1:]:
            s = scc(operands[na], operands[nb_])
            z = correlation_z(operands[na], operands[nb_])
            bad = (np.abs(s) > scc_limit) & (np.abs(z) > z_limit)
            if np.any(bad):
                worst = float(np.max(np.abs(s[bad]) if np.ndim(s) else abs(s)))
                raise SimulationError(
                    f"{gate}: operands {na!r} and {nb_!r} are correlated (|SCC| up to {worst:.3f});"
                    " give them independent sources or share a source explicitly")
