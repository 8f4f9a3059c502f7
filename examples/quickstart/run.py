"""The quickstart: compile the bundled ternary LSTM to stochastic-computing hardware, simulate it
cycle-accurately at several stream lengths, and compare it with the quantized reference.

The model (``model/ternary``, made by ``make_model.py``) is a 1x8 LSTM with ternary weights and a
ternary dense head that learned the ``delay`` task: the input is a +-1 bit per step, the target
at step t is the bit of step t-2.  Everything here uses the public API (``scc`` mirrors it)::

    python examples/quickstart/run.py --out build/demo [--force] [--lengths 64 256 1024]

Writes OUT/design (the compiled design: netlist, per-stage IR, report.md, rtl/ and tb/: the
design as Verilog with its self-checking testbench) and OUT/results.json.  With Icarus Verilog
installed the testbench is run, proving the RTL bit-exact against the simulator.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

import sccompiler as scc
from sccompiler.io import atomic_file, check_writable
from sccompiler.tasks import synthetic_task_arrays

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model" / "ternary"
#: the task of make_model.py: delay by two steps, 16 steps, training seed 0, held-out seed 1
TASK, STEPS, CALIBRATION_SEED, TEST_SEED = "delay", 16, 0, 1


def step_accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == targets))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("build/demo"), help="output directory")
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024],
                    help="stream lengths L (cycles per time step) to simulate")
    ap.add_argument("--sequences", type=int, default=64, help="held-out sequences to evaluate")
    ap.add_argument("--force", action="store_true", help="replace an existing OUT/design")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except scc.SCCError as exc:  # bad input: one line, non-zero exit
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    design_dir, results_path = args.out / "design", args.out / "results.json"
    for path in (design_dir, results_path):
        check_writable(path, args.force)  # fail before any work, not after

    # 1. import: the native format needs neither torch nor onnx
    model = scc.load_model(MODEL)
    info = scc.inspect_model(model)
    print(f"model   {model.name}: {len(model)} layers, {info['totals']['params']} parameters, "
          f"weights {info['totals']['memory_ratio']:.1f}x smaller than float32")

    # 2. data: held-out sequences, and calibration sequences for the compiler's input models
    x, y = synthetic_task_arrays(TASK, args.sequences, STEPS, seed=TEST_SEED)
    calibration, _ = synthetic_task_arrays(TASK, 32, STEPS, seed=CALIBRATION_SEED)
    reference = scc.forward(model, x)  # float64 ground truth of the quantized model
    print(f"data    {TASK} task, {x.shape[0]} held-out sequences x {STEPS} steps; "
          f"quantized reference accuracy {step_accuracy(reference, y):.3f}")

    # 3. compile at the middle length; the design simulates at any L
    t0 = time.perf_counter()
    design = scc.compile_model(model, {"length": sorted(args.lengths)[len(args.lengths) // 2]},
                               calibration=calibration)
    print(f"compile {time.perf_counter() - t0:.1f} s -> {design_dir}")
    design.save(design_dir, force=args.force)

    # 4. cycle-accurate simulation: accuracy and logit error shrink as L grows
    rows = []
    print(f"\n{'L':>6} {'accuracy':>9} {'mean |logit - ref|':>19} {'seconds':>8}")
    for length in args.lengths:
        t0 = time.perf_counter()
        logits = np.asarray(design.simulate(x, length=length))
        row = {"length": length, "accuracy": step_accuracy(logits, y),
               "mean_abs_logit_error": float(np.mean(np.abs(logits - reference))),
               "seconds": time.perf_counter() - t0}
        rows.append(row)
        print(f"{length:>6} {row['accuracy']:>9.3f} {row['mean_abs_logit_error']:>19.3f} {row['seconds']:>8.2f}")

    # 5. cost against fixed-point and binary-weight baselines (same technology model)
    cost = design.report()["cost"]
    print(f"\nreport  {design_dir / 'report.md'} (datapath, WFSM errors, correlation, cost vs baselines)")
    with atomic_file(results_path, force=args.force) as fh:
        json.dump({"model": str(MODEL), "task": TASK, "sequences": int(x.shape[0]),
                   "reference_accuracy": step_accuracy(reference, y), "simulated": rows,
                   "cost_ratios": cost["ratios"]}, fh, indent=2)
    print(f"results {results_path}")

    # 6. the same design as Verilog, with a testbench whose expected values come from the simulator
    from sccompiler.backends.verilog.design import emit_design, verify_design  # noqa: PLC0415

    # a short testbench (1 sequence x 2 steps): Icarus needs ~10 s for it; the test suite sweeps more
    files = emit_design(design, design_dir, inputs=x[:1, :2])
    print(f"verilog {len(files['rtl'])} RTL files under {design_dir / 'rtl'}, testbench under {design_dir / 'tb'}")
    if shutil.which("iverilog") is None:
        print("        co-simulation skipped: Icarus Verilog is not installed (apt-get install iverilog)")
        return 0
    passed, result = verify_design(design_dir, "icarus")
    print(f"        Icarus: {'bit-exact PASS' if passed else 'MISMATCH'} ({result.stdout.strip().splitlines()[-1]})")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
