"""The clock-cycle timing of the compiled SC design, stated once.

This is the timing of the RTL that :mod:`sccompiler.backends.verilog.design` emits (docs/verilog.md,
"Timing" and "Layers, pipelined"); the cost report, the stream-length scheduler and the RTL
manifest all read it from here, so that one formula describes the circuit that is built:

* the **timed layers** are the layers with a stream length (``LayerPlan.length > 0``: the
  recurrent layers and a streamed dense head), in pipeline order; binary-domain layers (embedding,
  an exact dense head) are combinational between them and take no cycle of their own;
* every timed layer steps with one **period** P = the longest L: a layer with L < P runs its L
  active cycles, then holds its sources, FSMs and counters for P - L cycles.  There is **no
  overhead cycle** per step: counters run freely and a step's count is read in the first cycle of
  the next step, so the free-running LFSRs and WFSMs see exactly the runtime's L cycles per step;
* layer k + 1 is started on the edge where layer k finishes its step 0, so its step t runs during
  layer k's step t + 1 (pipelined across time: K timed layers finish T steps after (T + K - 1) P
  cycles);
* a step's results are presented (``valid`` high) in the first cycle of the next step, and those
  of the last step in one extra cycle after it (the flush cycle); ``done`` rises one cycle later.

Counting from the clock edge that samples ``start`` (cycle 0 is the cycle in which the host holds
``start`` high), for T steps and K timed layers of period P::

    input_cycles   = T * P                      cycles ``busy`` is high (layer 0 reads ``x_in``)
    compute_cycles = (T + K - 1) * P            cycles in which some layer computes
    latency_cycles = (T + K - 1) * P + 1        edges from start to the last step's valid
    done_cycles    = (T + K - 1) * P + 2        edges from start to done

The step throughput is one time step per P cycles once the pipeline is full.

A streamed head after a ``last_step`` layer is launched when the last recurrent layer finishes its
LAST step and runs one step: it occupies the slot in which it would have run step T - 1, so the
figures above are unchanged (``valid`` is then high once, at ``latency_cycles``; the cost model
charges its switching energy for one period P only, ``cost.inventory.Design.sequence_parts``).

A **sequential fixed-point head** (``head_macs`` = P, :func:`sccompiler.sim.rules.mac_latency`)
takes H = 1 + ceil(outputs x inputs / P) cycles after the cycle in which its operands are final
(the cycle in which a parallel head's ``valid`` would be high): one cycle captures the operands,
C = ceil(outputs x inputs / P) accumulate, and ``valid`` is high in the next cycle.  A head per step
overlaps the next step (it must finish before the next operands are captured, H <= P), so the step
period becomes max(max L, H): when H exceeds the longest L, **every layer's step is stretched** to
H cycles (the layers run their L active cycles and hold for the rest, as any shorter layer).  A head
after ``last_step`` runs once, after the last step, with no constraint.  Either way the last result
comes H cycles later: latency_cycles = (T + K - 1) P + 1 + H, done one cycle after it.

A **bidirectional layer** (docs/semantics.md, "Bidirectional layers") runs in three phases: its
forward direction steps through the sequence as it arrives (T P cycles, writing the input codes and
its h_t into sequence buffers), then its backward direction steps through the buffered sequence in
reverse (T P cycles), then the layers after it run pipelined as above over T steps (one step, when a
``last_step`` follows the layer directly) reading concat(forward h_t, backward h_t) from the
buffers; with no timed layer after it the read-out still steps with the period P.  With the two
directions the **serial** layers (``serial = 2``) and K' = max(1, K - 2) pipelined stages::

    latency_cycles = 2 T P + (T' + K' - 1) P + 1      T' = T, or 1 for a last step right after it

The analytic XNOR-LSTM reference datapath (:mod:`.reference`, docs/background.md §5) is a different circuit with
its own step of L + ``overhead_cycles`` cycles; it shares only :func:`pipeline_latency_cycles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..errors import SCValueError
from ..sim.rules import check_int, mac_latency

#: cycles after the last step ends until its results are presented: the emitted control's flush
#: cycle (the last step's counts are final in the cycle after its last active cycle)
RESULT_CYCLES = 1
#: cycles from that last ``valid`` until ``done`` is high (``done`` is a register set by the flush)
DONE_CYCLES = 1


def pipeline_latency_cycles(step_cycles: Sequence[int], steps: int, *, result_cycles: int = 0) -> int:
    """Cycles to run ``steps`` time steps through layers pipelined across time (layer k + 1 works
    on step t while layer k works on step t + 1): sum(step_cycles) + (steps - 1) * max(step_cycles)
    + ``result_cycles``.  The emitted RTL steps every layer with the same period P (``step_cycles``
    = (P,) * K) and presents the last result ``RESULT_CYCLES`` later; the baselines and the analytic
    reference datapath use their own step cycles and no result cycle."""
    if not step_cycles:
        raise SCValueError("step_cycles", "need at least one timed layer")
    for c in step_cycles:
        check_int("step_cycles", c, 1)
    t = check_int("steps", steps, 1)
    return int(sum(step_cycles)) + (t - 1) * int(max(step_cycles)) + check_int("result_cycles", result_cycles, 0)


@dataclass(frozen=True)
class Timing:
    """Cycle timing of the emitted design for ``steps`` time steps (see the module docstring).

    ``active_cycles``: (layer, L) of every timed layer in pipeline order (its active cycles per
    step); ``clock_mhz``: the clock the seconds and the throughput are given at (None: cycles only).
    """

    active_cycles: tuple[tuple[str, int], ...]
    steps: int = 1
    clock_mhz: float | None = None
    #: H of a sequential fixed-point head (0: none, or a combinational one) and whether it runs
    #: once per sequence (after ``last_step``) rather than once per step
    head_cycles: int = 0
    head_once: bool = False
    #: the leading timed layers that run one after another over the whole sequence (a
    #: bidirectional layer's forward and backward directions: 2), before the pipelined ones
    serial: int = 0
    #: whether the pipelined phase after the serial layers runs one step only (a ``last_step``
    #: right after a bidirectional layer)
    pipeline_once: bool = False

    def __post_init__(self) -> None:
        if not self.active_cycles:
            raise SCValueError("layers", "the design has no timed layer (no layer with a stream length)")
        for name, L in self.active_cycles:
            check_int(f"length of {name}", L, 1)
        check_int("steps", self.steps, 1)
        check_int("head_cycles", self.head_cycles, 0)
        check_int("serial", self.serial, 0, len(self.active_cycles))
        if self.clock_mhz is not None and not (isinstance(self.clock_mhz, (int, float))
                                               and math.isfinite(self.clock_mhz) and self.clock_mhz > 0):
            raise SCValueError("clock_mhz", f"must be > 0, got {self.clock_mhz!r}")

    @property
    def step_period(self) -> int:
        """P: the cycles of one time step of every timed layer: the longest L, or a per-step
        sequential head's H when that is longer (the step is stretched to it)."""
        longest = max(L for _, L in self.active_cycles)
        return longest if self.head_once else max(longest, self.head_cycles)

    @property
    def pipeline_depth(self) -> int:
        """K: the number of pipelined timed layers (each one step behind the previous one); after
        serial layers at least 1 (the buffers' read-out steps with the period P)."""
        if self.serial:
            return max(1, len(self.active_cycles) - self.serial)
        return len(self.active_cycles)

    @property
    def serial_cycles(self) -> int:
        """Cycles of the serial layers: each steps through the whole sequence, T P."""
        return self.serial * self.steps * self.step_period

    @property
    def pipeline_steps(self) -> int:
        """Steps of the pipelined phase: T, or 1 (:attr:`pipeline_once`)."""
        return 1 if self.pipeline_once else self.steps

    @property
    def cycles_per_step(self) -> dict[str, int]:
        """Layer -> cycles of one of its time steps: P for every layer (they step in lock step)."""
        return {name: self.step_period for name, _ in self.active_cycles}

    @property
    def step_cycles(self) -> tuple[int, ...]:
        """The cycles per step of the timed layers in pipeline order (a cost Design's step_cycles)."""
        return (self.step_period,) * self.pipeline_depth

    @property
    def input_cycles(self) -> int:
        """Cycles the top's ``busy`` is high, reading ``x_in`` of step ``x_step``: T P (layer 0)."""
        return self.steps * self.step_period

    @property
    def compute_cycles(self) -> int:
        """Cycles in which some layer computes: (T + K - 1) P (+ the serial layers' cycles)."""
        return self.serial_cycles + pipeline_latency_cycles(self.step_cycles, self.pipeline_steps) + self.head_cycles

    @property
    def latency_cycles(self) -> int:
        """Edges from the one that samples ``start`` to the one that samples the last step's
        ``valid``: (T + K - 1) P + 1.  The cost model's latency and energy use this figure."""
        return self.serial_cycles + pipeline_latency_cycles(self.step_cycles, self.pipeline_steps,
                                                            result_cycles=self.result_cycles)

    @property
    def result_cycles(self) -> int:
        """Cycles from the end of the last step to its presented result: the flush cycle, plus a
        sequential head's H."""
        return RESULT_CYCLES + self.head_cycles

    @property
    def first_result_cycles(self) -> int:
        """Edges from ``start`` to the ``valid`` of the last layer's step 0: K P + 1."""
        return self.serial_cycles + pipeline_latency_cycles(self.step_cycles, 1, result_cycles=self.result_cycles)

    @property
    def done_cycles(self) -> int:
        """Edges from ``start`` to the first one that samples ``done`` high: (T + K - 1) P + 2."""
        return self.latency_cycles + DONE_CYCLES

    @property
    def latency_s(self) -> float | None:
        return None if self.clock_mhz is None else self.latency_cycles / (self.clock_mhz * 1e6)

    @property
    def throughput_steps_per_s(self) -> float | None:
        """Time steps per second once the pipeline is full: f / P."""
        return None if self.clock_mhz is None else self.clock_mhz * 1e6 / self.step_period

    def to_json(self) -> dict:
        """The figures as plain JSON (the scheduler's ``timing`` block and the RTL manifest)."""
        return {"steps": self.steps, "step_period": self.step_period, "pipeline_depth": self.pipeline_depth,
                "active_cycles_per_step": dict(self.active_cycles), "cycles_per_step": self.cycles_per_step,
                "overhead_cycles_per_step": 0, "input_cycles": self.input_cycles,
                "compute_cycles": self.compute_cycles,
                "latency_cycles": self.latency_cycles, "first_result_cycles": self.first_result_cycles,
                "done_cycles": self.done_cycles, "head_cycles": self.head_cycles,
                "head_once": self.head_once, "serial_layers": self.serial, "serial_cycles": self.serial_cycles,
                "pipeline_steps": self.pipeline_steps, "clock_mhz": self.clock_mhz, "latency_s": self.latency_s,
                "throughput_steps_per_s": self.throughput_steps_per_s,
                "model": ("emitted RTL: every timed layer steps with the period P = max L, no overhead cycle, "
                          "layers pipelined one step apart; latency = (T + K - 1) P + 1 cycles from start to the "
                          "last valid" + (f"; a bidirectional layer's {self.serial} directions run first, one after "
                                          "the other over the buffered sequence (+ 2 T P)" if self.serial else ""))}


def timed_layers(netlist) -> dict[str, int]:
    """Layer -> L of the layers that have their own step control in the RTL (a stream length
    > 0: recurrent layers and a streamed dense head), in pipeline order."""
    return {p.name: int(p.length) for p in netlist.layers if p.length and int(p.length) > 0}


def sequential_head(netlist) -> tuple[str, int, bool] | None:
    """(layer, H, once per sequence) of a sequential fixed-point head (an ``int_mac`` node with
    ``macs``), else None."""
    kinds = [p.kind for p in netlist.layers]
    after = {p.name for p in netlist.layers[kinds.index("last_step") + 1:]} if "last_step" in kinds else set()
    for n in netlist:
        if n.op == "int_mac" and n.params.get("macs") is not None:
            rows, cols = n.arrays["wq"].shape
            return n.layer, mac_latency(rows * cols, int(n.params["macs"])), n.layer in after
    return None


def design_timing(lengths: Mapping[str, int] | Sequence[tuple[str, int]], steps: int = 1,
                  clock_mhz: float | None = None, head_cycles: int = 0, head_once: bool = False,
                  serial: int = 0, pipeline_once: bool = False) -> Timing:
    """The :class:`Timing` of timed layers with stream lengths ``lengths`` (layer -> L, in
    pipeline order) running ``steps`` time steps, at ``clock_mhz`` (optional)."""
    items = tuple((str(k), int(v)) for k, v in (lengths.items() if isinstance(lengths, Mapping) else lengths))
    return Timing(items, steps=steps, clock_mhz=None if clock_mhz is None else float(clock_mhz),
                  head_cycles=int(head_cycles), head_once=bool(head_once), serial=int(serial),
                  pipeline_once=bool(pipeline_once))


def bidirectional_schedule(netlist) -> tuple[int, bool]:
    """(serial layers, pipeline once) of a netlist: (2, whether a ``last_step`` follows the
    ``concat`` layer directly) with a bidirectional layer, else (0, False)."""
    kinds = [p.kind for p in netlist.layers]
    if "concat" not in kinds:
        return 0, False
    k = kinds.index("concat")
    return 2, k + 1 < len(kinds) and kinds[k + 1] == "last_step"


def netlist_timing(netlist, steps: int = 1, clock_mhz: float | None = None) -> Timing:
    """The :class:`Timing` of the RTL emitted for ``netlist`` (an :class:`~sccompiler.ir.sc.SCNetlist`)
    running ``steps`` time steps, at ``clock_mhz`` (optional: a target's ``clock_mhz``)."""
    head = sequential_head(netlist)
    serial, once = bidirectional_schedule(netlist)
    return design_timing(timed_layers(netlist), steps=steps, clock_mhz=clock_mhz,
                         head_cycles=head[1] if head else 0, head_once=bool(head and head[2]),
                         serial=serial, pipeline_once=once)
