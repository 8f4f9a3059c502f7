"""Randomly generated small compiled designs for the Verilog sweep (tests/verilog/test_sweep.py and
bench/bench_verilog.py): LSTM and GRU, 1-2 layers, hidden 2-16, T 2-5, L 16-256, binary and
ternary weights, table gates + sign(h) or integral WFSM gates + stream h (GRU with
linear_before_reset 1 and 0), real or exact inputs, with or without a dense head; LSTMs with or
without recurrent batch norm of per-step statistics (bn_x, bn_h, bn_c on the first layer) and
with shared or per-gate operand SNG banks; private or shared random-source registers.

Each design is drawn from its own seed; the flavour (gate datapath) cycles through FLAVORS so a
handful of seeds covers every datapath, and the sizes are random within a simulation budget
(hidden x L is kept small enough that the event-driven simulation stays short)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from compiler.models import FAST, binary, ternary  # tests/compiler (tests/ is on sys.path)

from sccompiler.design import compile_model
from sccompiler.ir.model import GRU, LSTM, BatchNormParams, InputSpec, Linear, Model, Tensor

#: gate datapaths: (cell, gate_input, input kind, GRU linear_before_reset)
FLAVORS = (
    ("lstm", "table", "exact", True),
    ("gru", "integral_wfsm", "real", True),
    ("gru", "table", "exact", True),
    ("lstm", "integral_wfsm", "real", True),
    ("gru", "integral_wfsm", "real", False),
    ("gru", "integral_wfsm", "exact", False),
    ("lstm", "integral_wfsm", "exact", True),
    ("gru", "integral_wfsm", "exact", True),
)
#: random sources x simulated cycles of a design at most: Icarus simulates ~10^4 source-cycles
#: per second (every LFSR is an XOR network evaluated each cycle), so a design runs in ~1-3 s
WORK_BUDGET = 24_000
#: testbench sequences per design
SEQUENCES = 2


def estimated_sources(cell: str, gate_input: str, layers: int, input_size: int, hidden: int, head: int,
                      bn: bool = False, per_gate: bool = False, inputs: str = "real") -> int:
    """LFSRs of the design (SNGs + WFSM weight sources), roughly, before compiling: per layer the
    gate SNGs or gate WFSMs + bias streams, the x / h operand SNGs, the c SNGs and tanh(c) FSMs
    (batch norm with exact inputs: one x SNG per gate row and input; per-gate banks: 4 copies)."""
    G = 4 if cell == "lstm" else 3
    if gate_input == "table":
        per = (G + 3) * hidden if cell == "lstm" else 3 * hidden
    else:
        per = input_size + (3 * G + 3) * hidden
        if per_gate:
            per += 3 * (input_size + hidden)
        if bn and inputs == "exact":
            per += G * hidden * input_size
    return layers * per + (hidden if head and gate_input != "table" else 0)


@dataclass(frozen=True)
class SweepSpec:
    seed: int
    cell: str
    gate_input: str
    inputs: str           # "exact" ({-s, 0, s}) or "real"
    linear_before_reset: bool
    layers: int
    input_size: int
    hidden: int
    steps: int
    length: int
    ternary: bool
    head: int             # dense head outputs (0 = none)
    fsm_state: str
    bn: bool = False      # per-step recurrent batch norm on the first layer (LSTM)
    per_gate: bool = False  # one x/h SNG bank per gate (LSTM, integral gates)
    length2: int = 0      # L of the later timed layers (second layer, streamed head); 0: length
    sources: str = "private"  # source registers: one per comparator, or shared (conflict-graph colouring)
    source: str = "lfsr"      # source kind: lfsr, sobol or auto (draw_sobol)

    @property
    def name(self) -> str:
        lbr = "" if self.cell == "lstm" or self.linear_before_reset else "_lbr0"
        return (f"s{self.seed}_{self.cell}{lbr}_{self.gate_input.split('_')[0]}_{self.inputs}_{self.layers}x"
                f"{self.hidden}_I{self.input_size}_T{self.steps}_L{self.length}_{'ter' if self.ternary else 'bin'}"
                f"{f'_head{self.head}' if self.head else ''}{'_bn' if self.bn else ''}{'_pg' if self.per_gate else ''}"
                f"{f'_L2_{self.length2}' if self.length2 else ''}{'_sh' if self.sources == 'shared' else ''}"
                f"{'' if self.source == 'lfsr' else '_' + self.source}")


def draw(seed: int) -> SweepSpec:
    """The design of ``seed`` (deterministic)."""
    rng = np.random.default_rng(7919 * seed + 17)
    cell, gate_input, inputs, lbr = FLAVORS[seed % len(FLAVORS)]
    layers = int(rng.integers(1, 3))
    steps = int(rng.integers(2, 6))
    head = int(rng.integers(0, 3))
    # the first round of flavours has batch norm (table, integral real, integral exact LSTMs),
    # odd seeds per-gate banks (the integral real LSTMs, with and without batch norm)
    bn = cell == "lstm" and seed < len(FLAVORS)
    per_gate = cell == "lstm" and gate_input == "integral_wfsm" and seed % 2 == 1
    if gate_input == "table" and cell == "gru":
        # the n gate's threshold ROM reads {kx_r, kh_r, kx_n, kh_n}: small I and H keep it <= 2^14
        hidden, input_size = int(rng.integers(2, 5)), int(rng.integers(2, 4))
        layers = 1 if hidden > 3 else layers
    else:
        # log-uniform in [2, 16]: small designs are cheap to simulate, so most are small
        hidden, input_size = int(round(2 ** rng.uniform(1, 4))), int(rng.integers(2, 6))
    gru_table = gate_input == "table" and cell == "gru"
    if seed % 6 == 0 and not gru_table:     # the extremes of the ranges: hidden 16 ...
        hidden, layers, steps = 16, 1, 2
    elif seed % 6 == 1:                     # ... and L = 256
        hidden, layers = 2, 1

    def budget_length() -> int:
        cycles = SEQUENCES * (steps + layers + (1 if head and gate_input != "table" else 0))
        return WORK_BUDGET // (estimated_sources(cell, gate_input, layers, input_size, hidden, head, bn, per_gate,
                                                 inputs) * cycles)

    while budget_length() < 16:             # shrink until a 16-cycle stream fits the budget
        if layers > 1:
            layers = 1
        elif steps > 2:
            steps -= 1
        else:
            hidden -= 1
    length = 256 if seed % 6 == 1 else int(rng.integers(16, min(256, budget_length()) + 1))
    # odd seeds with a second timed layer (a second recurrent layer or a streamed head) give it
    # another L (longer or shorter than the first layer's: the shorter layers idle)
    timed = layers > 1 or (head and gate_input != "table")
    length2 = int(rng.integers(16, min(256, 2 * budget_length()) + 1)) if timed and seed % 2 == 1 else 0
    length2 = 0 if length2 == length else length2
    ternary = bool(rng.integers(0, 2))
    fsm_state = ("carry", "reset")[int(rng.integers(0, 2))]
    # drawn last: the earlier draws (and so the designs) stay those of earlier sweeps
    sources = ("private", "shared")[int(rng.integers(0, 2))]
    return SweepSpec(seed, cell, gate_input, inputs, lbr, layers, input_size, hidden, steps, length,
                     ternary, head, fsm_state, bn, per_gate, length2, sources)


def draw_sobol(seed: int) -> SweepSpec:
    """The design of ``seed`` with Sobol sources: even seeds ``source: sobol`` (every comparator),
    odd seeds ``source: auto`` (Sobol where a stream feeds no FSM)."""
    return replace(draw(seed), source=("sobol", "auto")[seed % 2])


def model_of(spec: SweepSpec) -> Model:
    rng = np.random.default_rng(spec.seed)
    weights = ternary if spec.ternary else binary
    lays, fin, H = [], spec.input_size, spec.hidden
    for k in range(spec.layers):
        if spec.cell == "lstm":
            lays.append(LSTM(f"lstm{k}", input_size=fin, hidden_size=H, w_ih=weights((4 * H, fin), rng, 0.4),
                             w_hh=weights((4 * H, H), rng, 0.3), b_ih=Tensor(rng.normal(0, 0.3, 4 * H))))
        else:
            lays.append(GRU(f"gru{k}", input_size=fin, hidden_size=H, linear_before_reset=spec.linear_before_reset,
                            w_ih=weights((3 * H, fin), rng, 0.4), w_hh=weights((3 * H, H), rng, 0.3),
                            b_ih=Tensor(rng.normal(0, 0.3, 3 * H)), b_hh=Tensor(rng.normal(0, 0.3, 3 * H))))
        fin = H
    if spec.bn:
        lays[0] = lays[0].replace(**batch_norm(spec, rng))
    if spec.head:
        lays.append(Linear("head", in_size=H, out_size=spec.head, weight=weights((spec.head, H), rng, 0.2),
                           bias=Tensor(rng.normal(0, 0.1, spec.head))))
    return Model(tuple(lays), InputSpec("features", spec.input_size), f"sweep-{spec.seed}")


def _bn_params(rng, shape, gamma=None) -> BatchNormParams:
    return BatchNormParams(gamma=rng.uniform(0.5, 2.0, shape) if gamma is None else gamma,
                           beta=rng.normal(0, 0.3, shape), mean=rng.normal(0, 0.5, shape),
                           var=rng.uniform(0.5, 2.0, shape))


def batch_norm(spec: SweepSpec, rng) -> dict:
    """Per-step recurrent batch norm of the first LSTM layer: bn_h with max(2, steps - 1)
    statistics rows (later steps read the last row), bn_x and bn_c with one row fewer.  Real inputs need one
    bn_x/bn_h scale ratio per step (the port's thresholds carry it): bn_x's gamma is c_t bn_h's."""
    H, T = spec.hidden, max(2, spec.steps - 1)
    bh = _bn_params(rng, (T, 4 * H))
    if spec.inputs == "real" and spec.gate_input != "table":
        bx = BatchNormParams(gamma=bh.gamma * rng.uniform(0.5, 2.0, (T, 1)), beta=rng.normal(0, 0.3, (T, 4 * H)),
                             mean=rng.normal(0, 0.5, (T, 4 * H)), var=bh.var.copy())
    else:
        bx = _bn_params(rng, (max(1, T - 1), 4 * H))
    return {"bn_x": bx, "bn_h": bh, "bn_c": _bn_params(rng, (max(1, T - 1), H))}


def inputs_of(spec: SweepSpec, sequences: int = SEQUENCES) -> np.ndarray:
    """(B, T, I) testbench inputs: exact {-0.5, 0, 0.5} (table gates: {-1, 0, 1}) or real in [-1, 1]."""
    rng = np.random.default_rng(100 + spec.seed)
    shape = (sequences, spec.steps, spec.input_size)
    if spec.inputs == "real":
        return rng.uniform(-1, 1, shape)
    scale = 1.0 if spec.gate_input == "table" else 0.5
    return scale * rng.choice([-1.0, 0.0, 1.0], size=shape)


def compile_spec(spec: SweepSpec):
    """(design, testbench inputs)."""
    x = inputs_of(spec)
    defaults = {"fsm_state": spec.fsm_state, "gate_input": spec.gate_input,
                "hidden": "sign" if spec.gate_input == "table" else "stream",
                **({"gate_sngs": "per_gate"} if spec.per_gate else {})}
    cfg = {"length": spec.length, "sources": spec.sources, "source": spec.source, "defaults": defaults, **FAST}
    if spec.length2:
        later = [f"{spec.cell}{k}" for k in range(1, spec.layers)] + (["head"] if spec.head else [])
        cfg["layers"] = {name: {"length": spec.length2} for name in later}
    return compile_model(model_of(spec), cfg, calibration=x), x
