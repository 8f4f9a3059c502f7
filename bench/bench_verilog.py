"""Verilog backend timings (prints figures and ratios; never asserts).

1. Emission: ``emit_design`` on a 1 x H LSTM (default H = 1000) compiled with the ``fast`` flow at
   L = 256 with integral WFSM gates and stream h (table gates at H = 1000 would need a 2^14-entry
   threshold ROM per gate row).  Only ``emit_design`` is timed (it also runs the runtime for the
   testbench's expected values: one sequence of one step here); the RTL size is printed.
2. Co-simulation cost: a 1 x 64 LSTM (integral gates, L = 256) on B sequences x T steps, Verilator
   (build, run) against the Python simulator (``CompiledDesign.simulate``) on the same inputs,
   measured in the same run; the testbench checks every per-step value bit for bit.

Usage: python bench/bench_verilog.py [--hidden 1000] [--cosim-hidden 64] [--sequences 4] [--steps 8]
       [--skip-emission] [--skip-cosim]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sccompiler.backends.verilog.design import emit_design, verify_design
from sccompiler.design import compile_model
from sccompiler.ir.model import LSTM, InputSpec, Model, Tensor


def lstm(inputs: int, hidden: int, seed: int = 0) -> Model:
    """A binary-weight 1 x hidden LSTM."""
    rng = np.random.default_rng(seed)

    def binary(shape, a):
        return Tensor(np.where(rng.random(shape) < 0.5, -a, a))

    lay = LSTM("lstm0", input_size=inputs, hidden_size=hidden, w_ih=binary((4 * hidden, inputs), 0.4),
               w_hh=binary((4 * hidden, hidden), 0.3 / np.sqrt(hidden / 8)),
               b_ih=Tensor(rng.normal(0, 0.3, 4 * hidden)))
    return Model((lay,), InputSpec("features", inputs), f"bench-lstm-{hidden}")


def compile_integral(hidden: int, length: int, x: np.ndarray):
    cfg = {"length": length, "flow": "fast", "defaults": {"gate_input": "integral_wfsm", "hidden": "stream"}}
    return compile_model(lstm(x.shape[-1], hidden), cfg, calibration=x)


def bench_emission(hidden: int, length: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 3, 4))
    t0 = time.perf_counter()
    design = compile_integral(hidden, length, x)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-verilog-") as tmp:
        t2 = time.perf_counter()
        files = emit_design(design, tmp, inputs=x[:1, :1])
        t3 = time.perf_counter()
        size = sum(p.stat().st_size for p in files["rtl"])
        top = Path(files["rtl"][-1]).read_text().count("\n")
    sources = int(design.netlist.sources["count"])
    print(f"emission  1x{hidden} LSTM, L = {length}, integral gates: compile {t1 - t0:.1f} s, "
          f"emit_design {t3 - t2:.2f} s -> {size / 1e6:.1f} MB RTL ({top} lines in the top, {sources} LFSRs)")


def bench_cosim(hidden: int, length: int, sequences: int, steps: int) -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (sequences, steps, 4))
    design = compile_integral(hidden, length, x)
    design.simulate(x)                                   # warm the numba kernels
    t0 = time.perf_counter()
    design.simulate(x)
    python_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="bench-verilator-") as tmp:
        emit_design(design, tmp, inputs=x)
        passed, res = verify_design(tmp, "verilator")
    cycles = sequences * (steps + 1) * length
    print(f"co-sim    1x{hidden} LSTM, L = {length}, {sequences} sequences x {steps} steps ({cycles} cycles), "
          f"{'bit-exact PASS' if passed else 'FAIL'}")
    print(f"          Python simulator {python_s:.3f} s | Verilator build {res.build_seconds:.1f} s + run "
          f"{res.run_seconds:.3f} s")
    print("          ratio Verilator (build + run) / Python = "
          f"{(res.build_seconds + res.run_seconds) / python_s:.0f}x; "
          f"run only / Python = {res.run_seconds / python_s:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, default=1000, help="hidden units of the emission benchmark")
    ap.add_argument("--length", type=int, default=256, help="stream length L")
    ap.add_argument("--cosim-hidden", type=int, default=64, help="hidden units of the co-simulation benchmark")
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--skip-emission", action="store_true")
    ap.add_argument("--skip-cosim", action="store_true")
    args = ap.parse_args()
    if not args.skip_emission:
        bench_emission(args.hidden, args.length)
    if not args.skip_cosim:
        bench_cosim(args.cosim_hidden, args.length, args.sequences, args.steps)


if __name__ == "__main__":
    main()
