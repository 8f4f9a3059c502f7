"""The co-simulation suite: every primitive, many configurations, ONE testbench.

Each configuration is an instance of a library module inside one harness; its expected per-cycle
values come from the Python simulator's definitions (``sccompiler.sim.sources`` /
``sccompiler.sim.primitives`` / the WFSM reference trace cross-checked with ``simulate_fsm``).
Building one testbench keeps the hw tests fast: one compile per simulator.  Check labels start
with the primitive group (``lfsr_``, ``sng_`` ...) so each test reads its own results.

The ``canary_`` check is deliberately wrong in two cycles: it proves that the testbench's
comparison reports mismatches (cycle, expected, got) under each simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sccompiler.backends.verilog.harness import Harness
from sccompiler.backends.verilog.library import emit_library, lfsr_module_name
from sccompiler.backends.verilog.wfsm import WfsmSpec, emit_wfsm, input_thresholds, reference_trace, stream_seeds_for
from sccompiler.sim import primitives as P
from sccompiler.sim.encoding import threshold
from sccompiler.sim.fsm import weight_source_width
from sccompiler.sim.sources import lfsr_states, vdc_sequence

#: cycles of the suite: 2^10 - 1, so that a LENGTH = L up counter fed all ones ends all ones
LENGTH = 1023
#: (width, stride, seed): small/odd/large widths, strides 1, 3, W and > W, extreme seeds
LFSR_CONFIGS = [
    (3, 1, 1), (3, 3, 5), (3, 7, 7), (4, 4, 9), (5, 3, 0x1F), (7, 16, 100), (8, 8, 0xB4),
    (11, 1, 0x400), (16, 1, 1), (16, 3, 0xFFFF), (16, 16, 0xACE1), (17, 17, 0x1ABCD),
    (24, 24, 0x123456), (31, 5, 0x7FFFFFFF), (32, 1, 0xFFFFFFFF), (32, 3, 1),
    (32, 32, 0xDEADBEEF), (32, 64, 12345),
]
CANARY_CYCLES = (17, 400)


@dataclass
class Suite:
    harness: Harness
    library: str
    tops: list[str] = field(default_factory=list)

    def write(self, directory: Path) -> list[Path]:
        tb = self.harness.write(directory)
        lib = directory / "suite_lib.v"
        lib.write_text(self.library + "\n" + "\n".join(self.tops))
        return [lib, tb]


def _segments(rng: np.random.Generator, length: int, probs=(0.9, 0.1, 0.5, 0.97, 0.03)) -> np.ndarray:
    """Bits with stretches of strongly biased probability (to drive FSMs/counters into both
    saturation ends), then unbiased."""
    cuts = np.linspace(0, length, len(probs) + 1).astype(int)
    out = np.zeros(length, dtype=bool)
    for p, a, b in zip(probs, cuts[:-1], cuts[1:]):
        out[a:b] = rng.random(b - a) < p
    return out


def build_suite() -> Suite:
    rng = np.random.default_rng(20261123)
    L = LENGTH
    h = Harness("tb_suite", L)
    lfsr_modules: list[str] = []

    def lfsr(w: int, s: int) -> str:
        name = lfsr_module_name(w, s)
        if name not in lfsr_modules:
            lfsr_modules.append(name)
        return name

    # ---- LFSRs: full state per cycle (r = all W bits), plus one narrowed output
    for i, (w, s, seed) in enumerate(LFSR_CONFIGS):
        h.add(f"    wire [{w - 1}:0] lfsr_r{i};\n"
              f"    {lfsr(w, s)} #(.SEED({w}'h{seed:x})) u_lfsr{i} (.clk(clk), .rst(rst), .r(lfsr_r{i}));")
        h.check(f"lfsr_w{w}_s{s}_seed{seed:x}", f"lfsr_r{i}", w, lfsr_states(w, seed, L, s))
    h.add(f"    wire [5:0] lfsr_low;\n"
          f"    {lfsr(20, 20)} #(.SEED(20'h9), .N(6)) u_lfsr_low (.clk(clk), .rst(rst), .r(lfsr_low));")
    h.check("lfsr_w20_low6", "lfsr_low", 6, lfsr_states(20, 9, L, 20) & np.uint64(63))

    # ---- van der Corput sources
    for n, off in ((1, 0), (4, 3), (10, 1000), (16, 0xFFFF)):
        h.add(f"    wire [{n - 1}:0] vdc_r_{n};\n"
              f"    sc_vdc #(.N({n}), .OFFSET({n}'d{off})) u_vdc{n} (.clk(clk), .rst(rst), .r(vdc_r_{n}));")
        h.check(f"vdc_n{n}_off{off}", f"vdc_r_{n}", n, vdc_sequence(n, off, L))

    # ---- SNG comparators on random R/X (edges X = 0 and 2^N forced), and LFSR-fed SNG streams
    for n in (1, 3, 8, 16, 32):
        r = rng.integers(0, 1 << n, L, dtype=np.uint64)
        x = rng.integers(0, (1 << n) + 1, L, dtype=np.uint64)
        x[:50] = 0
        x[50:100] = 1 << n
        x[100:150] = r[100:150]        # R == X: strictly-less must give 0
        x[150:200] = r[150:200] + 1    # R == X - 1: gives 1
        h.drive(f"sng_r{n}", n, r)
        h.drive(f"sng_x{n}", n + 1, x)
        h.add(f"    wire sng_y{n};\n"
              f"    sc_sng #(.N({n})) u_sng{n} (.r(sng_r{n}), .x(sng_x{n}), .y(sng_y{n}));")
        h.check(f"sng_cmp_n{n}", f"sng_y{n}", 1, P.sng(r, x).astype(np.int64))
    for j, p in enumerate((0.0, 0.3, 0.5, 1.0)):
        xq = int(threshold(p, 16))
        h.add(f"    wire [15:0] sng_src{j};\n    wire sng_stream{j};\n"
              f"    {lfsr(16, 16)} #(.SEED(16'h{0x1234 + 77 * j:x})) u_sng_src{j} "
              f"(.clk(clk), .rst(rst), .r(sng_src{j}));\n"
              f"    sc_sng #(.N(16)) u_sng_stream{j} (.r(sng_src{j}), .x(17'd{xq}), .y(sng_stream{j}));")
        expected = P.sng(lfsr_states(16, 0x1234 + 77 * j, L, 16), xq)
        h.check(f"sng_stream_p{int(p * 100)}", f"sng_stream{j}", 1, expected.astype(np.int64))

    # ---- gate arrays (K = 5 lanes each)
    k = 5
    ga, gb, gs = (rng.integers(0, 2, (k, L)).astype(bool) for _ in range(3))
    for name, arr in (("ga", ga), ("gb", gb), ("gs", gs)):
        h.drive(name, k, sum(arr[i].astype(np.int64) << i for i in range(k)))

    def lanes(bits: np.ndarray) -> np.ndarray:
        return sum(np.asarray(bits[i], dtype=np.int64) << i for i in range(k))

    for op, fn in (("and", P.and_), ("or", P.or_), ("xor", P.xor_), ("xnor", P.xnor_)):
        h.add(f"    wire [{k - 1}:0] gate_{op};\n"
              f"    sc_{op}_array #(.K({k})) u_{op} (.a(ga), .b(gb), .y(gate_{op}));")
        h.check(f"gate_{op}", f"gate_{op}", k, lanes(fn(ga, gb)))
    h.add(f"    wire [{k - 1}:0] gate_not;\n    sc_not_array #(.K({k})) u_not (.a(ga), .y(gate_not));")
    h.check("gate_not", "gate_not", k, lanes(P.not_(ga)))
    h.add(f"    wire [{k - 1}:0] gate_mux;\n"
          f"    sc_mux_array #(.K({k})) u_mux (.sel(gs), .a(ga), .b(gb), .y(gate_mux));")
    h.check("gate_mux", "gate_mux", k, lanes(P.mux(gs, ga, gb)))

    # ---- APC (plain and bipolar), all-zero and all-one cycles forced
    for m in (1, 2, 7, 8, 16):
        bits = rng.integers(0, 2, (m, L)).astype(bool)
        bits[:, :20] = False
        bits[:, 20:40] = True
        h.drive(f"apc_in{m}", m, sum(bits[i].astype(np.int64) << i for i in range(m)))
        kw = m.bit_length()
        h.add(f"    wire [{kw - 1}:0] apc_k{m};\n    wire [{kw}:0] apc_d{m};\n"
              f"    sc_apc #(.M({m})) u_apc{m} (.bits(apc_in{m}), .k(apc_k{m}));\n"
              f"    sc_apc_bipolar #(.M({m})) u_apcb{m} (.bits(apc_in{m}), .d(apc_d{m}));")
        streams = [bits[i] for i in range(m)]
        h.check(f"apc_k_m{m}", f"apc_k{m}", kw, P.apc(*streams))
        h.check(f"apc_d_m{m}", f"apc_d{m}", kw + 1, P.bipolar_apc(*streams))

    # ---- up counters: random ones (per-cycle value), and the all-ones edges: LENGTH = 2^8 - 1
    # fills an 8-bit register exactly, LENGTH = 2^8 needs the 9th bit; the suite's LENGTH (2^10-1)
    # fed all ones for every cycle ends at all ones without wrapping.
    cases = {"rand": (L, rng.random(L) < 0.6), "ones255": (255, np.arange(L) < 255),
             "ones256": (256, np.arange(L) < 256), "onesL": (L, np.ones(L, dtype=bool))}
    for tag, (length, bits) in cases.items():
        cw = P.counter_width(length)
        h.drive(f"cnt_in_{tag}", 1, bits.astype(np.int64))
        h.add(f"    wire [{cw - 1}:0] cnt_{tag};\n"
              f"    sc_counter_up #(.LENGTH({length})) u_cnt_{tag} (.clk(clk), .rst(rst), "
              f".y(cnt_in_{tag}), .count(cnt_{tag}));")
        traj = P.updown_counter(bits.astype(np.int64), 0)   # c <- c + bit_t, from 0
        h.check(f"counter_up_{tag}", f"cnt_{tag}", cw, traj[:L])
        h.check_final(f"counter_up_{tag}_final", f"cnt_{tag}", cw, int(P.up_counter(bits)))

    # ---- up/down counters: binary +-1 saturating both ends, one-sided, unbounded, integral
    ud_bits = _segments(rng, L)
    ud_steps = P.bits_to_steps(ud_bits)
    ud_int = rng.integers(-5, 6, L)
    ud_int[:100] = 5
    ud_int[100:250] = -5
    h.drive("ud_step", 2, ud_steps, signed=True)
    h.drive("ud_int", 4, ud_int, signed=True)
    ud_cases = [  # tag, CW, DW, input, reset, lo, hi, steps
        ("bin_sat", 5, 2, "ud_step", 0, -5, 7, ud_steps),
        ("bin_lo", 12, 2, "ud_step", 3, 0, None, ud_steps),
        ("bin_hi", 12, 2, "ud_step", -2, None, 4, ud_steps),
        ("bin_free", 12, 2, "ud_step", 0, None, None, ud_steps),
        ("int_sat", 6, 4, "ud_int", 0, -20, 20, ud_int),
        ("int_free", 13, 4, "ud_int", 7, None, None, ud_int),
    ]
    for tag, cw, dw, sig, reset, lo, hi, steps in ud_cases:
        h.add(f"    wire [{cw - 1}:0] ud_{tag};\n"
              f"    sc_counter_updown #(.CW({cw}), .DW({dw}), .RESET({reset}), "
              f".SAT_LO({int(lo is not None)}), .LO({lo or 0}), .SAT_HI({int(hi is not None)}), "
              f".HI({hi or 0})) u_ud_{tag} (.clk(clk), .rst(rst), .d({sig}), .count(ud_{tag}));")
        traj = P.updown_counter(steps, reset, lo, hi)
        h.check(f"updown_{tag}", f"ud_{tag}", cw, traj[:L])
        h.check_final(f"updown_{tag}_final", f"ud_{tag}", cw, int(traj[L]))

    # ---- linear FSM: odd/even N, default and edge resets, biased stretches saturate both ends
    fsm_bits = _segments(rng, L)
    h.drive("fsm_up", 1, fsm_bits.astype(np.int64))
    for n, reset in ((2, None), (3, None), (4, 0), (5, 4), (8, None), (16, None), (33, 32)):
        sw = max(1, (n - 1).bit_length())
        rp = "" if reset is None else f", .RESET({reset})"
        tag = f"n{n}_r{'d' if reset is None else reset}"
        h.add(f"    wire [{sw - 1}:0] flin_{tag};\n"
              f"    sc_fsm_lin #(.N({n}){rp}) u_flin_{tag} (.clk(clk), .rst(rst), .up(fsm_up), "
              f".state(flin_{tag}));")
        states = P.fsm_states(P.bits_to_steps(fsm_bits), n, reset)
        assert states.min() == 0 and states.max() == n - 1  # the vectors reach both ends
        h.check(f"fsm_lin_{tag}", f"flin_{tag}", sw, states)

    # ---- integer-step FSM: steps up to +-3 and +-9 (jumps larger than N clamp at both ends)
    for dw, mag in ((3, 3), (5, 9)):
        d = rng.integers(-mag, mag + 1, L)
        d[:60] = mag
        d[60:120] = -mag
        h.drive(f"fint_d{dw}", dw, d, signed=True)
        for n, reset in ((2, None), (5, None), (8, 7), (9, 0)):
            sw = max(1, (n - 1).bit_length())
            rp = "" if reset is None else f", .RESET({reset})"
            tag = f"dw{dw}_n{n}_r{'d' if reset is None else reset}"
            h.add(f"    wire [{sw - 1}:0] fint_{tag};\n"
                  f"    sc_fsm_int #(.N({n}), .DW({dw}){rp}) u_fint_{tag} (.clk(clk), .rst(rst), "
                  f".d(fint_d{dw}), .state(fint_{tag}));")
            states = P.fsm_states(d, n, reset)
            assert states.min() == 0 and states.max() == n - 1
            h.check(f"fsm_int_{tag}", f"fint_{tag}", sw, states)

    # ---- sc_wfsm module (random weights incl. exact 0 and 2^b, random R')
    for tag, n, b, integral, dw in (("bin", 8, 6, 0, 1), ("int", 5, 4, 1, 3), ("b1", 3, 1, 0, 1)):
        wq = rng.integers(0, (1 << b) + 1, n)
        wq[0], wq[-1] = 0, 1 << b
        rw = rng.integers(0, 1 << b, L)
        h.drive(f"wf_rw_{tag}", b, rw)
        if integral:
            d = rng.integers(-3, 4, L)
            d[:30] = 3
            d[30:60] = -3
            h.drive(f"wf_d_{tag}", dw, d, signed=True)
            steps = d
        else:
            bits = _segments(rng, L)
            h.drive(f"wf_d_{tag}", 1, bits.astype(np.int64))
            steps = P.bits_to_steps(bits)
        packed = sum(int(w) << (i * (b + 1)) for i, w in enumerate(wq))
        sw = max(1, (n - 1).bit_length())
        h.add(f"    wire wf_y_{tag};\n    wire [{sw - 1}:0] wf_s_{tag};\n"
              f"    sc_wfsm #(.N({n}), .B({b}), .INTEGRAL({integral}), .DW({dw}), "
              f".WEIGHTS({n * (b + 1)}'h{packed:x})) u_wf_{tag} (.clk(clk), .rst(rst), "
              f".d(wf_d_{tag}), .rw(wf_rw_{tag}), .y(wf_y_{tag}), .state(wf_s_{tag}));")
        states = P.fsm_states(steps, n)
        h.check(f"wfsm_mod_{tag}_state", f"wf_s_{tag}", sw, states)
        h.check(f"wfsm_mod_{tag}_y", f"wf_y_{tag}", 1, P.weighted_output(states, wq, rw).astype(np.int64))

    # ---- complete WFSM tops from emit_wfsm (sources + SNG + APC + weight LFSR + counters)
    tops = []
    wrng = np.random.default_rng(7)
    top_cases = [  # tag, spec, input kind, width, bipolar input values
        ("bin", WfsmSpec(8, 8, tuple(int(v) for v in wrng.integers(0, 257, 6)) + (0, 256)), "lfsr", 16,
         np.array([-0.8, 0.0, 0.45])),
        ("int3", WfsmSpec(9, 5, (32, 0, 7, 19, 32, 1, 0, 31, 16), operands=3), "lfsr", 10,
         np.array([[0.2, -0.5, 0.9], [-1.0, 1.0, 0.0]])),
        ("stanh", WfsmSpec(6, 8, (0, 0, 0, 256, 256, 256)), "lfsr", 7, np.array([-0.3, 0.6])),
        ("sobol", WfsmSpec(4, 3, (0, 3, 5, 8)), "sobol", 8, np.array([0.1, -0.7])),
        # b > 16: the weight LFSR is b bits wide and R' uses all of them
        ("b20", WfsmSpec(3, 20, (0, 1 << 19, 1 << 20), operands=2), "lfsr", 5, np.array([[0.5, -0.25]])),
    ]
    for tag, spec, kind, width, values in top_cases:
        mod = f"wfsm_top_{tag}"
        tops.append(emit_wfsm(spec, module_name=mod, input_kind=kind, width=width, length=L,
                              seed=5, library=False))
        wwidth = weight_source_width(spec.weight_bits)
        if kind == "lfsr":
            lfsr(width, width)
        if not spec.deterministic:
            lfsr(wwidth, wwidth)
        _, thr = input_thresholds(spec, values, width)
        seeds = stream_seeds_for(spec, kind, width, 5, thr.shape[0])
        trace = reference_trace(spec, thr, seeds, input_kind=kind, width=width, length=L)
        m = spec.inputs
        sw = spec.state_bits
        cw = P.counter_width(L)
        for j, s in enumerate(seeds):
            params = []
            if kind == "lfsr":
                params.append(f".INPUT_SEEDS({m * width}'h{sum(v << (i * width) for i, v in enumerate(s.inputs)):x})")
            else:
                params.append(f".INPUT_OFFSETS({m * width}'h{sum(v << (i * width) for i, v in enumerate(s.inputs)):x})")
            if not spec.deterministic:
                params.append(f".WEIGHT_SEED({wwidth}'h{s.weight:x})")
            xs = sum(int(v) << (i * (width + 1)) for i, v in enumerate(thr[j]))
            h.add(f"    wire top_y_{tag}{j};\n    wire top_done_{tag}{j};\n"
                  f"    wire [{sw - 1}:0] top_s_{tag}{j};\n    wire [{cw - 1}:0] top_c_{tag}{j};\n"
                  f"    {mod} #({', '.join(params)}) u_top_{tag}{j} (.clk(clk), .rst(rst), "
                  f".x({m * (width + 1)}'h{xs:x}), .y(top_y_{tag}{j}), .state(top_s_{tag}{j}), "
                  f".count(top_c_{tag}{j}), .done(top_done_{tag}{j}));")
            h.check(f"wfsm_top_{tag}{j}_y", f"top_y_{tag}{j}", 1, trace["y"][j].astype(np.int64))
            h.check(f"wfsm_top_{tag}{j}_state", f"top_s_{tag}{j}", sw, trace["state"][j])
            h.check_final(f"wfsm_top_{tag}{j}_count", f"top_c_{tag}{j}", cw, int(trace["count"][j]))
            h.check_final(f"wfsm_top_{tag}{j}_done", f"top_done_{tag}{j}", 1, 1)

    # ---- canary: a wrong expectation must be reported, at the right cycles with the right values
    canary = lfsr_states(16, 0xACE1, L, 16).copy()
    for c in CANARY_CYCLES:
        canary[c] ^= np.uint64(0x8001)
    h.check("canary_wrong", f"lfsr_r{LFSR_CONFIGS.index((16, 16, 0xACE1))}", 16, canary)

    fixed = ["sc_vdc", "sc_sng", "sc_and_array", "sc_or_array", "sc_xor_array", "sc_xnor_array",
             "sc_not_array", "sc_mux_array", "sc_apc_bipolar", "sc_counter_up", "sc_counter_updown",
             "sc_fsm_int", "sc_wfsm"]
    return Suite(h, emit_library(lfsr_modules + fixed), tops)
