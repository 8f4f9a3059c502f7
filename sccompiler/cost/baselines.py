"""Inventories of the binary baselines the SC design is compared against.

(a) a k-bit fixed-point LSTM/GRU (array multipliers, adder trees, activation LUTs) and (b) a
binary/ternary-weight accumulate-only LSTM/GRU (conditional negation instead of multipliers), each
fully parallel per neuron (every weight has its own multiplier, like the SC design) or folded onto P
MAC lanes.  Every formula is written out in docs/cost-model.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..errors import SCValueError, UnsupportedOpError
from ..ir.model import direction_layers
from ..sim.rules import check_int
from .inventory import Design, Inventory
from .primitives import tree_levels

#: gate rows per hidden unit
GATES = {"lstm": 4, "gru": 3}
#: pipeline stages of the per-neuron cell update after the gate activations (one arithmetic unit
#: per cycle): LSTM f*c | +i*g | tanh LUT | o*tanh;  GRU r*(Whn h) | +x part | tanh LUT | h-n | z*() | +n
CELL_STAGES = {"lstm": 4, "gru": 6}


@dataclass(frozen=True)
class RecurrentShape:
    """One recurrent layer's kind and sizes."""

    cell: str
    input_size: int
    hidden_size: int

    def __post_init__(self) -> None:
        if self.cell not in GATES:
            raise UnsupportedOpError(self.cell, None, "cost model layers are 'lstm' or 'gru'")
        for name in ("input_size", "hidden_size"):
            check_int(name, getattr(self, name), 1)

    @property
    def rows(self) -> int:
        return GATES[self.cell] * self.hidden_size

    @property
    def fan_in(self) -> int:
        return self.input_size + self.hidden_size


def as_shapes(layers: Iterable, cell: str = "lstm") -> tuple[RecurrentShape, ...]:
    """Accept RecurrentShape objects, (input, hidden) pairs (of ``cell``) or IR LSTM/GRU layers."""
    out = []
    for lay in layers:
        if isinstance(lay, RecurrentShape):
            out.append(lay)
        elif isinstance(lay, (tuple, list)) and len(lay) == 2:
            out.append(RecurrentShape(cell, int(lay[0]), int(lay[1])))
        elif getattr(lay, "kind", None) in GATES:
            out.append(RecurrentShape(lay.kind, int(lay.input_size), int(lay.hidden_size)))
        else:
            raise SCValueError("layers", f"expected (input_size, hidden_size) or an LSTM/GRU layer, got {lay!r}")
    if not out:
        raise SCValueError("layers", "at least one recurrent layer is needed")
    return tuple(out)


def layer_shapes(model) -> tuple[RecurrentShape, ...]:
    """The recurrent layers of an IR :class:`~sccompiler.ir.model.Model` (other layers are not
    costed: embeddings, dense heads and batch norms are reported as excluded)."""
    recurrent = [lay for lay in model.layers if getattr(lay, "kind", None) in GATES]
    if not recurrent:
        raise UnsupportedOpError("model", getattr(model, "name", None), "no LSTM/GRU layer to cost")
    # a bidirectional layer: both directions' datapaths (each a unidirectional layer of its shape)
    return as_shapes([d for lay in recurrent for d in (direction_layers(lay) if getattr(lay, "direction", None)
                                                         == "bidirectional" else (lay,))])


def head_shape(model) -> tuple[int, int] | None:
    """(in_size, out_size) of a model's trailing dense head (a Linear after the recurrent layers),
    or None: the baselines then include the same head the SC design has."""
    layers = list(getattr(model, "layers", ()))
    if layers and getattr(layers[-1], "kind", None) == "linear":
        return int(layers[-1].in_size), int(layers[-1].out_size)
    return None


def head_runs_once(model) -> bool:
    """Whether a model's trailing dense head follows a ``last_step`` layer (a sequence-level
    head, PyTorch's ``fc(y[:, -1])``): the baselines then run it once per sequence."""
    kinds = [getattr(lay, "kind", None) for lay in getattr(model, "layers", ())]
    return len(kinds) >= 2 and kinds[-1] == "linear" and kinds[-2] == "last_step"


#: the parts of a baseline's dense head: with ``head_per_sequence`` they run once per sequence
HEAD_PARTS = ("head input", "head weights", "head rows", "head lanes", "head outputs")


def _cell_update(shape: RecurrentShape, k: int, acc_w: int) -> Inventory:
    """Per-neuron element-wise update after the gate activations (k-bit operands)."""
    inv = Inventory()
    if shape.cell == "lstm":
        inv = (inv.add("array_multiplier", 3, width=k)            # f*c, i*g, o*tanh(c)
               .add("ripple_adder", width=2 * k)                  # f*c + i*g
               .add("requantize", input_width=2 * k + 1, output_width=k)  # c
               .add("activation_lut", input_bits=k)               # tanh(c)
               .add("requantize", input_width=2 * k, output_width=k)      # h
               .add("register", 2, width=k))                      # c, h
    else:  # GRU, linear_before_reset form: n = tanh(Wx + r*(Wh h)), h = n + z*(h - n)
        inv = (inv.add("array_multiplier", 2, width=k)            # r*(Whn h), z*(h-n)
               .add("ripple_adder", width=acc_w)                  # x part + r*(h part)
               .add("ripple_adder", width=k)                      # h - n
               .add("ripple_adder", width=2 * k)                  # n + z*(h-n)
               .add("requantize", 2, input_width=2 * k + 1, output_width=k)
               .add("register", width=k))                         # h
    return inv


def _product(kind: str, k: int) -> tuple[str, dict, int]:
    """(primitive, params, product width) of one weight x operand product."""
    if kind == "fixed":
        return "array_multiplier", {"width": k}, 2 * k
    if kind == "binary":
        return "conditional_negate", {"width": k}, k
    if kind == "ternary":
        return "ternary_select", {"width": k}, k
    raise SCValueError("weights", f"must be 'fixed', 'binary' or 'ternary', got {kind!r}")


WEIGHT_BITS = {"binary": 1, "ternary": 2}


def _layer(shape: RecurrentShape, kind: str, k: int, parallelism: int | None,
           storage: str | None) -> tuple[list[tuple[str, Inventory]], int, int]:
    """(parts, cycles per time step, MACs per step) of one layer."""
    prim, params, pw = _product(kind, k)
    rows, fan_in, terms = shape.rows, shape.fan_in, shape.fan_in + 1  # + bias
    acc_w = pw + tree_levels(terms)
    wbits = WEIGHT_BITS.get(kind, k)
    weight_bits = rows * fan_in * wbits + rows * k  # weights + k-bit biases
    row_act = (Inventory.of("requantize", input_width=acc_w, output_width=k)
               + Inventory.of("activation_lut", input_bits=k))
    cell = _cell_update(shape, k, acc_w)
    macs = rows * fan_in
    if parallelism is None:
        row = Inventory.of(prim, fan_in, **params) + Inventory.of("adder_tree", terms=terms, width=pw) + row_act
        parts = [("weights", Inventory.of("weight_memory", bits=weight_bits, storage=storage or "register")),
                 ("gate rows", rows * row), ("cell update", shape.hidden_size * cell)]
        cycles = 1 + tree_levels(terms) + 1 + CELL_STAGES[shape.cell]
        return parts, cycles, macs
    p = check_int("parallelism", parallelism, 1)
    if p > macs:
        raise SCValueError("parallelism", f"must be <= {macs} (MACs per step), got {p}")
    mac_cycles = -(-macs // p)
    lanes = p * (Inventory.of(prim, **params) + Inventory.of("accumulator", width=acc_w, input_width=pw))
    parts = [("weights", Inventory.of("weight_memory", bits=weight_bits, storage=storage or "sram",
                                      read_bits_per_cycle=p * wbits)),
             ("MAC lanes", lanes)]
    if p > rows:  # a row is split over several lanes: reduce their partial sums
        parts.append(("lane reduction", rows * Inventory.of("adder_tree", terms=-(-p // rows), width=acc_w)))
    units = -(-shape.hidden_size // mac_cycles)  # cell units keep pace with the MAC array
    gates = GATES[shape.cell]
    parts.append(("cell units", units * (gates * row_act + cell)))
    # h is double-buffered (old h read by the MACs while the new one is written); c single
    state = Inventory.of("register", shape.hidden_size * (2 if shape.cell == "lstm" else 1) + shape.hidden_size,
                         width=k)
    parts.append(("state registers", state))
    cycles = mac_cycles + 1 + 1 + CELL_STAGES[shape.cell]  # drain: accumulator readout, LUT, cell update
    return parts, cycles, macs


def _head(head: tuple[int, int], kind: str, k: int, parallelism: int | None,
          storage: str | None) -> tuple[list[tuple[str, Inventory]], int, int]:
    """(parts, cycles per evaluation, MACs) of a dense head: out rows of in products, no activation."""
    fan_in, rows = head
    prim, params, pw = _product(kind, k)
    terms = fan_in + 1
    acc_w = pw + tree_levels(terms)
    weight_bits = rows * fan_in * WEIGHT_BITS.get(kind, k) + rows * k
    macs = rows * fan_in
    if parallelism is None:
        row = Inventory.of(prim, fan_in, **params) + Inventory.of("adder_tree", terms=terms, width=pw)
        return ([("head weights", Inventory.of("weight_memory", bits=weight_bits, storage=storage or "register")),
                 ("head rows", rows * row)], 1 + tree_levels(terms), macs)
    p = min(check_int("parallelism", parallelism, 1), macs)
    lanes = p * (Inventory.of(prim, **params) + Inventory.of("accumulator", width=acc_w, input_width=pw))
    return ([("head weights", Inventory.of("weight_memory", bits=weight_bits, storage=storage or "sram",
                                           read_bits_per_cycle=p * WEIGHT_BITS.get(kind, k))),
             ("head lanes", lanes), ("head outputs", Inventory.of("register", rows, width=acc_w))],
            -(-macs // p) + 1, macs)


def _design(name: str, kind: str, layers, k: int, parallelism, storage, cell: str, description: str,
            head: tuple[int, int] | None = None, head_per_sequence: bool = False) -> Design:
    shapes = as_shapes(layers, cell)
    parts: dict[str, Inventory] = {}
    cycles: list[int] = []
    ops = 0
    stages = [(_layer(shape, kind, k, parallelism, storage)) for shape in shapes]
    for lparts, c, macs in stages:
        for pname, inv in lparts:
            parts[pname] = parts.get(pname, Inventory()) + inv
        cycles.append(c)
        ops += macs
    seq: dict = {}
    if not isinstance(head_per_sequence, bool):
        raise SCValueError("head_per_sequence", f"must be true or false, got {head_per_sequence!r}")
    if head_per_sequence and head is None:
        raise SCValueError("head_per_sequence", "needs a head (in, out) to run once per sequence")
    if head is not None:
        hparts, hc, hmacs = _head(head, kind, k, parallelism, storage)
        if head_per_sequence:
            # once per sequence, after the last step: the last step's h is captured in a k-bit
            # register (the head's inputs change once per sequence), then the head takes its own
            # hc cycles after the last recurrent step (the result, not one more pipeline stage)
            hparts = [("head input", Inventory.of("register", head[0], width=k)), *hparts]
            seq = {"result_cycles": hc, "sequence_parts": tuple(n for n, _ in hparts),
                   "sequence_cycles": max(cycles) if parallelism is None else hc}
            ops_head = hmacs       # per sequence: in the description, not in ops_per_step
        else:
            cycles.append(hc)
            ops += hmacs
            ops_head = 0
        for pname, inv in hparts:
            parts[pname] = parts.get(pname, Inventory()) + inv
    par = "fully parallel" if parallelism is None else f"folded, P={parallelism}"
    if seq:
        description += f", head once per sequence ({ops_head} MACs)"
    return Design(name=name, parts=tuple(parts.items()), step_cycles=tuple(cycles),
                  description=f"{description} ({par})", ops_per_step=ops, ops_unit="MAC",
                  settle_cycles=max(cycles) if parallelism is None else 1,
                  params=(("bits", k), ("parallelism", parallelism), ("weights", kind),
                          ("layers", tuple((s.cell, s.input_size, s.hidden_size) for s in shapes)))
                  + ((("head", tuple(head)),) if head is not None else ())
                  + ((("head_per_sequence", True),) if seq else ()), **seq)


def fixed_point_design(layers: Sequence, *, bits: int = 8, parallelism: int | None = None,
                       weight_storage: str | None = None, cell: str = "lstm",
                       head: tuple[int, int] | None = None, head_per_sequence: bool = False) -> Design:
    """k-bit fixed-point LSTM/GRU stack: k-bit weights/activations, k x k array multipliers, adder
    trees, 2^k x k activation LUTs.  ``parallelism=None``: fully parallel (one multiplier per
    weight, weights in registers); P: P MAC lanes, weights in SRAM.  ``head`` (in, out): a k-bit
    dense head as one more pipeline stage (its own multipliers, or P lanes of its own);
    ``head_per_sequence`` (a head after a LastStep): the head runs once, after the last step, on
    a register holding the last step's h -- its cycles are the design's ``result_cycles`` and its
    switching energy is charged once per sequence (``Design.sequence_parts``)."""
    k = check_int("bits", bits, 2, 16)
    name = f"fixed{k}" + ("" if parallelism is None else f"-P{parallelism}")
    return _design(name, "fixed", layers, k, parallelism, weight_storage, cell,
                   f"{k}-bit fixed-point {cell.upper()}", head, head_per_sequence)


def binary_weight_design(layers: Sequence, *, weights: str = "binary", act_bits: int = 8,
                         parallelism: int | None = None, weight_storage: str | None = None,
                         cell: str = "lstm", head: tuple[int, int] | None = None,
                         head_per_sequence: bool = False) -> Design:
    """Binary/ternary-weight accumulate-only LSTM/GRU (Ardakani et al., ICLR 2019): weights in
    {-1,+1} or {-1,0,+1}, act_bits-bit activations; products are conditional negations (+ zero
    gating for ternary), the element-wise products stay act_bits x act_bits multipliers.
    ``head`` / ``head_per_sequence`` as :func:`fixed_point_design`."""
    if weights not in WEIGHT_BITS:
        raise SCValueError("weights", f"must be 'binary' or 'ternary', got {weights!r}")
    k = check_int("act_bits", act_bits, 2, 16)
    name = f"{weights}-acc{k}" + ("" if parallelism is None else f"-P{parallelism}")
    return _design(name, weights, layers, k, parallelism, weight_storage, cell,
                   f"{weights}-weight accumulate-only {cell.upper()}, {k}-bit activations", head,
                   head_per_sequence)


def parallelism_for_latency(layers: Sequence, step_cycles: int, *, cell: str = "lstm",
                            head: tuple[int, int] | None = None) -> int:
    """Smallest P whose folded design finishes every layer's time step (and the head's) in <=
    ``step_cycles`` (the "equal latency" comparison of the XNOR-LSTM paper).  Raises if even
    P = MACs cannot."""
    shapes = as_shapes(layers, cell)
    best = 1
    if head is not None:
        best = max(best, -(-(head[0] * head[1]) // max(step_cycles - 2, 1)))
    for s in shapes:
        budget = step_cycles - 2 - CELL_STAGES[s.cell]
        if budget < 1:
            raise SCValueError("step_cycles", f"{step_cycles} cycles cannot hold a folded {s.cell} step "
                                              f"(drain alone takes {2 + CELL_STAGES[s.cell]})")
        best = max(best, -(-(s.rows * s.fan_in) // budget))
    return best
