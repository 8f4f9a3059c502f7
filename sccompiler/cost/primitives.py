"""Per-primitive resource formulas: one function per SC and binary primitive kind.

Every function returns a :class:`Resources` for ONE instance of the primitive, built from explicit,
hand-checkable formulas (each is spelled out in docs/cost-model.md; a later Yosys report is put next
to these numbers).  The keys of a :class:`Resources` are namespaced strings:

* ``cell:<TYPE>``   generic ASIC cells (INV, NAND2, NOR2, AND2, OR2, XOR2, XNOR2, MUX2, FA, HA, DFF_R,
  ROM_BIT, REGFILE_BIT, SRAM_BIT); a target gives each a NAND2-equivalent area.
* ``fpga:func:<k>`` single-output Boolean functions of k inputs (k <= K fit one K-input LUT);
  ``fpga:pair``  two-output functions of <= 5 inputs (FA/HA: one fracturable LUT6_2);
  ``fpga:gate2`` loose 2-input gates that a mapper packs several to a LUT;
  ``fpga:carry:<w>`` a w-bit carry-chain adder/comparator/counter;
  ``fpga:table:<depth>x<width>`` a constant table (activation LUT, WFSM weights);
  ``fpga:ff`` flip-flops; ``fpga:membits:<storage>`` stored weight bits.
* ``rng`` random sources (LFSRs), ``sng`` stochastic number generators (comparator fed by a source),
  ``mem_read_bits`` memory bits read per cycle (folded designs).

Each instance also has an activity ``domain`` (``"stream"`` for logic on stochastic bit streams,
``"binary"`` for conventional binary datapaths, ``"storage"`` for static memory cells); the energy
model applies a per-domain activity factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from ..errors import SCValueError

# the integer validator and the register widths are the project's primitive rules (one definition,
# shared with the simulator and the emitter); unsigned_width / signed_width / state_bits stay
# importable from here for the cost model's callers
from ..sim.rules import check_int, signed_width, unsigned_width
from ..sim.rules import fsm_state_width as state_bits

CELL_TYPES = ("INV", "NAND2", "NOR2", "AND2", "OR2", "XOR2", "XNOR2", "MUX2", "FA", "HA", "DFF_R",
              "ROM_BIT", "REGFILE_BIT", "SRAM_BIT")
DOMAINS = ("stream", "binary", "storage")
#: weight storage kinds -> the ASIC memory cell that holds one bit
STORAGE_CELLS = {"register": "REGFILE_BIT", "rom": "ROM_BIT", "sram": "SRAM_BIT"}
GATE_OPS = {"AND": "AND2", "OR": "OR2", "XOR": "XOR2", "XNOR": "XNOR2", "NAND": "NAND2", "NOR": "NOR2"}


@dataclass(frozen=True)
class Resources:
    """Resources of one primitive instance: ``items`` are sorted (key, count) pairs."""

    domain: str
    items: tuple[tuple[str, int], ...]

    @classmethod
    def build(cls, domain: str, counts: Mapping[str, int]) -> "Resources":
        if domain not in DOMAINS:
            raise SCValueError("domain", f"must be one of {DOMAINS}, got {domain!r}")
        return cls(domain, tuple(sorted((k, int(v)) for k, v in counts.items() if v)))

    def as_dict(self) -> dict[str, int]:
        return dict(self.items)

    def cells(self) -> dict[str, int]:
        return {k[5:]: v for k, v in self.items if k.startswith("cell:")}


class _Acc:
    """Tiny accumulator used while building a Resources."""

    def __init__(self) -> None:
        self.d: dict[str, int] = {}

    def add(self, key: str, n: int = 1) -> "_Acc":
        if n:
            self.d[key] = self.d.get(key, 0) + int(n)
        return self

    def merge(self, r: Resources, times: int = 1) -> "_Acc":
        for k, v in r.items:
            self.add(k, v * times)
        return self

    def done(self, domain: str) -> Resources:
        return Resources.build(domain, self.d)


# --------------------------------------------------------------------------------------------------
# column compression: the exact FA/HA construction behind APCs and array multipliers

def column_compression_schedule(heights: Iterable[int], out_width: int) -> list[tuple[str, int]]:
    """Greedy ripple column compression of bit columns into one bit per column.

    ``heights[j]`` bits of weight 2^j are summed into an ``out_width``-bit result.  Columns are
    processed from the LSB: while a column holds >= 3 bits a full adder takes 3 of them and puts the
    sum back in column j and the carry in column j+1; 2 remaining bits take a half adder.  In the top
    column (j = out_width-1) at most one bit can be 1 (the sum is < 2^out_width), so the remaining
    bits are merged with OR2 and no carry leaves the result.

    Returns the operations in evaluation order as (``"FA"``|``"HA"``|``"OR2"``, column): FA pops 3
    bits of the column and pushes (sum -> column, carry -> column+1); HA pops 2; OR2 pops 2, pushes 1.
    """
    cols = [int(h) for h in heights]
    if any(h < 0 for h in cols):
        raise SCValueError("heights", "column heights must be >= 0")
    cols += [0] * max(0, out_width - len(cols))
    if any(cols[out_width:]):
        raise SCValueError("out_width", f"{out_width} bits cannot hold columns up to {len(cols) - 1}")
    ops: list[tuple[str, int]] = []
    for j in range(out_width):
        top = j == out_width - 1
        while cols[j] >= 2:
            if top:
                ops.append(("OR2", j))
                cols[j] -= 1
            elif cols[j] >= 3:
                ops.append(("FA", j))
                cols[j] -= 2
                cols[j + 1] += 1
            else:
                ops.append(("HA", j))
                cols[j] -= 1
                cols[j + 1] += 1
    return ops


def _compression(acc: _Acc, heights: Iterable[int], out_width: int) -> _Acc:
    for op, _ in column_compression_schedule(heights, out_width):
        acc.add(f"cell:{op}")
        acc.add("fpga:gate2" if op == "OR2" else "fpga:pair")
    return acc


# --------------------------------------------------------------------------------------------------
# combinational stream gates

def gate(op: str, inputs: int = 2, domain: str = "stream") -> Resources:
    """An ``inputs``-input AND/OR/XOR/XNOR/NAND/NOR as a tree of inputs-1 two-input cells; NOT = 1 INV.

    (An n-input XNOR is counted as n-1 XNOR2: parity trees need exactly n-1 two-input cells.)
    FPGA: a 2-input gate is a packable ``gate2``; wider gates one k-input function.
    """
    op = op.upper()
    acc = _Acc()
    if op == "NOT":
        check_int("inputs", inputs, 1, 1)
        return acc.add("cell:INV").add("fpga:gate2").done(domain)
    if op not in GATE_OPS:
        raise SCValueError("op", f"must be NOT or one of {sorted(GATE_OPS)}, got {op!r}")
    n = check_int("inputs", inputs, 2)
    acc.add(f"cell:{GATE_OPS[op]}", n - 1)
    return acc.add(_function_key(n)).done(domain)


def xnor(inputs: int = 2, domain: str = "stream") -> Resources:
    """Bipolar multiply of streams (XNOR)."""
    return gate("XNOR", inputs, domain)


def and_(inputs: int = 2, domain: str = "stream") -> Resources:
    """Unipolar multiply of streams (AND)."""
    return gate("AND", inputs, domain)


def or_(inputs: int = 2, domain: str = "stream") -> Resources:
    return gate("OR", inputs, domain)


def xor(inputs: int = 2, domain: str = "stream") -> Resources:
    return gate("XOR", inputs, domain)


def not_(domain: str = "stream") -> Resources:
    return gate("NOT", 1, domain)


def mux(domain: str = "stream") -> Resources:
    """MUX2 (scaled addition of two streams with a select stream): 1 MUX2; FPGA one 3-input function."""
    return _Acc().add("cell:MUX2").add("fpga:func:3").done(domain)


# --------------------------------------------------------------------------------------------------
# counting and arithmetic

def apc(inputs: int, domain: str = "stream") -> Resources:
    """Accumulative parallel counter: popcount of n bits into ceil(log2(n+1)) bits, built by
    :func:`column_compression_schedule` (3 inputs: 1 FA; 7 inputs: 4 FA; n = 2^m - 1: n - m FA)."""
    n = check_int("inputs", inputs, 1)
    return _compression(_Acc(), [n], unsigned_width(n)).done(domain)


def ripple_adder(width: int, carry_in: bool = True, domain: str = "binary") -> Resources:
    """width-bit ripple-carry adder (width+1-bit result): width FA, or with no carry-in the LSB is a
    HA (width-1 FA + 1 HA).  FPGA: one width-bit carry chain."""
    w = check_int("width", width, 1)
    acc = _Acc()
    if carry_in:
        acc.add("cell:FA", w)
    else:
        acc.add("cell:FA", w - 1).add("cell:HA")
    return acc.add(f"fpga:carry:{w}").done(domain)


def integral_adder(width_a: int, width_b: int, domain: str = "stream") -> Resources:
    """Sum of two integral streams (per-cycle integers): a ripple adder of the wider operand, no
    carry-in."""
    return ripple_adder(max(check_int("width_a", width_a, 1), check_int("width_b", width_b, 1)),
                        carry_in=False, domain=domain)


def register(width: int, domain: str = "binary") -> Resources:
    """width resettable D flip-flops."""
    w = check_int("width", width, 1)
    return _Acc().add("cell:DFF_R", w).add("fpga:ff", w).done(domain)


def counter(width: int, increment_bits: int = 1, updown: bool = False,
            domain: str = "stream") -> Resources:
    """Counter register of ``width`` bits plus its incrementer.

    * up counter, 1-bit increment (stream -> count): width HA;
    * up counter, m-bit unsigned increment (an APC output): (m-1) FA + (width-m+1) HA;
    * up/down (c <- c + 2*bit - 1): width FA + 1 INV (operand {~b,...,~b,1}).
    Plus width DFF_R.  FPGA: one width-bit carry chain + width FF.
    """
    w = check_int("width", width, 1)
    m = check_int("increment_bits", increment_bits, 1, w)
    acc = _Acc().merge(register(w, domain))
    if updown:
        acc.add("cell:FA", w).add("cell:INV")
    else:
        acc.add("cell:FA", m - 1).add("cell:HA", w - m + 1)
    return acc.add(f"fpga:carry:{w}").done(domain)


def comparator(width: int, constant: bool = False, domain: str = "stream") -> Resources:
    """``R < X`` on ``width``-bit unsigned operands.

    Variable X (LSB-first ripple): lt_1 = x_0 & ~r_0 (AND2 + INV), then per higher bit
    lt_{i+1} = (r_i ^ x_i) ? x_i : lt_i (XOR2 + MUX2): (n-1) XOR2 + (n-1) MUX2 + 1 AND2 + 1 INV.
    Constant X: each bit above the LSB is one 2-input gate, lt_{i+1} = x_i ? (~r_i | lt_i) :
    (~r_i & lt_i), counted as (n-1) NAND2 + 1 INV (polarity folded into NAND/NOR; trailing zero bits
    of X make it smaller: an upper bound).  FPGA: a carry chain (variable) or a reduction function.
    """
    n = check_int("width", width, 1)
    acc = _Acc()
    if constant:
        acc.add("cell:NAND2", n - 1).add("cell:INV")
        acc.add(_function_key(max(n, 2)))
    else:
        acc.add("cell:XOR2", n - 1).add("cell:MUX2", n - 1).add("cell:AND2").add("cell:INV")
        acc.add(f"fpga:carry:{n}")
    return acc.done(domain)


def constant_comparator(width: int, domain: str = "binary") -> Resources:
    return comparator(width, constant=True, domain=domain)


# --------------------------------------------------------------------------------------------------
# random sources and SNGs

#: taps assumed per mask when no tap table is available (maximal-length Galois masks have 2 or 4)
ASSUMED_TAP_COUNT = 4


def _sources():
    """The simulator's source module (tap table and leap matrices), or None if it is absent."""
    try:
        from ..sim import sources  # noqa: PLC0415  (one definition of the LFSR for the project)
    except ImportError:
        return None
    return sources


def leap_row_weights(width: int, stride: int, taps: int | None = None) -> list[int] | None:
    """Ones per row of the leap-forward matrix A^stride (row j: the state bits XOR-ed into next bit
    j), from the simulator's :func:`~sccompiler.sim.sources.step_matrix` / ``matrix_power``, the
    same matrix the Verilog backend emits.  ``taps`` overrides the simulator's mask for ``width``.
    None when the simulator's sources are not available."""
    src = _sources()
    if src is None:
        return None
    if taps is None:
        rows = src.leap_matrix(width, stride)
    else:
        rows = src.matrix_power(src.step_matrix(width, taps), stride)
    return [bin(r).count("1") for r in rows]


def lfsr_xor_count(width: int, stride: int | None = None, taps: int | None = None,
                   xor_popcount: int | None = None) -> int:
    """XOR2 cells of a leap-forward Galois LFSR's next-state network.

    ``xor_popcount`` = total ones of a precomputed A^stride: XOR2 = ones - width.  Otherwise exact
    from the simulator's matrix (``taps`` or its tap table): sum over rows of (ones - 1).  Without
    the simulator, the documented bound min(stride*(t-1), width*(width-1)) with
    t = ASSUMED_TAP_COUNT (a cascade of ``stride`` one-step networks, or a dense matrix).
    """
    w = check_int("width", width, 3, 32)
    s = w if stride is None else check_int("stride", stride, 1)
    if xor_popcount is not None:
        return check_int("xor_popcount", xor_popcount, w, w * w) - w
    if taps is not None:
        check_int("taps", taps, 1, (1 << w) - 1)
        if not (taps >> (w - 1)) & 1:
            raise SCValueError("taps", f"a width-{w} Galois mask must have bit {w - 1} set")
    rows = leap_row_weights(w, s, taps)
    if rows is not None:
        return sum(max(0, r - 1) for r in rows)
    return min(s * (ASSUMED_TAP_COUNT - 1), w * (w - 1))


def _function_key(inputs: int) -> str | None:
    """FPGA item of one single-output function (None for a plain wire)."""
    if inputs <= 1:
        return None
    return "fpga:gate2" if inputs == 2 else f"fpga:func:{inputs}"


def lfsr(width: int, stride: int | None = None, taps: int | None = None,
         xor_popcount: int | None = None, domain: str = "stream") -> Resources:
    """Leap-forward Galois LFSR: width DFF_R + the XOR2 network of :func:`lfsr_xor_count`.
    Counts as one ``rng``.  FPGA: per state bit one function of its row's inputs + width FF."""
    w = check_int("width", width, 3, 32)
    s = w if stride is None else check_int("stride", stride, 1)
    xors = lfsr_xor_count(w, s, taps, xor_popcount)
    acc = _Acc().merge(register(w, domain)).add("rng").add("cell:XOR2", xors)
    rows = leap_row_weights(w, s, taps) if xor_popcount is None else None
    if rows is None:  # spread the count evenly over the state bits
        rows = [1 + math.ceil(xors / w)] * w
    for r in rows:
        key = _function_key(r)
        if key:
            acc.add(key)
    return acc.done(domain)


def sobol(width: int, xors: int | None = None, domain: str = "stream") -> Resources:
    """One Sobol source register (docs/semantics.md §2.5): width DFF_R (restart loads the digital
    shift, like an LFSR's reset loads its seed) + one XOR2 per state bit that some direction
    number sets (``xors``, default width; a bit no direction number sets is a plain register).
    The OR of the direction-select lines per bit is counted separately (``or`` gates of the
    column's fan-in) and the one-hot select once per layer (:func:`sobol_select`).  One ``rng``."""
    w = check_int("width", width, 1, 32)
    x = w if xors is None else check_int("xors", xors, 0, w)
    acc = _Acc().merge(register(w, domain)).add("rng").add("cell:XOR2", x).add("fpga:gate2", x)
    return acc.done(domain)


def sobol_select(directions: int, domain: str = "stream") -> Resources:
    """The one-hot trailing-ones select of a layer's Sobol registers from its cycle counter (the
    counter is the layer's control): sel[0] = ~cyc[0]; ones[k+1] = ones[k] & cyc[k];
    sel[k] = ones[k] & ~cyc[k] -- ``m`` INV and (m-1) + (m-2) AND2."""
    m = check_int("directions", directions, 1, 32)
    ands = (m - 1) + max(m - 2, 0)
    return _Acc().add("cell:INV", m).add("cell:AND2", ands).add("fpga:gate2", m + ands).done(domain)


def sng(width: int, constant: bool = False, lfsr_width: int | None = None, stride: int | None = None,
        taps: int | None = None, domain: str = "stream") -> Resources:
    """Stochastic number generator: comparator (R < X) of ``width`` bits, counted as one ``sng``;
    with ``lfsr_width`` its own LFSR source is included (else the source is shared and counted as a
    separate :func:`lfsr` entry)."""
    acc = _Acc().merge(comparator(width, constant, domain)).add("sng")
    if lfsr_width is not None:
        if lfsr_width < width:
            raise SCValueError("lfsr_width", f"source width {lfsr_width} < comparator width {width}")
        acc.merge(lfsr(lfsr_width, stride, taps, domain=domain))
    return acc.done(domain)


# --------------------------------------------------------------------------------------------------
# FSMs

def fsm_update(states: int, max_step: int = 1, domain: str = "stream") -> Resources:
    """Saturating state update s <- clamp(s + d, 0, N-1) with d in [-max_step, max_step].

    w = ceil(log2 N) DFF_R; a ws-bit adder (ws FA) with ws = signed bits of [-M, N-1+M] for the
    sign-extended increment; overflow detect (sum > N-1) by a (ws-1)-bit constant comparator;
    clamp: w MUX2 (to N-1 on overflow) + w AND2 (to 0 on underflow, the sum's sign bit).
    The linear FSM (binary input) is max_step = 1; an integral input with m bits has max_step = m.
    """
    n = check_int("states", states, 2)
    m = check_int("max_step", max_step, 1)
    w = state_bits(n)
    ws = signed_width(-m, n - 1 + m)
    acc = _Acc().merge(register(w, domain))
    acc.add("cell:FA", ws).add(f"fpga:carry:{ws}")
    acc.merge(comparator(ws - 1, constant=True, domain=domain))
    acc.add("cell:MUX2", w).add("cell:AND2", w).add("fpga:func:4", w)
    return acc.done(domain)


def linear_fsm(states: int, domain: str = "stream") -> Resources:
    """Brown-Card linear FSM (binary input): :func:`fsm_update` with max_step 1."""
    return fsm_update(states, 1, domain)


def integer_step_fsm(states: int, max_step: int, domain: str = "stream") -> Resources:
    """FSM driven by an integral stream d_t in [-max_step, max_step]."""
    return fsm_update(states, max_step, domain)


def table(depth: int, width: int, domain: str = "binary") -> Resources:
    """Constant table of depth x width bits: depth*width ROM_BIT (the ROM_BIT area is the amortized
    synthesized-constant-logic cost per stored bit, read decoding included; it toggles with the
    activity of its ``domain`` since its outputs follow the address).  FPGA: a table entry."""
    d = check_int("depth", depth, 1)
    b = check_int("width", width, 1)
    return _Acc().add("cell:ROM_BIT", d * b).add(f"fpga:table:{d}x{b}").done(domain)


def wfsm(states: int, weight_bits: int = 8, max_step: int = 1, stanh: bool = False,
         domain: str = "stream") -> Resources:
    """Weighted FSM: :func:`fsm_update` + weight table N x b bits + b-bit comparator
    (y = R' < Wq[s]).  Its own b-bit source is NOT included (count an :func:`lfsr` per WFSM or a
    shared one).  ``stanh=True``: deterministic Stanh output (a state bit), no table/comparator."""
    acc = _Acc().merge(fsm_update(states, max_step, domain))
    if not stanh:
        b = check_int("weight_bits", weight_bits, 1)
        acc.merge(table(states, b, domain)).merge(comparator(b, domain=domain))
    return acc.done(domain)


def sign_threshold(width: int, threshold: int = 0, domain: str = "binary") -> Resources:
    """Sign (threshold 0: the MSB, no cells) or compare against a constant threshold."""
    w = check_int("width", width, 1)
    if threshold == 0:
        return Resources.build(domain, {})
    return constant_comparator(w, domain)


# --------------------------------------------------------------------------------------------------
# binary datapath (baselines, and the SC design's binary parts)

def array_multiplier(width: int, width_b: int | None = None, domain: str = "binary") -> Resources:
    """Unsigned a x b array multiplier: a*b AND2 partial products, compressed into a+b bits by
    :func:`column_compression_schedule` (n x n: n(n-2) FA + n HA, the textbook array count)."""
    a = check_int("width", width, 1)
    b = a if width_b is None else check_int("width_b", width_b, 1)
    acc = _Acc().add("cell:AND2", a * b).add("fpga:gate2", a * b)
    heights = [sum(1 for i in range(a) if 0 <= j - i < b) for j in range(a + b - 1)]
    return _compression(acc, heights, a + b).done(domain)


def adder_tree(terms: int, width: int, domain: str = "binary") -> Resources:
    """Balanced binary tree of ripple adders summing ``terms`` operands of ``width`` bits.

    Level l pairs the partial sums (width + l bits each) with (width + l)-bit adders (carry-in used
    for the baselines' +1 corrections); an odd operand passes to the next level unchanged.  Exact:
    sum over levels of pairs * (width + l) FA.  Result width: width + ceil(log2 terms).
    """
    t = check_int("terms", terms, 1)
    w = check_int("width", width, 1)
    acc = _Acc()
    level = 0
    while t > 1:
        pairs = t // 2
        acc.merge(ripple_adder(w + level, domain=domain), pairs)
        t = pairs + (t % 2)
        level += 1
    return acc.done(domain)


def tree_levels(terms: int) -> int:
    """Depth ceil(log2 terms) of :func:`adder_tree`."""
    return max(0, (int(terms) - 1).bit_length())


def accumulator(width: int, input_width: int | None = None, domain: str = "binary") -> Resources:
    """acc <- acc + x: width-bit adder (input sign-extended: width FA) + width DFF_R."""
    w = check_int("width", width, 1)
    if input_width is not None:
        check_int("input_width", input_width, 1, w)
    return _Acc().merge(ripple_adder(w, domain=domain)).merge(register(w, domain)).done(domain)


def activation_lut(input_bits: int, output_bits: int | None = None, domain: str = "binary") -> Resources:
    """Activation table of 2^k entries x k bits (output_bits defaults to input_bits)."""
    k = check_int("input_bits", input_bits, 1, 24)
    return table(1 << k, k if output_bits is None else check_int("output_bits", output_bits, 1), domain)


def conditional_negate(width: int, domain: str = "binary") -> Resources:
    """Binary weight times a k-bit operand: width XOR2 (ones' complement; the +1 goes into the
    adder tree's carry-in)."""
    w = check_int("width", width, 1)
    return _Acc().add("cell:XOR2", w).add("fpga:gate2", w).done(domain)


def ternary_select(width: int, domain: str = "binary") -> Resources:
    """Ternary weight times a k-bit operand: conditional negate + width AND2 zero gating."""
    w = check_int("width", width, 1)
    return _Acc().merge(conditional_negate(w, domain)).add("cell:AND2", w).add("fpga:gate2", w).done(domain)


def requantize(input_width: int, output_width: int, domain: str = "binary") -> Resources:
    """Offset, saturate and truncate a wide value to output_width bits: input_width HA (constant
    offset) + output_width MUX2 (clamp high) + output_width AND2 (clamp low)."""
    wi = check_int("input_width", input_width, 1)
    wo = check_int("output_width", output_width, 1, wi)
    acc = _Acc().add("cell:HA", wi).add(f"fpga:carry:{wi}")
    return acc.add("cell:MUX2", wo).add("cell:AND2", wo).add("fpga:func:4", wo).done(domain)


def weight_memory(bits: int, storage: str = "register", read_bits_per_cycle: int = 0) -> Resources:
    """Stored weights: ``bits`` memory cells of the storage kind (register: latch/flop-based register
    file bits, every bit readable at once; rom: hardwired constants; sram: a folded design's SRAM,
    ``read_bits_per_cycle`` bits read every cycle)."""
    b = check_int("bits", bits, 0)
    if storage not in STORAGE_CELLS:
        raise SCValueError("storage", f"must be one of {sorted(STORAGE_CELLS)}, got {storage!r}")
    r = check_int("read_bits_per_cycle", read_bits_per_cycle, 0)
    acc = _Acc().add(f"cell:{STORAGE_CELLS[storage]}", b).add(f"fpga:membits:{storage}", b)
    return acc.add("mem_read_bits", r).done("storage")


def sequence_buffer(width: int, depth: int, domain: str = "binary") -> Resources:
    """A bidirectional layer's sequence buffer: ``depth`` (T_max) entries of ``width`` bits, one
    entry written and one read per time step (docs/cost-model.md): ``width x depth`` REGFILE_BIT
    (the latch-based register-file bit of the weight registers), a ``depth``:1 read mux per bit
    (``width (depth - 1)`` MUX2) and the write-enable decode of the step address (``depth`` AND2);
    FPGA: the bits as flip-flops, ``ceil((depth - 1) / 3)`` 6-input functions (4:1 muxes) per bit.
    The step-address counter is a separate ``counter``.  Its logic is binary-domain (it changes
    once per step)."""
    w = check_int("width", width, 1)
    d = check_int("depth", depth, 1)
    acc = _Acc().add("cell:REGFILE_BIT", w * d).add("fpga:membits:register", w * d)
    if d > 1:
        acc = acc.add("cell:MUX2", w * (d - 1)).add("fpga:func:6", w * math.ceil((d - 1) / 3))
    return acc.add("cell:AND2", d).add("fpga:func:6", math.ceil(d / 6)).done(domain)


#: kind name -> function (the Inventory stores (kind, params) and calls these)
PRIMITIVES: dict[str, Callable[..., Resources]] = {
    "gate": gate, "xnor": xnor, "and": and_, "or": or_, "xor": xor, "not": not_, "mux": mux,
    "apc": apc, "ripple_adder": ripple_adder, "integral_adder": integral_adder, "register": register,
    "counter": counter, "comparator": comparator, "constant_comparator": constant_comparator,
    "lfsr": lfsr, "sobol": sobol, "sobol_select": sobol_select, "sng": sng, "fsm_update": fsm_update,
    "linear_fsm": linear_fsm,
    "integer_step_fsm": integer_step_fsm, "table": table, "wfsm": wfsm,
    "sign_threshold": sign_threshold, "array_multiplier": array_multiplier, "adder_tree": adder_tree,
    "accumulator": accumulator, "activation_lut": activation_lut,
    "conditional_negate": conditional_negate, "ternary_select": ternary_select,
    "requantize": requantize, "weight_memory": weight_memory, "sequence_buffer": sequence_buffer,
}
