"""Compiler benchmarks: compile time of a 1x1000 LSTM, simulation time of 100 steps of a 1x256
LSTM at L = 256, peak memory.  Prints ratios against baselines measured in the same run (the
numpy float reference forward on the same inputs) and against the targets of the issue
(compile < 30 s without Verilog, simulation < 5 s).  Run: python bench/bench_compile.py [--quick]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np

from sccompiler.design import compile_model
from sccompiler.ir.model import LSTM, InputSpec, Model, Tensor
from sccompiler.reference import forward


def binary_lstm(inputs: int, hidden: int, seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)

    def b(shape, a):
        return Tensor(np.where(rng.random(shape) < 0.5, -a, a))
    lay = LSTM("lstm0", input_size=inputs, hidden_size=hidden, w_ih=b((4 * hidden, inputs), 0.05),
               w_hh=b((4 * hidden, hidden), 0.05), b_ih=Tensor(rng.normal(0, 0.1, 4 * hidden)))
    return Model((lay,), InputSpec("features", inputs), f"lstm-1x{hidden}")


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    args = ap.parse_args(argv)
    H_big, H_sim, steps = (250, 64, 20) if args.quick else (1000, 256, 100)
    rng = np.random.default_rng(1)
    cfg = {"disable": ["correlation_report"]}

    # warm-up: numba JIT, cvxpy import (not part of any measured number)
    warm = binary_lstm(4, 4)
    wx = rng.uniform(-1, 1, (2, 3, 4))
    compile_model(warm, cfg, calibration=wx).simulate(wx, length=64)
    compile_model(warm, {**cfg, "defaults": {"hidden": "sign"}},
                  calibration=np.sign(wx)).simulate(np.sign(wx), length=64)

    print(f"# compile time, 1x{H_big} LSTM (target < 30 s)")
    for name, opts, xin in (
            ("exact inputs, hidden=sign (table gates)", {"defaults": {"hidden": "sign"}},
             np.sign(rng.uniform(-1, 1, (4, 3, 64)))),
            ("real inputs, hidden=stream (integral WFSM gates)", {}, rng.uniform(-1, 1, (4, 3, 64)))):
        model = binary_lstm(64, H_big)
        _, t_ref = timed(forward, model, xin)
        tracemalloc.start()
        design, t_c = timed(compile_model, model, {**cfg, **opts, "length": 256}, calibration=xin)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        slow = sorted(((s["seconds"], s["pass"]) for s in design.stages), reverse=True)[:3]
        print(f"  {name}: {t_c:.2f} s  ({t_c / 30:.2f}x the 30 s budget; {t_c / t_ref:,.0f}x one float forward "
              f"of the calibration batch, {t_ref * 1e3:.1f} ms); nodes {len(design.netlist.nodes)}, "
              f"sources {design.netlist.sources['count']:,}; peak traced memory {peak / 2**20:.0f} MiB; "
              f"slowest passes: " + ", ".join(f"{p} {s:.2f} s" for s, p in slow))

    print(f"# simulation, 1x{H_sim} LSTM, {steps} steps, L = 256, batch 1 (target < 5 s)")
    for name, opts, x in (
            ("hidden=stream, integral WFSM gates, bias streams", {}, rng.uniform(-1, 1, (1, steps, 32))),
            ("hidden=stream, integral WFSM gates, bias offset", {"defaults": {"bias_encoding": "offset"}},
             rng.uniform(-1, 1, (1, steps, 32))),
            ("hidden=sign, table gates", {"defaults": {"hidden": "sign"}},
             np.sign(rng.uniform(-1, 1, (1, steps, 32))))):
        model = binary_lstm(32, H_sim)
        design = compile_model(model, {**cfg, **opts, "length": 256, "input_range": 1.0}, calibration=x[:, :8])
        out, t_s = timed(design.simulate, x)
        _, t_par = timed(design.simulate, x, threads=None)
        _, t_ref = timed(forward, model, x)
        err = float(np.abs(out - forward(model, x)).mean())
        cycles = steps * 256
        print(f"  {name} ({design.netlist.sources['count']:,} LFSRs): {t_s:.2f} s ({t_s / 5:.2f}x the 5 s budget; "
              f"{t_s / t_ref:,.0f}x the float reference {t_ref * 1e3:.1f} ms; "
              f"numba's default threads: {t_par:.2f} s = {t_par / t_s:.2f}x); {cycles / t_s:,.0f} "
              f"cycles/s of the whole layer; mean |SC - ref| {err:.3f}")
    ablation(rng, 16 if args.quick else 32)
    print(f"# peak RSS {peak_rss_mb():.0f} MiB")
    return 0


def ablation(rng, hidden: int) -> None:
    """The datapath options side by side: accuracy (vs the design reference and the quantized
    model) and cost, on one 1xH LSTM with binary inputs, L = 256."""
    print(f"# datapath options, 1x{hidden} LSTM, binary inputs, L = 256, 8 sequences x 6 steps")
    model = binary_lstm(16, hidden, seed=3)
    x = np.sign(rng.uniform(-1, 1, (8, 6, 16)))
    rows = [("table gates, hidden=sign (exact-input default)", {"defaults": {"hidden": "sign"}}),
            ("integral WFSM gates, hidden=sign", {"defaults": {"hidden": "sign", "gate_input": "integral_wfsm"}}),
            ("integral WFSM gates, hidden=stream (default for real inputs)", {}),
            ("  + bias_encoding=offset", {"defaults": {"bias_encoding": "offset"}}),
            ("  + FSMs not synthesized (Stanh ablation)", {"disable": ["correlation_report", "synthesize_fsms"]}),
            ("  + cell_range=1", {"defaults": {"cell_range": 1}}),
            ("  + cell_range=4", {"defaults": {"cell_range": 4}}),
            ("  + fsm_state=reset", {"defaults": {"fsm_state": "reset"}}),
            ("  + fsm_input_model=binomial (no calibrated input model)", {"defaults": {"fsm_input_model": "binomial"}})]
    print("  | option | err vs design ref | err vs quantized | area um^2 | energy/step | LFSRs |")
    for name, opts in rows:
        cfg = {"disable": ["correlation_report"], "length": 256, **opts}
        d = compile_model(model, cfg, calibration=x)
        golden = d.error(x, reference="golden")
        quant = d.error(x)
        c = d.info["cost"]["designs"][d.info["cost"]["sc"]]["cost"]
        print(f"  | {name} | {golden:.4f} | {quant:.4f} | {c['area']:,.0f} | {c['energy_per_inference_j']:.3g} J | "
              f"{d.netlist.sources['count']:,} |")


if __name__ == "__main__":
    sys.exit(main())
