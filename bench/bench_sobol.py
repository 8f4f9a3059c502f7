"""Error vs stream length per source kind (``source: lfsr | sobol | auto``) on the same designs,
and their area / energy from the compile report.

Designs: the quickstart model (examples/quickstart, 1x8 ternary LSTM + dense head, its delay task)
and a larger random ternary LSTM (1x64, 8 inputs, integral WFSM gates, streamed h, uniform
inputs in [-1, 1]).  For every L in --lengths and every kind the design is compiled at that L
(``--seed``) and simulated on ``--sequences`` held-out sequences; the error of a sequence is
mean |SC output - quantized reference output| over its steps and outputs, reported as the mean
over sequences with a 95% t-interval (the same sequences for every kind).

Run: python bench/bench_sobol.py [--sequences 200] [--lengths 16 32 ...] [--designs quickstart big]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import sccompiler as scc
from sccompiler.ir.model import LSTM, InputSpec, Model, Tensor
from sccompiler.metrics import t_interval
from sccompiler.tasks import synthetic_task_arrays

DEMO = Path(__file__).resolve().parents[1] / "examples" / "quickstart" / "model" / "ternary"
KINDS = ("lfsr", "sobol", "auto")


def random_lstm(inputs: int = 8, hidden: int = 64, seed: int = 0) -> Model:
    """A 1xH ternary LSTM with random weights (the larger design of the table)."""
    rng = np.random.default_rng(seed)

    def t(shape, a):
        return Tensor(rng.choice([-a, 0.0, a], size=shape, p=[0.3, 0.4, 0.3]))
    lay = LSTM("lstm0", input_size=inputs, hidden_size=hidden, w_ih=t((4 * hidden, inputs), 0.3),
               w_hh=t((4 * hidden, hidden), 0.1), b_ih=Tensor(rng.normal(0, 0.2, 4 * hidden)))
    return Model((lay,), InputSpec("features", inputs), f"lstm-1x{hidden}")


def design_inputs(name: str, sequences: int):
    """(model, compile config defaults, calibration inputs, evaluation inputs)."""
    if name == "quickstart":
        model = scc.load_model(DEMO)
        x, _ = synthetic_task_arrays("delay", sequences, 16, seed=1)
        cal, _ = synthetic_task_arrays("delay", 32, 16, seed=0)
        return model, {}, cal, x
    model = random_lstm()
    rng = np.random.default_rng(5)
    cal = rng.uniform(-1, 1, (16, 8, model.input.size))
    x = rng.uniform(-1, 1, (sequences, 8, model.input.size))
    return model, {"gate_input": "integral_wfsm", "hidden": "stream"}, cal, x


def cost_of(design) -> dict:
    cost = design.report()["cost"]
    sc = cost["designs"][cost["sc"]]["cost"]
    return {"area_um2": sc["area"], "ge": sc["gate_equivalents"], "ff": sc["flip_flops"],
            "energy_nj": sc["energy_per_inference_j"] * 1e9}


def run(name: str, lengths: list[int], sequences: int, seed: int) -> list[dict]:
    model, defaults, cal, x = design_inputs(name, sequences)
    ref = np.asarray(scc.forward(model, x))
    rows = []
    for L in lengths:
        for kind in KINDS:
            t0 = time.perf_counter()
            d = scc.compile_model(model, {"length": L, "source": kind, "seed": seed, "defaults": defaults,
                                          "disable": ["accuracy_report"]}, calibration=cal)
            out = np.asarray(d.simulate(x))
            per_seq = np.abs(out - ref).reshape(out.shape[0], -1).mean(axis=1)
            lo, hi = t_interval(per_seq)
            src = d.info["sources"]
            corr = d.info.get("correlation", {}).get("sources", {})
            row = {"design": name, "L": L, "source": kind, "error": float(per_seq.mean()), "lo": float(lo),
                   "hi": float(hi), "sequences": int(per_seq.size), "registers": src["registers"],
                   "sobol_comparators": src.get("sobol_comparators", 0), "comparators": src["comparators"],
                   "max_abs_scc": corr.get("max_abs_scc"), **cost_of(d), "seconds": time.perf_counter() - t0}
            rows.append(row)
            print(f"{name:<10} L={L:>5} {kind:<5} err {row['error']:.4f} [{lo:.4f}, {hi:.4f}]  regs "
                  f"{row['registers']:>4} sobol {row['sobol_comparators']:>4}/{row['comparators']:<5} area "
                  f"{row['area_um2']:>10.0f} energy {row['energy_nj']:>8.3f} nJ  scc {row['max_abs_scc']}  "
                  f"({row['seconds']:.0f} s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sequences", type=int, default=200)
    ap.add_argument("--lengths", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512, 1024])
    ap.add_argument("--designs", nargs="+", default=["quickstart", "big"], choices=["quickstart", "big"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    rows = []
    for name in args.designs:
        rows += run(name, args.lengths, args.sequences, args.seed)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
