"""SC netlist IR: typed, layer-level nodes (each node is an ARRAY of identical primitives).

A node such as ``xnor_apc`` of shape ``(4H,)`` with a ``(4H, I)`` weight array stands for 4H
rows of I XNOR gates feeding one parallel counter each: the IR never expands to per-bit gates,
so a 1x1000 LSTM is a few dozen nodes.  Every node has

* ``op``: the primitive family (:data:`OPS`),
* ``kind``: what flows out of it, one of :data:`KINDS`:
  ``value`` (a real vector held in binary registers, one per time step), ``word`` (integers per
  time step: counter contents, exact popcounts), ``bits`` (stochastic bit streams, one bit per
  cycle), ``int`` (integral streams, one small integer per cycle),
* ``shape`` (the array of primitives), ``encoding`` (``bipolar``, ``unipolar``, ``integral``,
  ``binary``) and ``range`` (the represented value range),
* ``layer`` (the model layer it implements), ``params`` (JSON scalars/lists) and ``arrays``
  (numpy arrays: weights, thresholds, FSM weight tables, seeds).

Nodes are stored in a topological order inside each layer's step program; ``register`` nodes
read the value their ``next`` node produced in the previous time step (explicit state storage).
The netlist's JSON form keeps arrays out of line (shape, dtype and SHA-256 only): the design
file stores them in an ``.npz`` next to it, the per-stage IR snapshots only describe them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from ..errors import ModelFormatError, SimulationError, UnsupportedOpError
from ..jsonable import to_jsonable

KINDS = ("value", "word", "bits", "int")
#: op -> kind of its output (the typing rule the checker enforces)
OPS: dict[str, str] = {
    "input": "value",          # the layer's input vector per time step
    "register": "value",       # stored state (h, c), written from params['next'] at step end
    "lookup": "value",         # embedding-table read (binary domain)
    "affine": "value",         # binary-domain per-feature affine map (standalone batch norm)
    "activation": "value",     # binary-domain activation of a value
    "xnor_popcount": "word",   # exact XNOR + popcount of +-1/0 operands with +-1/0 weights
    "gate_table": "value",     # gate nonlinearity of exact pre-activations (table), BN folded
    "dense_out": "value",      # dense layer output: affine of an exact or counted pre-activation
    "int_mac": "word",         # fixed-point head: integer weights times integer operands (exact
                               # codes, or 2 c - L of per-input stream counts c), summed exactly
    "encode": "bits",          # abstract value -> stream crossing (before the insert_sngs pass)
    "sng": "bits",             # stochastic number generators (comparator + own LFSR each)
    "xnor": "bits",            # bipolar multiply
    "mux": "bits",             # scaled add: sel ? a : b
    "slice": "bits",           # wires: rows [a, b) of a bit bank (no hardware)
    "islice": "int",           # wires: rows [a, b) of an integral-stream bank
    "xnor_int": "int",         # a row's operand bits each XNOR one stream: the integral value times +-1
    "xnor_apc": "int",         # bank of XNOR rows each into a parallel counter (d = 2k - M); ``gated``:
                               # zero exact inputs switch their XNORs off, like zero ternary weights
    "apc": "int",              # integral add of bit streams (bipolar) and integral streams
    "wfsm": "bits",            # weighted FSM (integer-step input), one per element
    "counter": "word",         # up counter of ones
    "updown_counter": "word",  # signed counter of an integral stream
    "decode": "value",         # counter word -> value (+ sign / requantize / saturate)
    "last_step": "value",      # the value of the last time step only: the layers after it run once
                               # per sequence (the runtimes keep step T-1 of this layer's output)
    "concat": "value",         # a bidirectional layer's output: concat(forward h_t, backward h_t), read
                               # from its sequence buffers (docs/semantics.md, "Bidirectional layers")
}
INPUT_KINDS: dict[str, tuple[str, ...]] = {
    "input": (), "register": (), "lookup": ("value",), "affine": ("value",), "activation": ("value",),
    "xnor_popcount": ("value",), "gate_table": ("word",), "dense_out": ("word",),
    "int_mac": ("value", "word"),
    "encode": ("value",), "sng": ("value",), "xnor": ("bits",), "mux": ("bits",), "slice": ("bits",),
    "islice": ("int",), "xnor_int": ("bits", "int"),
    "xnor_apc": ("bits", "value"),       # + the exact operand values when zero inputs gate XNORs off
    "apc": ("bits", "int"), "wfsm": ("int", "bits"), "counter": ("bits",),
    "updown_counter": ("int",), "decode": ("word",), "last_step": ("value",),
    "concat": ("value",),
}
ENCODINGS = ("bipolar", "unipolar", "integral", "binary")
#: activation codes of gate-table (``act``) and WFSM-bank (``target_act``) arrays
SIGMOID, TANH, SIGMOID_UNIPOLAR = 0, 1, 2


def concat_name(name: str) -> str:
    """The netlist layer (and its one ``concat`` node) of bidirectional layer ``name``'s output."""
    return f"{name}.concat"


def final_state_select(netlist: "SCNetlist") -> str | None:
    """The ``select`` of a ``last_step`` layer right after a bidirectional layer's ``concat`` that
    keeps the directions' final states (``"final"``, ``"forward"``, ``"backward"``: an h_n head),
    else None (no such head, or ``"last"``).  The cost model's buffers and the RTL's refusal read it."""
    kinds = [p.kind for p in netlist.layers]
    if "concat" not in kinds:
        return None
    k = kinds.index("concat")
    if k + 1 >= len(kinds) or kinds[k + 1] != "last_step":
        return None
    sel = netlist.layers[k + 1].options.select
    return sel if sel not in (None, "last") else None


def refuse_final_state_heads(netlist: "SCNetlist") -> None:
    """Raise one UnsupportedOpError for an h_n head (:func:`final_state_select`): the Verilog
    emitter has no read-out of the directions' final states yet (the emitter's bidirectional
    check, ``backends/verilog/ops/sequence.py``, calls it)."""
    sel = final_state_select(netlist)
    if sel is None:
        return
    lay = netlist.layers[[p.kind for p in netlist.layers].index("concat") + 1]
    raise UnsupportedOpError("LastStep", lay.name, f"select={sel!r} (an h_n head: a bidirectional layer's final "
                             "states) has no Verilog emission yet; the design compiles, simulates and is costed "
                             "(scc simulate, scc cost)")


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]




@dataclass(frozen=True, eq=False)
class SCNode:
    """One layer-level node: an array of ``shape`` primitives of family ``op``."""

    name: str
    op: str
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    layer: str
    encoding: str = "binary"
    range: tuple[float, float] = (-1.0, 1.0)
    params: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return OPS[self.op]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def replace(self, **changes: Any) -> "SCNode":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        return {"name": self.name, "op": self.op, "kind": self.kind, "inputs": list(self.inputs),
                "shape": list(self.shape), "layer": self.layer, "encoding": self.encoding,
                "range": [float(self.range[0]), float(self.range[1])], "params": to_jsonable(dict(self.params)),
                "arrays": {k: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": _digest(a)}
                           for k, a in self.arrays.items()}}

    @classmethod
    def from_json(cls, d: Mapping, arrays: Mapping[str, np.ndarray] | None = None) -> "SCNode":
        try:
            name = d["name"]
            arr = {}
            for key, meta in d.get("arrays", {}).items():
                full = f"{name}/{key}"
                if arrays is None:
                    continue
                if full not in arrays:
                    raise ModelFormatError(f"netlist node {name!r}: array {key!r} missing from the array file")
                a = np.asarray(arrays[full])
                if list(a.shape) != list(meta["shape"]) or _digest(a) != meta["sha256"]:
                    raise ModelFormatError(f"netlist node {name!r}: array {key!r} does not match its digest")
                arr[key] = a
            return cls(name=name, op=d["op"], inputs=tuple(d["inputs"]), shape=tuple(int(s) for s in d["shape"]),
                       layer=d["layer"], encoding=d.get("encoding", "binary"),
                       range=(float(d["range"][0]), float(d["range"][1])),
                       params=dict(d.get("params", {})), arrays=arr)
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ModelFormatError(f"malformed netlist node {d!r:.120}: {exc}") from None


@dataclass(frozen=True)
class LayerOptions:
    """The datapath choices a layer was lowered with (None: not applicable to this layer kind).

    Recurrent layers: the resolved :class:`~sccompiler.config.LayerConfig` options (``gate_input``
    after ``auto``), and what lowering derived: ``unit`` (the common operand unit u of integral
    gates), ``bias_streams`` / ``bias_offset_max`` (bias SNGs per row, wired APC offset),
    ``x_streams`` (shared / per_row / per_gate x banks with per-step or per-row gains),
    ``bn_gate_tables`` / ``bn_c_tables`` (rows of per-step WFSM table banks).  Dense layers:
    ``mode`` (exact / stream / fixed), ``sng_bits`` and, for a fixed-point head, ``weight_bits`` (K
    of its integer weights) and ``macs`` (P of its sequential MAC; None: fully parallel); activations: ``function``.
    Bidirectional layers: ``direction`` (``"forward"`` / ``"backward"`` on the two direction layers)
    and ``max_steps`` (T_max, the depth of the sequence buffers) on both and on the ``concat`` layer.
    A ``last_step`` layer: ``select`` (``LastStep.select``; None: ``"last"``).
    """

    mode: str | None = None
    function: str | None = None
    sng_bits: int | None = None
    gate_input: str | None = None
    hidden: str | None = None
    cell_range: int | None = None
    gate_fsm_states: int | str | None = None
    cell_fsm_states: int | str | None = None
    fsm_weight_bits: int | None = None
    fsm_state: str | None = None
    bias_encoding: str | None = None
    fsm_input_model: str | None = None
    bn_steps: str | None = None
    gate_sngs: str | None = None
    sign_from: str | None = None
    unit: float | None = None
    bias_streams: int | None = None
    bias_offset_max: int | None = None
    x_streams: str | None = None
    bn_gate_tables: int | None = None
    bn_c_tables: int | None = None
    weight_bits: int | None = None
    macs: int | None = None
    direction: str | None = None
    max_steps: int | None = None
    select: str | None = None

    def to_json(self) -> dict:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    @classmethod
    def from_json(cls, d: Mapping) -> "LayerOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelFormatError(f"netlist layer options: unknown key(s) {', '.join(map(repr, unknown))}")
        return cls(**{k: v for k, v in d.items()})


@dataclass(frozen=True)
class LayerPlan:
    """What one model layer became: its kind, stream length and the options chosen."""

    name: str
    kind: str            # lstm | gru | dense | embedding | affine | activation | last_step | concat
    length: int          # cycles per time step (0 for binary-domain layers)
    options: LayerOptions = field(default_factory=LayerOptions)

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "length": self.length, "options": self.options.to_json()}


@dataclass(frozen=True, eq=False)
class SCNetlist:
    """Layer-level SC netlist: nodes (topological), layer plans, source settings and metadata."""

    nodes: tuple[SCNode, ...] = ()
    layers: tuple[LayerPlan, ...] = ()
    sources: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[SCNode]:
        return iter(self.nodes)

    def node(self, name: str) -> SCNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(n.name == name for n in self.nodes)

    def layer_nodes(self, layer: str) -> list[SCNode]:
        return [n for n in self.nodes if n.layer == layer]

    def plan(self, layer: str) -> LayerPlan:
        for p in self.layers:
            if p.name == layer:
                return p
        raise KeyError(layer)

    def with_nodes(self, nodes) -> "SCNetlist":
        return dataclasses.replace(self, nodes=tuple(nodes))

    def replace(self, **changes: Any) -> "SCNetlist":
        return dataclasses.replace(self, **changes)

    def check(self) -> "SCNetlist":
        """Typing and ordering rules: unique names, inputs defined earlier, input kinds allowed."""
        seen: dict[str, SCNode] = {}
        for n in self.nodes:
            if n.op not in OPS:
                raise SimulationError(f"netlist node {n.name!r}: unknown op {n.op!r}")
            if n.name in seen:
                raise SimulationError(f"netlist: duplicate node name {n.name!r}")
            for ref in n.inputs:
                if ref not in seen:
                    raise SimulationError(f"netlist node {n.name!r}: input {ref!r} is not defined before it")
                if seen[ref].kind not in INPUT_KINDS[n.op]:
                    raise SimulationError(f"netlist node {n.name!r} ({n.op}) cannot take a {seen[ref].kind} "
                                          f"input ({ref!r}); allowed: {INPUT_KINDS[n.op]}")
            seen[n.name] = n
        for n in self.nodes:
            if n.op == "register":
                nxt = n.params.get("next")
                if nxt not in seen or seen[nxt].kind != "value" or seen[nxt].shape != n.shape:
                    raise SimulationError(f"register {n.name!r}: next {nxt!r} must be a value node of shape {n.shape}")
        return self

    def counts(self) -> dict[str, int]:
        """op -> number of primitive instances."""
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.op] = out.get(n.op, 0) + n.size
        return out

    def to_json(self) -> dict:
        return {"format": "sccompiler-netlist", "version": 1,
                "layers": [p.to_json() for p in self.layers], "sources": to_jsonable(dict(self.sources)),
                "metadata": to_jsonable(dict(self.metadata)), "counts": self.counts(),
                "nodes": [n.to_json() for n in self.nodes]}

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat ``node/array`` -> array mapping (for ``np.savez``)."""
        return {f"{n.name}/{k}": a for n in self.nodes for k, a in n.arrays.items()}

    @classmethod
    def from_json(cls, d: Mapping, arrays: Mapping[str, np.ndarray] | None = None) -> "SCNetlist":
        if not isinstance(d, Mapping) or d.get("format") != "sccompiler-netlist":
            raise ModelFormatError("not an sccompiler netlist (missing format tag)")
        if d.get("version") != 1:
            raise ModelFormatError(f"unsupported netlist version {d.get('version')!r}")
        try:
            layers = tuple(LayerPlan(p["name"], p["kind"], int(p["length"]),
                                     LayerOptions.from_json(p.get("options", {})))
                           for p in d["layers"])
            nodes = tuple(SCNode.from_json(n, arrays) for n in d["nodes"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelFormatError(f"malformed netlist: {exc}") from None
        return cls(nodes, layers, dict(d.get("sources", {})), dict(d.get("metadata", {})))
