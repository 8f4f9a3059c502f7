"""Standalone weighted-FSM emission: Verilog of a complete WFSM and its self-checking testbench.

:func:`emit_wfsm` writes one file: the library modules it uses and a top module with

* the input stream(s): per operand a source (leap-forward LFSR ``input_kind="lfsr"`` or van der
  Corput ``"sobol"``) and an SNG comparator against the threshold port ``x``, or the bits straight
  from the port ``in_bits`` (``"port"``); an integral input (M operands) adds ``sc_apc_bipolar``;
* the weighted FSM (``sc_wfsm``) with its own weight LFSR of width ``max(16, b)`` (none for a
  deterministic 0/2^b table such as Stanh);
* a cycle counter (``done`` after ``length`` cycles) and an output-ones counter.

Every parameter comes from the simulator's definitions: tap masks and leap networks
(:mod:`sccompiler.sim.sources`), the weight-source width and the per-instance seeds
(:func:`sccompiler.sim.fsm.weight_source_width`, :func:`~sccompiler.sim.fsm.stream_seeds`,
:func:`~sccompiler.sim.fsm.sobol_offsets`), thresholds (:func:`sccompiler.sim.encoding.threshold`)
and counter widths (:func:`sccompiler.sim.primitives.counter_width`).  Instance ``k`` of a
testbench with seeds from ``stream_seeds(seed, B, ...)[k]`` is the hardware twin of stream ``k`` of
``simulate_fsm(inputs, seed=seed, ...)``: :func:`emit_wfsm_testbench` checks its output bit in every
cycle, its state and its final count, and refuses to write vectors whose per-cycle reference does
not reproduce ``simulate_fsm``'s counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SCValueError, SimulationError
from ...sim.encoding import threshold
from ...sim.fsm import simulate_fsm, sobol_offsets, stream_seeds, weight_source_width
from ...sim.primitives import bipolar_apc, bits_to_steps, counter_width, fsm_states, sng, weighted_output
from ...sim.rules import check_int, fsm_reset_state, fsm_state_width
from ...sim.seeds import KEY_WEIGHT, derive_lfsr_seeds
from ...sim.sources import check_seed, check_width, lfsr_states, vdc_sequence
from .harness import Harness
from .library import FIXED_MODULES, emit_library, lfsr_module_name

INPUT_KINDS = ("lfsr", "sobol", "port")
#: Verilog `integer` parameters are 32-bit signed
MAX_RTL_LENGTH = (1 << 31) - 1
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class WfsmSpec:
    """What the RTL of a weighted FSM needs.

    ``operands = 0``: binary input (linear FSM); ``operands = M >= 1``: integral input, the
    bipolar APC value ``d = 2k - M`` of M bit streams.  ``quantized_weights``: Wq[i] in [0, 2^b].
    """

    states: int
    weight_bits: int
    quantized_weights: tuple[int, ...]
    operands: int = 0
    reset_state: int | None = None

    def __post_init__(self) -> None:
        n = check_int("states", self.states, 2, 1 << 12)
        b = check_int("weight_bits", self.weight_bits, 1, 32)
        check_int("operands", self.operands, 0, 1 << 10)
        if len(self.quantized_weights) != n:
            raise SCValueError("quantized_weights", f"needs {n} entries, got {len(self.quantized_weights)}")
        for i, w in enumerate(self.quantized_weights):
            check_int(f"quantized_weights[{i}]", w, 0, 1 << b)
        if self.reset_state is not None:
            check_int("reset_state", self.reset_state, 0, n - 1)

    @classmethod
    def from_design(cls, design: Any, reset_state: int | None = None) -> "WfsmSpec":
        """From a :class:`sccompiler.fsm.FSMDesign` (binary, binomial or Poisson-binomial input)."""
        from ...fsm.inputs import BinaryInput, BinomialInput, PoissonBinomialInput  # noqa: PLC0415

        model = design.input
        if isinstance(model, BinaryInput):
            operands = 0
        elif isinstance(model, BinomialInput):
            operands = int(model.operands)
        elif isinstance(model, PoissonBinomialInput):
            operands = int(model.array.shape[1])
        else:
            raise SCValueError("design", f"input model {model.name} has no operand streams to build "
                                         "in hardware; use a binary or integral:M input")
        return cls(int(design.states), int(design.weight_bits),
                   tuple(int(w) for w in design.quantized_weights), operands, reset_state)

    @property
    def inputs(self) -> int:
        """Number of input bit streams (1 for a binary input)."""
        return max(1, self.operands)

    @property
    def reset(self) -> int:
        return fsm_reset_state(self.states) if self.reset_state is None else self.reset_state

    @property
    def deterministic(self) -> bool:
        """True if every weight is 0 or 2^b (Stanh-like): the output needs no random source."""
        full = 1 << self.weight_bits
        return all(w in (0, full) for w in self.quantized_weights)

    @property
    def state_bits(self) -> int:
        return fsm_state_width(self.states)

    @property
    def step_bits(self) -> int:
        """Width of the FSM input port of sc_wfsm: 1 (binary) or clog2(M+1)+1 (signed d)."""
        return 1 if self.operands == 0 else self.operands.bit_length() + 1


def _spec(design: Any, reset_state: int | None) -> WfsmSpec:
    if isinstance(design, WfsmSpec):
        if reset_state is not None and reset_state != design.reset_state:
            return WfsmSpec(design.states, design.weight_bits, design.quantized_weights,
                            design.operands, reset_state)
        return design
    return WfsmSpec.from_design(design, reset_state)


def check_module_name(module_name: str) -> str:
    """A top module's name: a Verilog identifier that is not a library module's name."""
    if not isinstance(module_name, str) or not _IDENT.match(module_name):
        raise SCValueError("module_name", f"must be a Verilog identifier, got {module_name!r}")
    if module_name in FIXED_MODULES or module_name.startswith("sc_lfsr_"):
        raise SCValueError("module_name", f"{module_name!r} is the name of a library module")
    return module_name


def _check_common(module_name: str, input_kind: str, width: int, length: int) -> None:
    check_module_name(module_name)
    if input_kind not in INPUT_KINDS:
        extra = " (ideal sources are analysis-only and have no RTL)" if input_kind == "ideal" else ""
        raise SCValueError("input_kind", f"must be one of {INPUT_KINDS}, got {input_kind!r}{extra}")
    if input_kind == "sobol":
        check_int("width", width, 1, 32)
    else:
        check_width(width)
    check_int("length", length, 1, MAX_RTL_LENGTH)


def _hex(value: int, bits: int) -> str:
    return f"{bits}'h{int(value):x}"


def _pack(values: list[int], bits: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= int(v) << (i * bits)
    return word


@dataclass(frozen=True)
class StreamSeeds:
    """The seeds of one WFSM instance: its input sources' and its weight source's."""

    inputs: tuple[int, ...]  # M LFSR seeds or van der Corput offsets
    weight: int


def stream_seeds_for(spec: WfsmSpec, input_kind: str, width: int, seed: int, batch: int) -> list[StreamSeeds]:
    """Per-instance seeds exactly as simulate_fsm(inputs of batch B, seed=seed) draws them
    (docs/semantics.md §6).  The "port" kind is fed the bits of the LFSR SNGs, so it uses the
    LFSR input seeds to make them."""
    if input_kind == "sobol":
        inp = sobol_offsets(seed, batch, spec.inputs, width)
        wseeds = derive_lfsr_seeds(seed, KEY_WEIGHT, batch, weight_source_width(spec.weight_bits))
    else:
        inp, wseeds = stream_seeds(seed, batch, spec.inputs, width, spec.weight_bits, True)
    return [StreamSeeds(tuple(int(v) for v in inp[k]), int(wseeds[k])) for k in range(batch)]


def emit_wfsm(design: Any, *, module_name: str = "wfsm_top", input_kind: str = "lfsr",
              width: int = 16, seed: int = 1, length: int = 4096, reset_state: int | None = None,
              input_seeds: tuple[int, ...] | None = None, weight_seed: int | None = None,
              library: bool = True) -> str:
    """Verilog of a complete weighted FSM (see the module docstring).

    design: an :class:`~sccompiler.fsm.FSMDesign` or a :class:`WfsmSpec`.  input_kind: "lfsr"
    (leap-forward, stride = width, comparator on all ``width`` bits, as simulate_fsm), "sobol"
    (van der Corput offsets) or "port" (the input bits come from a port).  The default seeds are
    those simulate_fsm gives stream 0 of a batch of one with ``seed``; ``input_seeds`` /
    ``weight_seed`` override them (they are also module parameters: INPUT_SEEDS, WEIGHT_SEED).
    ``library=False`` omits the library modules (emit them once with :func:`emit_library`).
    """
    spec = _spec(design, reset_state)
    _check_common(module_name, input_kind, width, length)
    check_int("seed", seed, 0)
    m, n, b = spec.inputs, spec.states, spec.weight_bits
    defaults = stream_seeds_for(spec, input_kind, width, seed, 1)[0]
    in_seeds = defaults.inputs if input_seeds is None else tuple(input_seeds)
    if len(in_seeds) != m:
        raise SCValueError("input_seeds", f"needs {m} value(s), got {len(in_seeds)}")
    for i, s in enumerate(in_seeds):
        if input_kind == "lfsr":
            check_seed(s, width, f"input_seeds[{i}]")
        else:
            check_int(f"input_seeds[{i}]", s, 0, (1 << width) - 1)
    wwidth = weight_source_width(b)
    w_seed = defaults.weight if weight_seed is None else check_seed(weight_seed, wwidth, "weight_seed")
    cw = counter_width(length)
    sw = spec.state_bits
    dw = spec.step_bits
    used: list[str] = ["sc_wfsm", "sc_counter_up"]
    lines = [
        f"// {module_name}: weighted FSM, N = {n} states, b = {b} weight bits, "
        + ("binary input" if spec.operands == 0 else f"integral input of {m} bipolar streams") + ",",
        f"// input {input_kind}" + (f" (width {width})" if input_kind != "port" else "")
        + f", {length} cycles per evaluation, reset state {spec.reset}.",
        "// Semantics: docs/semantics.md §1, §2-§5.1; structure and ports: docs/verilog.md.",
        "// Generated by sccompiler.backends.verilog.emit_wfsm; edit the generator, not this file.",
        "// Wq = " + " ".join(str(w) for w in spec.quantized_weights),
    ]
    params = []
    if input_kind == "lfsr":
        params.append(f"    parameter [{m * width - 1}:0] INPUT_SEEDS = "
                      f"{_hex(_pack(list(in_seeds), width), m * width)}")
    elif input_kind == "sobol":
        params.append(f"    parameter [{m * width - 1}:0] INPUT_OFFSETS = "
                      f"{_hex(_pack(list(in_seeds), width), m * width)}")
    if not spec.deterministic:
        params.append(f"    parameter [{wwidth - 1}:0] WEIGHT_SEED = {_hex(w_seed, wwidth)}")
    if params:
        lines += [f"module {module_name} #(", ",\n".join(params), ") ("]
    else:
        lines.append(f"module {module_name} (")
    port_list = [("input ", "", "clk"), ("input ", "", "rst")]
    if input_kind == "port":
        port_list.append(("input ", f"[{m - 1}:0]", "in_bits"))
    else:
        port_list.append(("input ", f"[{m * (width + 1) - 1}:0]", "x"))
    port_list += [("output", "", "y"), ("output", f"[{sw - 1}:0]", "state"),
                  ("output", f"[{cw - 1}:0]", "count"), ("output", "", "done")]
    rng_w = max(len(r) for _, r, _ in port_list)
    ports = [f"    {d} wire {r:<{rng_w}} {nm}" for d, r, nm in port_list]
    lines += [",\n".join(ports), ");"]
    if input_kind != "port":
        src = lfsr_module_name(width) if input_kind == "lfsr" else "sc_vdc"
        used += [src, "sc_sng"]
        if input_kind == "lfsr":
            inst = f"{src} #(.SEED(INPUT_SEEDS[i*{width} +: {width}]), .N({width}))"
        else:
            inst = f"sc_vdc #(.N({width}), .OFFSET(INPUT_OFFSETS[i*{width} +: {width}]))"
        lines += [
            f"    // input stream(s): operand i compares its own source against x[i*{width + 1} +: {width + 1}]",
            f"    wire [{m - 1}:0] in_bits;",
            "    genvar i;",
            "    generate",
            f"        for (i = 0; i < {m}; i = i + 1) begin : g_input",
            f"            wire [{width - 1}:0] r;",
            f"            {inst} u_src (",
            "                .clk(clk), .rst(rst), .r(r));",
            f"            sc_sng #(.N({width})) u_sng (.r(r), .x(x[i*{width + 1} +: {width + 1}]), .y(in_bits[i]));",
            "        end",
            "    endgenerate",
        ]
    if spec.operands == 0:
        lines.append("    wire [0:0] d = in_bits;")
    else:
        used.append("sc_apc_bipolar")
        lines += [f"    wire signed [{dw - 1}:0] d;  // d = 2 * popcount(in_bits) - {m}",
                  f"    sc_apc_bipolar #(.M({m})) u_apc (.bits(in_bits), .d(d));"]
    if spec.deterministic:
        lines.append(f"    wire [{b - 1}:0] rw = {b}'d0;  // 0/2^b weights: the output is deterministic")
    else:
        wsrc = lfsr_module_name(wwidth)
        used.append(wsrc)
        lines += [f"    wire [{b - 1}:0] rw;  // R': low {b} bits of the FSM's own {wwidth}-bit source",
                  f"    {wsrc} #(.SEED(WEIGHT_SEED), .N({b})) u_weight_src (.clk(clk), .rst(rst), .r(rw));"]
    weights = _pack(list(spec.quantized_weights), b + 1)
    lines += [
        f"    sc_wfsm #(.N({n}), .B({b}), .INTEGRAL({0 if spec.operands == 0 else 1}), .DW({dw}), "
        f".RESET({spec.reset}),",
        f"              .WEIGHTS({_hex(weights, n * (b + 1))})) u_fsm (",
        "        .clk(clk), .rst(rst), .d(d), .rw(rw), .y(y), .state(state));",
        f"    // count the ones of y over cycles 0..{length - 1}; done from cycle {length} on",
        f"    wire [{cw - 1}:0] cycles;",
        f"    assign done = (cycles == {cw}'d{length});",
        f"    sc_counter_up #(.LENGTH({length})) u_cycles (.clk(clk), .rst(rst), .y(~done), .count(cycles));",
        f"    sc_counter_up #(.LENGTH({length})) u_ones (.clk(clk), .rst(rst), .y(y & ~done), .count(count));",
        "endmodule",
    ]
    top = "\n".join(lines) + "\n"
    if not library:
        return top
    return emit_library(sorted(set(used), key=used.index)) + "\n" + top


# ----------------------------------------------------------------------------- reference + testbench
def input_thresholds(spec: WfsmSpec, inputs, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, SNG thresholds (B, M)) of bipolar input values (B,) or (B, M), checked against the spec."""
    x = np.asarray(inputs, dtype=np.float64)
    if spec.operands == 0:
        if x.ndim != 1:
            raise SCValueError("inputs", f"a binary-input FSM takes (B,) bipolar values, got shape {x.shape}")
        x2 = x[:, None]
    else:
        if x.ndim != 2 or x.shape[1] != spec.operands:
            raise SCValueError("inputs", f"an integral FSM of {spec.operands} operands takes (B, "
                                         f"{spec.operands}) bipolar values, got shape {x.shape}")
        x2 = x
    if x2.shape[0] < 1:
        raise SCValueError("inputs", "needs at least one input value")
    return x, threshold(x2, width, "bipolar", "inputs")


def reference_trace(spec: WfsmSpec, thresholds: np.ndarray, seeds: list[StreamSeeds], *,
                    input_kind: str, width: int, length: int) -> dict[str, np.ndarray]:
    """Per-cycle behaviour of each instance from the simulator's primitive definitions.

    Returns ``in_bits`` (B, M, L), ``state`` (B, L), ``y`` (B, L) and ``count`` (B,).
    """
    batch, m = thresholds.shape
    rand = np.empty((batch, m, length), dtype=np.uint64)
    for k, s in enumerate(seeds):
        for j in range(m):
            if input_kind == "sobol":
                rand[k, j] = vdc_sequence(width, s.inputs[j], length)
            else:
                rand[k, j] = lfsr_states(width, s.inputs[j], length, width)
    in_bits = sng(rand, thresholds[:, :, None])
    if spec.operands == 0:
        steps = bits_to_steps(in_bits[:, 0])
    else:
        steps = bipolar_apc(*[in_bits[:, j] for j in range(m)])
    state = fsm_states(steps, spec.states, spec.reset)
    wq = np.asarray(spec.quantized_weights, dtype=np.int64)
    if spec.deterministic:
        rw = np.zeros((batch, length), dtype=np.int64)
    else:
        ww = weight_source_width(spec.weight_bits)
        mask = np.uint64((1 << spec.weight_bits) - 1)
        rw = np.stack([lfsr_states(ww, s.weight, length, ww) & mask for s in seeds]).astype(np.int64)
    y = weighted_output(state, wq, rw)
    return {"in_bits": in_bits, "state": state, "y": y, "count": y.sum(axis=1)}


def emit_wfsm_testbench(design: Any, inputs, *, module_name: str = "wfsm_top",
                        input_kind: str = "lfsr", width: int = 16, seed: int = 1,
                        length: int = 4096, reset_state: int | None = None,
                        per_cycle: bool = True) -> dict[str, str]:
    """Files of a self-checking testbench ``<module_name>_tb`` for :func:`emit_wfsm`'s module.

    ``inputs``: bipolar input values, (B,) for a binary FSM or (B, M) for an integral one (as
    :func:`sccompiler.sim.simulate_fsm` takes them).  Instance k gets stream k's seeds; the
    expected final counts are ``simulate_fsm(...) * length``; with ``per_cycle`` the output bit and
    the state of every instance are also checked in every cycle.  For ``input_kind="port"`` the
    input bits (the leap-forward LFSR SNG bits of simulate_fsm) are driven from a vector file.
    Returns {file name: text}: the testbench and its ``.hex`` vectors (not the DUT; write
    :func:`emit_wfsm` next to it).  Run it from its directory; it prints ``PASS`` or the first
    mismatches (cycle, expected, got).
    """
    spec = _spec(design, reset_state)
    _check_common(module_name, input_kind, width, length)
    check_int("seed", seed, 0)
    x, thr = input_thresholds(spec, inputs, width)
    batch = thr.shape[0]
    seeds = stream_seeds_for(spec, input_kind, width, seed, batch)
    trace = reference_trace(spec, thr, seeds, input_kind=input_kind, width=width, length=length)
    # the port kind is fed the bits of simulate_fsm's LFSR SNGs, so all kinds can be cross-checked
    sim_source = "sobol" if input_kind == "sobol" else "lfsr"
    weights = np.asarray(spec.quantized_weights, dtype=np.float64) / (1 << spec.weight_bits)
    p_hat = simulate_fsm(x, states=spec.states, weights=weights, weight_bits=spec.weight_bits,
                         length=length, source=sim_source, width=width, seed=seed,
                         reset_state=spec.reset)
    counts = np.rint(np.asarray(p_hat) * length).astype(np.int64)
    if not np.array_equal(counts, trace["count"]):
        bad = int(np.flatnonzero(counts != trace["count"])[0])
        raise SimulationError(
            f"internal: the per-cycle reference disagrees with simulate_fsm on instance {bad} "
            f"({int(trace['count'][bad])} vs {int(counts[bad])} ones); vectors not written")
    tb = Harness(f"{module_name}_tb", length)
    sw = spec.state_bits
    cw = counter_width(length)
    m = spec.inputs
    for k, s in enumerate(seeds):
        plist = []
        if input_kind == "lfsr":
            plist.append(f".INPUT_SEEDS({_hex(_pack(list(s.inputs), width), m * width)})")
        elif input_kind == "sobol":
            plist.append(f".INPUT_OFFSETS({_hex(_pack(list(s.inputs), width), m * width)})")
        if not spec.deterministic:
            plist.append(f".WEIGHT_SEED({_hex(s.weight, weight_source_width(spec.weight_bits))})")
        params = f" #({', '.join(plist)})" if plist else ""
        if input_kind == "port":
            bits = trace["in_bits"][k]  # (M, L)
            word = sum(bits[j].astype(np.int64) << j for j in range(m))
            feed = f".in_bits({tb.drive(f'in_{k}', m, word)})"
        else:
            feed = f".x({_hex(_pack([int(v) for v in thr[k]], width + 1), m * (width + 1))})"
        tb.add(f"    wire y_{k};\n    wire done_{k};\n    wire [{sw - 1}:0] state_{k};\n"
               f"    wire [{cw - 1}:0] count_{k};\n"
               f"    {module_name}{params} dut_{k} (.clk(clk), .rst(rst), {feed},\n"
               f"        .y(y_{k}), .state(state_{k}), .count(count_{k}), .done(done_{k}));")
    if per_cycle:
        ys = trace["y"].astype(np.int64)
        packed_y = [_pack([int(ys[k, t]) for k in range(batch)], 1) for t in range(length)]
        tb.check("y", "{" + ", ".join(f"y_{k}" for k in reversed(range(batch))) + "}", batch,
                 np.array(packed_y, dtype=object))
        st = trace["state"]
        packed_s = [_pack([int(st[k, t]) for k in range(batch)], sw) for t in range(length)]
        tb.check("state", "{" + ", ".join(f"state_{k}" for k in reversed(range(batch))) + "}",
                 batch * sw, np.array(packed_s, dtype=object))
    for k in range(batch):
        tb.check_final(f"count_{k}", f"count_{k}", cw, int(trace["count"][k]))
    tb.check_final("done", "{" + ", ".join(f"done_{k}" for k in range(batch)) + "}", batch,
                   (1 << batch) - 1)
    return tb.render()


def write_wfsm_files(design: Any, path: str | Path, *, testbench_inputs=None, force: bool = False,
                     **kwargs) -> list[Path]:
    """Write ``emit_wfsm`` to ``path`` and, given ``testbench_inputs``, the testbench files next
    to it (atomically; existing files need ``force``).  Returns the paths written."""
    from ...io import atomic_file, check_writable  # noqa: PLC0415

    path = Path(path)
    tb_keys = ("per_cycle",)
    emit_kwargs = {k: v for k, v in kwargs.items() if k not in tb_keys}
    files = {path.name: emit_wfsm(design, **emit_kwargs)}
    if testbench_inputs is not None:
        files.update(emit_wfsm_testbench(design, testbench_inputs, **kwargs))
    targets = [path.with_name(name) for name in files]
    for t in targets:
        check_writable(t, force)  # all-or-nothing before writing any
    for t, text in zip(targets, files.values()):
        with atomic_file(t, force=force) as fh:
            fh.write(text)
    return targets
