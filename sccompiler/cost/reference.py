"""The analytic reference inventory of the XNOR-LSTM datapath (docs/background.md §5).

This is NOT the compiler's netlist: it is the hand-derived count the compiler's netlist must match
once the compiler exists (a test will put the two side by side).  Per hidden unit and time step
(L cycles), with binary (or ternary) weights and bipolar streams:

* 4 gate rows, each: (I+H) XNOR2 (weight x operand stream; ternary adds an AND2 zero gate),
  a bias SNG, an APC over the I+H+1 products, a constant offset forming d = 2k - M, and a gate
  WFSM (integer-step FSM, N_g states, steps up to M = I+H+1) with its N_g x b weight table and
  b-bit output comparator;
* f*c and i*g: 2 XNOR2; their sum: an APC of 2 (one HA) giving the integral stream in {0,1,2};
* tanh(c): an integral WFSM (N_c states, steps up to 2) with table and comparator;
* c: an up counter of the integral stream (width bits(2L)), requantized to n bits into a hold
  register, re-encoded by an n-bit SNG for the next step;
* h = o*tanh(c): 1 XNOR2, an up counter (width bits(L)), an n-bit hold register and an SNG (or, for
  binary h, the sign bit into a 1-bit register and no SNG);
* random sources: one LFSR per ``sngs_per_rng`` comparators (SNGs and WFSM outputs).
Input streams of the first layer take I SNGs (none for binary/one-hot inputs); later layers read the
previous layer's h streams.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..errors import SCValueError, UnsupportedOpError
from ..sim.rules import check_int, unsigned_width
from .baselines import RecurrentShape, as_shapes
from .inventory import Design, Inventory

ENCODINGS = ("stream", "binary")


def xnor_lstm_reference_parts(input_size: int, hidden_size: int, length: int, *, weight_bits: int = 1,
                              gate_fsm_states: int = 32, cell_fsm_states: int = 16,
                              fsm_weight_bits: int = 8, sng_bits: int | None = None,
                              lfsr_width: int = 16, lfsr_stride: int | None = None,
                              sngs_per_rng: int = 1, input_encoding: str = "stream",
                              hidden_encoding: str = "stream", bias: bool = True,
                              weight_storage: str = "register") -> tuple[tuple[str, Inventory], ...]:
    """The reference datapath of one XNOR-LSTM layer as named parts (see the module docstring)."""
    i = check_int("input_size", input_size, 1)
    h = check_int("hidden_size", hidden_size, 1)
    L = check_int("length", length, 1)
    wb = check_int("weight_bits", weight_bits, 1, 2)
    W = check_int("lfsr_width", lfsr_width, 3, 32)
    n = check_int("sng_bits", max(1, math.ceil(math.log2(L))) if sng_bits is None else sng_bits, 1, W)
    b = check_int("fsm_weight_bits", fsm_weight_bits, 1, W)
    share = check_int("sngs_per_rng", sngs_per_rng, 1)
    for name, enc in (("input_encoding", input_encoding), ("hidden_encoding", hidden_encoding)):
        if enc not in ENCODINGS:
            raise SCValueError(name, f"must be one of {ENCODINGS}, got {enc!r}")
    m = i + h + (1 if bias else 0)
    apc_w = unsigned_width(m)

    row = Inventory.of("xnor", i + h)
    if wb == 2:  # ternary: gated XNOR, zero weights switch the product off
        row = row.add("and", i + h)
    row = (row.add("apc", inputs=m)
           .add("ripple_adder", width=apc_w + 1, carry_in=False, domain="stream")  # d = 2k - M
           .add("wfsm", states=gate_fsm_states, weight_bits=b, max_step=m))
    if bias:
        row = row.add("sng", width=n)
    c_w = unsigned_width(2 * L)
    cell = (Inventory.of("xnor", 3)                                   # f*c, i*g, o*tanh(c)
            .add("apc", inputs=2)                                     # f*c + i*g (integral)
            .add("wfsm", states=cell_fsm_states, weight_bits=b, max_step=2)   # tanh(c)
            .add("counter", width=c_w, increment_bits=2)              # c
            .add("requantize", input_width=c_w, output_width=min(n, c_w), domain="stream")  # a narrower c is shifted in
            .add("register", width=n, domain="stream")                # c hold
            .add("sng", width=n)                                      # c re-encoded
            .add("counter", width=unsigned_width(L)))                 # h
    if hidden_encoding == "stream":
        cell = cell.add("register", width=n, domain="stream").add("sng", width=n)
    else:
        cell = cell.add("register", width=1, domain="stream")         # sign(h)
    parts = [
        ("weights", Inventory.of("weight_memory", bits=4 * h * (i + h) * wb + (4 * h * n if bias else 0),
                                 storage=weight_storage)),
        ("gate rows", (4 * h) * row),
        ("cell update", h * cell),
    ]
    comparators = 4 * h + h + (4 * h if bias else 0) + h + (h if hidden_encoding == "stream" else 0)
    if input_encoding == "stream":
        parts.append(("input SNGs", Inventory.of("sng", i, width=n)))
        comparators += i
    rng = Inventory.of("lfsr", -(-comparators // share), width=W, stride=lfsr_stride)
    parts.append(("random sources", rng))
    return tuple(parts)


def xnor_lstm_reference_inventory(input_size: int, hidden_size: int, length: int, **options) -> Inventory:
    """Analytic reference inventory of one XNOR-LSTM layer (docs/background.md §5), stream length ``length``.

    Options (defaults): weight_bits=1 (2 = ternary), gate_fsm_states=32, cell_fsm_states=16,
    fsm_weight_bits=8, sng_bits=ceil(log2 L), lfsr_width=16, lfsr_stride=None (= width),
    sngs_per_rng=1, input_encoding="stream", hidden_encoding="stream", bias=True,
    weight_storage="register".  The compiler's netlist count must match this later.
    """
    total = Inventory()
    for _, inv in xnor_lstm_reference_parts(input_size, hidden_size, length, **options):
        total = total + inv
    return total


def xnor_lstm_reference_design(layers: Sequence, length: int = 256, *, overhead_cycles: int = 1,
                               **options) -> Design:
    """The reference datapath for a stack of LSTM layers as a :class:`Design`: one time step takes
    ``length`` + ``overhead_cycles`` cycles (one cycle latches the c/h counters into the hold
    registers and clears them).  Layers after the first read the previous h streams (no input SNGs).

    This is the paper's datapath, costed analytically (``scc cost MODEL``); the compiler's emitted
    RTL is a different circuit with no overhead cycle (:mod:`.timing`, ``scc cost OUTDIR``)."""
    shapes: tuple[RecurrentShape, ...] = as_shapes(layers, "lstm")
    for s in shapes:
        if s.cell != "lstm":
            raise UnsupportedOpError(s.cell, None, "the SC reference datapath covers LSTM layers only")
    L = check_int("length", length, 1)
    ov = check_int("overhead_cycles", overhead_cycles, 0)
    parts: dict[str, Inventory] = {}
    xnors = 0
    for k, s in enumerate(shapes):
        opts = dict(options)
        if k > 0:
            opts["input_encoding"] = "binary"  # reads the previous layer's h streams
        for name, inv in xnor_lstm_reference_parts(s.input_size, s.hidden_size, L, **opts):
            parts[name] = parts.get(name, Inventory()) + inv
        xnors += 4 * s.hidden_size * s.fan_in + 3 * s.hidden_size
    return Design(name=f"sc-xnor-L{L}", parts=tuple(parts.items()), step_cycles=tuple([L + ov] * len(shapes)),
                  description=(f"SC XNOR-LSTM reference datapath, L={L} (docs/background.md §5): "
                               "the analytic paper reference, "
                               f"not a compiled netlist; {L + ov} cycles per step (L + {ov} latch cycle)"),
                  ops_per_step=xnors * L, ops_unit="stream-bit XNOR",
                  params=(("length", L), ("layers", tuple((s.cell, s.input_size, s.hidden_size) for s in shapes)),
                          *sorted(options.items())))
