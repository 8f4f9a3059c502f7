"""Inventories of primitives and their cost estimate on a target.

An :class:`Inventory` counts primitive instances, each identified by kind + parameters (a
:class:`Primitive`); inventories add and scale.  :meth:`Inventory.to_cells` expands them into ASIC
cell counts and :meth:`Inventory.estimate` applies a target to give a :class:`CostReport`.  A
:class:`Design` is a named inventory split into parts plus its latency model (cycles per time step).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from ..errors import SCValueError
from ..sim.rules import check_int
from .primitives import DOMAINS, PRIMITIVES, Resources
from .targets import AsicTarget, FpgaTarget, Target, load_target
from .timing import pipeline_latency_cycles


@dataclass(frozen=True)
class Primitive:
    """One primitive kind with its parameters (sorted (name, value) pairs)."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, kind: str, **params: Any) -> "Primitive":
        if kind not in PRIMITIVES:
            raise SCValueError("kind", f"unknown primitive {kind!r}; known: {', '.join(sorted(PRIMITIVES))}")
        # None always means the primitive's default: drop it so equal primitives compare equal
        prim = cls(kind, tuple(sorted((k, v) for k, v in params.items() if v is not None)))
        prim.resources()  # validates the parameters now, not at estimate time
        return prim

    def resources(self) -> Resources:
        return _resources(self)

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"{self.kind}({args})"


@functools.lru_cache(maxsize=4096)
def _resources(prim: Primitive) -> Resources:
    try:
        return PRIMITIVES[prim.kind](**dict(prim.params))
    except TypeError as exc:  # an unknown parameter name
        raise SCValueError(prim.kind, str(exc)) from None


@dataclass(frozen=True)
class Inventory:
    """Counts per primitive (kind + params).  ``a + b`` puts two blocks side by side, ``n * a``
    replicates a block n times."""

    entries: tuple[tuple[Primitive, int], ...] = ()

    def __post_init__(self) -> None:
        merged: dict[Primitive, int] = {}
        for prim, n in self.entries:
            n = check_int("count", n, 0)
            if n:
                merged[prim] = merged.get(prim, 0) + n
        ordered = sorted(merged.items(), key=lambda kv: (kv[0].kind, repr(kv[0].params)))
        object.__setattr__(self, "entries", tuple(ordered))

    @classmethod
    def of(cls, kind: str, count: int = 1, **params: Any) -> "Inventory":
        return cls(((Primitive.of(kind, **params), count),))

    def add(self, kind: str, count: int = 1, **params: Any) -> "Inventory":
        return self + Inventory.of(kind, count, **params)

    def __add__(self, other: "Inventory") -> "Inventory":
        if not isinstance(other, Inventory):
            return NotImplemented
        return Inventory(self.entries + other.entries)

    def __mul__(self, n: int) -> "Inventory":
        if isinstance(n, bool) or not isinstance(n, int):
            return NotImplemented
        if n < 0:
            raise SCValueError("scale", f"must be >= 0, got {n}")
        return Inventory(tuple((p, c * n) for p, c in self.entries))

    __rmul__ = __mul__

    def __iter__(self) -> Iterator[tuple[Primitive, int]]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def counts(self) -> dict[str, int]:
        """Primitive label -> instance count."""
        return {p.label: n for p, n in self.entries}

    def resources(self) -> dict[str, dict[str, int]]:
        """Domain -> resource key -> total count (see :mod:`.primitives` for the keys)."""
        out: dict[str, dict[str, int]] = {}
        for prim, n in self.entries:
            res = prim.resources()
            bucket = out.setdefault(res.domain, {})
            for k, v in res.items:
                bucket[k] = bucket.get(k, 0) + v * n
        return out

    def total(self, key: str) -> int:
        return sum(b.get(key, 0) for b in self.resources().values())

    def to_cells(self) -> dict[str, int]:
        """ASIC cell type -> count over all domains."""
        cells: dict[str, int] = {}
        for bucket in self.resources().values():
            for k, v in bucket.items():
                if k.startswith("cell:"):
                    cells[k[5:]] = cells.get(k[5:], 0) + v
        return dict(sorted(cells.items()))

    def estimate(self, target: Target | str = "asic-generic", *, cycles: int = 1,
                 activity: "Activity | None" = None, clock_mhz: float | None = None) -> "CostReport":
        """Cost of this hardware running ``cycles`` clock cycles per inference on ``target``."""
        return estimate(self, load_target(target), cycles=cycles,
                        activity=activity or Activity(), clock_mhz=clock_mhz)

    def to_json(self) -> list[dict]:
        return [{"kind": p.kind, "params": dict(p.params), "count": n} for p, n in self.entries]


@dataclass(frozen=True)
class Activity:
    """Expected output toggles per cell per cycle, by domain.

    stream: an SC stream bit with P(1)=p toggles with probability 2p(1-p) <= 0.5 (independent bits);
    0.5 is the worst case (p = 1/2) and the default.  binary: 0.25 for datapath logic on random-like
    data (the usual 0.1-0.3 range; calibrated against published adder/multiplier energies, see
    docs/cost-model.md).  storage: 0, stored weights are static (reads are charged per bit).
    """

    stream: float = 0.5
    binary: float = 0.25
    storage: float = 0.0

    def __post_init__(self) -> None:
        for d in DOMAINS:
            v = getattr(self, d)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise SCValueError(f"activity.{d}", f"must be in [0, 1], got {v!r}")

    def of(self, domain: str) -> float:
        return float(getattr(self, domain))


@dataclass(frozen=True)
class CostReport:
    """Cost of one design on one target.  ``area`` is um^2 (ASIC) or LUT-equivalents (FPGA:
    LUTs + FFs/ffs_per_lut); ``complexity`` is area-time in GE*cycles (ASIC) or LUT-eq*cycles."""

    target: str
    target_kind: str
    clock_mhz: float
    area: float
    area_unit: str
    gate_equivalents: float | None
    luts: int | None
    carry_blocks: int | None
    brams: int | None
    flip_flops: int
    rng_count: int
    sng_count: int
    memory_bits: int
    latency_cycles: int
    latency_s: float
    energy_per_cycle_j: float
    energy_per_inference_j: float
    power_w: float
    complexity: float
    activity: Mapping[str, float]
    cells: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict:
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v)
                for f in dataclasses.fields(self)}


def _asic_terms(inv: Inventory, t: AsicTarget, act: Activity) -> tuple[float, float, float]:
    """(gate equivalents, DFFs, dynamic fJ per cycle) of an inventory on an ASIC target."""
    ge_total = toggled_ge = 0.0
    for domain, bucket in inv.resources().items():
        ge = sum(t.cells[k[5:]] * v for k, v in bucket.items() if k.startswith("cell:"))
        ge_total += ge
        toggled_ge += ge * act.of(domain)
    dff = inv.to_cells().get("DFF_R", 0)
    fj = (toggled_ge * t.toggle_fj_per_ge + dff * t.dff_clock_fj
          + inv.total("mem_read_bits") * t.memory_read_fj_per_bit)
    return ge_total, dff, fj


def _fpga_dynamic_fj(inv: Inventory, t: FpgaTarget, act: Activity) -> float:
    toggled_luts = sum(fpga_mapping(bucket, t)["luts"] * act.of(domain) for domain, bucket in inv.resources().items())
    return (toggled_luts * t.lut_toggle_fj + inv.total("fpga:ff") * t.ff_clock_fj
            + inv.total("mem_read_bits") * t.bram_read_fj_per_bit)


def dynamic_energy_per_cycle_j(inv: Inventory, target: Target | str, activity: Activity | None = None) -> float:
    """The switching part of an inventory's energy per clock cycle (toggles, clocked flip-flops,
    memory reads; not the static power): what a part that is idle (clock-gated) saves per cycle."""
    t, act = load_target(target), activity or Activity()
    if isinstance(t, AsicTarget):
        return _asic_terms(inv, t, act)[2] * 1e-15
    return _fpga_dynamic_fj(inv, t, act) * 1e-15


def _asic(inv: Inventory, t: AsicTarget, cycles: int, act: Activity, f_hz: float) -> CostReport:
    ge_total, dff, fj = _asic_terms(inv, t, act)
    cells = inv.to_cells()
    leak_w = ge_total * t.leakage_nw_per_ge * 1e-9
    e_cycle = fj * 1e-15 + leak_w / f_hz
    return CostReport(
        target=t.name, target_kind="asic", clock_mhz=f_hz / 1e6, area=ge_total * t.nand2_area_um2,
        area_unit="um^2", gate_equivalents=ge_total, luts=None, carry_blocks=None, brams=None,
        flip_flops=dff, rng_count=inv.total("rng"), sng_count=inv.total("sng"),
        memory_bits=_memory_bits(cells),
        latency_cycles=cycles, latency_s=cycles / f_hz, energy_per_cycle_j=e_cycle,
        energy_per_inference_j=e_cycle * cycles, power_w=e_cycle * f_hz,
        complexity=ge_total * cycles, activity=MappingProxyType(dataclasses.asdict(act)),
        cells=MappingProxyType(cells))


def fpga_mapping(bucket: Mapping[str, int], t: FpgaTarget) -> dict[str, int]:
    """LUT / carry-block / BRAM / FF counts of one domain's FPGA items (rules in docs/cost-model.md)."""
    luts = carry = brams = ff = gates2 = 0
    pair_luts = 1 if t.dual_output_max_inputs >= 3 else 2
    for key, n in bucket.items():
        parts = key.split(":")
        if parts[0] != "fpga":
            continue
        what = parts[1]
        if what == "func":
            luts += n * t.luts_for_function(int(parts[2]))
        elif what == "pair":
            luts += n * pair_luts
        elif what == "gate2":
            gates2 += n
        elif what == "carry":
            w = int(parts[2])
            luts += n * w
            carry += n * -(-w // t.carry_bits_per_block)
        elif what == "table":
            depth, width = (int(x) for x in parts[2].split("x"))
            if depth * width <= t.table_lutram_max_bits:
                luts += n * width * -(-depth // t.lutram_bits_per_lut)
            else:
                brams += n * -(-(depth * width) // t.bram_bits)
        elif what == "ff":
            ff += n
        elif what == "membits":
            if parts[2] == "register":
                ff += n
            elif parts[2] == "sram":
                brams += -(-n // t.bram_bits)
            # "rom": constant weights live in the consuming LUTs' contents (no extra resource)
        else:  # pragma: no cover - primitives only emit the keys above
            raise SCValueError("fpga", f"unknown FPGA resource key {key!r}")
    luts += -(-gates2 // t.gates2_per_lut)
    return {"luts": luts, "carry_blocks": carry, "brams": brams, "ff": ff}


def _fpga(inv: Inventory, t: FpgaTarget, cycles: int, act: Activity, f_hz: float) -> CostReport:
    luts = carry = brams = ff = 0
    for bucket in inv.resources().values():
        m = fpga_mapping(bucket, t)
        luts, carry, brams, ff = luts + m["luts"], carry + m["carry_blocks"], brams + m["brams"], ff + m["ff"]
    # stored-weight registers are loaded once and clock-gated: only fpga:ff flip-flops are clocked
    fj = _fpga_dynamic_fj(inv, t, act)
    e_cycle = fj * 1e-15 + luts * t.static_uw_per_lut * 1e-6 / f_hz
    area = luts + ff / t.ffs_per_lut
    return CostReport(
        target=t.name, target_kind="fpga", clock_mhz=f_hz / 1e6, area=area, area_unit="LUT-eq",
        gate_equivalents=None, luts=luts, carry_blocks=carry, brams=brams, flip_flops=ff,
        rng_count=inv.total("rng"), sng_count=inv.total("sng"),
        memory_bits=_memory_bits(inv.to_cells()),
        latency_cycles=cycles, latency_s=cycles / f_hz, energy_per_cycle_j=e_cycle,
        energy_per_inference_j=e_cycle * cycles, power_w=e_cycle * f_hz, complexity=area * cycles,
        activity=MappingProxyType(dataclasses.asdict(act)))


def _memory_bits(cells: Mapping[str, int]) -> int:
    """Stored bits: weights (register/ROM/SRAM cells) and constant tables (ROM_BIT)."""
    return sum(cells.get(c, 0) for c in ("ROM_BIT", "REGFILE_BIT", "SRAM_BIT"))


def estimate(inv: Inventory, target: Target, *, cycles: int = 1, activity: Activity = Activity(),
             clock_mhz: float | None = None) -> CostReport:
    """Apply a target to an inventory (see :meth:`Inventory.estimate`)."""
    cycles = check_int("cycles", cycles, 1)
    mhz = target.clock_mhz if clock_mhz is None else clock_mhz
    if not (isinstance(mhz, (int, float)) and math.isfinite(mhz) and mhz > 0):
        raise SCValueError("clock_mhz", f"must be > 0, got {mhz!r}")
    f_hz = float(mhz) * 1e6
    if isinstance(target, AsicTarget):
        return _asic(inv, target, cycles, activity, f_hz)
    return _fpga(inv, target, cycles, activity, f_hz)


@dataclass(frozen=True)
class Design:
    """A named hardware design: inventory parts (name -> Inventory) and its latency model.

    ``step_cycles`` are the cycles one time step takes in each pipelined layer, in order; an
    inference of ``steps`` time steps takes sum(step_cycles) + (steps-1)*max(step_cycles)
    + ``result_cycles`` cycles (:func:`~.timing.pipeline_latency_cycles`: layers pipelined across
    time, layer l works on step t while layer l-1 works on step t+1; ``result_cycles`` until the
    last result is presented, 1 for the emitted SC RTL, see :mod:`.timing`).
    ``ops_per_step`` are the design's own operations per time step (MACs for binary baselines,
    stream-bit XNORs for SC), reported but not compared across designs of different kinds.
    """

    name: str
    parts: tuple[tuple[str, Inventory], ...]
    step_cycles: tuple[int, ...]
    description: str = ""
    ops_per_step: int = 0
    ops_unit: str = ""
    params: tuple[tuple[str, Any], ...] = ()
    #: binary-domain logic settles once every ``settle_cycles`` cycles (a combinational datapath
    #: evaluated once per time step under multicycle timing): its activity is divided by this
    settle_cycles: int = 1
    #: cycles from the end of the last step until its result is presented (the RTL's flush cycle)
    result_cycles: int = 0
    #: parts that compute one time step per sequence (a head after a ``last_step`` layer): their
    #: switching energy is charged for one step period (max ``step_cycles``) per inference, not for
    #: every cycle of it; idle, they are clock-gated (static power still counts)
    sequence_parts: tuple[str, ...] = ()
    #: cycles the sequence parts are active per inference (None: one step period, max
    #: ``step_cycles``): a folded baseline head's own MAC cycles
    sequence_cycles: int | None = None
    #: (part, active cycles per inference) of parts whose binary logic works every cycle it is
    #: active -- a sequential MAC -- rather than settling once per ``settle_cycles``: their
    #: switching energy is charged at the undivided binary activity for those cycles only (clock
    #: gated otherwise), in place of the settle model and of the sequence-part gating
    active_parts: tuple[tuple[str, int], ...] = ()
    #: cycles per time step of the layers that run over the whole sequence one after another
    #: before the pipelined ones (a bidirectional layer's two directions: 2 P, :mod:`.timing`)
    serial_step_cycles: int = 0
    #: the pipelined phase after the serial layers runs one step only (a last step right after them)
    pipeline_once: bool = False
    #: (part, active cycles per time step) of parts clock-gated outside their own phase (a
    #: bidirectional layer's directions: P of the inference's serial cycles each): their switching
    #: energy is charged for steps x those cycles only
    gated_parts: tuple[tuple[str, int], ...] = ()

    @property
    def inventory(self) -> Inventory:
        total = Inventory()
        for _, inv in self.parts:
            total = total + inv
        return total

    def latency_cycles(self, steps: int = 1) -> int:
        serial = self.serial_step_cycles * steps
        return serial + pipeline_latency_cycles(self.step_cycles, 1 if self.pipeline_once else steps,
                                                result_cycles=self.result_cycles)

    def activity(self, activity: Activity | None = None) -> Activity:
        """The activity factors applied to this design (binary domain divided by settle_cycles)."""
        act = activity or Activity()
        return dataclasses.replace(act, binary=act.binary / self.settle_cycles)

    def estimate(self, target: Target | str = "asic-generic", *, steps: int = 1,
                 activity: Activity | None = None, clock_mhz: float | None = None) -> CostReport:
        cycles = self.latency_cycles(steps)
        rep = self.inventory.estimate(target, cycles=cycles, activity=self.activity(activity), clock_mhz=clock_mhz)
        busy = dict(self.active_parts)
        idle = [inv for name, inv in self.parts if name in self.sequence_parts and name not in busy]
        rep = self._gated(rep, idle, target, cycles, activity,
                          [(inv, busy[name]) for name, inv in self.parts if name in busy])
        return self._phase_gated(rep, [(inv, name) for name, inv in self.parts], target, cycles, steps, activity)

    def _phase_gated(self, rep: CostReport, parts: list[tuple[Inventory, str]], target, cycles: int,
                     steps: int, activity) -> CostReport:
        """``rep`` less the switching energy of the :attr:`gated_parts` among ``parts`` outside
        their active cycles (steps x their cycles per step)."""
        gated = dict(self.gated_parts)
        mine = [(inv, gated[name]) for inv, name in parts if name in gated]
        if not mine:
            return rep
        act = self.activity(activity)
        saved = sum(dynamic_energy_per_cycle_j(inv, target, act) * (cycles - min(cycles, c * steps))
                    for inv, c in mine)
        energy = rep.energy_per_inference_j - saved
        return dataclasses.replace(rep, energy_per_inference_j=energy, energy_per_cycle_j=energy / cycles,
                                   power_w=energy / cycles * rep.clock_mhz * 1e6)

    def _gated(self, rep: CostReport, idle: list[Inventory], target, cycles: int, activity,
               busy: list[tuple[Inventory, int]] = ()) -> CostReport:
        """``rep`` less the switching energy of the sequence parts ``idle`` in the cycles they sit
        idle, and with the parts ``busy`` (inventory, active cycles) charged per active cycle."""
        if not idle and not busy:
            return rep
        active = max(self.step_cycles) if self.sequence_cycles is None else self.sequence_cycles
        off = cycles - min(cycles, active)
        saved = sum(dynamic_energy_per_cycle_j(inv, target, self.activity(activity)) for inv in idle) * off
        for inv, on in busy:
            saved += dynamic_energy_per_cycle_j(inv, target, self.activity(activity)) * cycles
            saved -= dynamic_energy_per_cycle_j(inv, target, activity or Activity()) * min(cycles, on)
        energy = rep.energy_per_inference_j - saved
        return dataclasses.replace(rep, energy_per_inference_j=energy, energy_per_cycle_j=energy / cycles,
                                   power_w=energy / cycles * rep.clock_mhz * 1e6)

    def part_estimates(self, target: Target | str = "asic-generic", *, steps: int = 1,
                       activity: Activity | None = None) -> dict[str, CostReport]:
        """Per-part cost (same latency for all parts): where the area and energy go."""
        tgt = load_target(target)
        cycles = self.latency_cycles(steps)
        busy = dict(self.active_parts)
        return {name: self._phase_gated(
                    self._gated(inv.estimate(tgt, cycles=cycles, activity=self.activity(activity)),
                                [inv] if name in self.sequence_parts and name not in busy else [], tgt, cycles,
                                activity, [(inv, busy[name])] if name in busy else []),
                    [(inv, name)], tgt, cycles, steps, activity)
                for name, inv in self.parts}
