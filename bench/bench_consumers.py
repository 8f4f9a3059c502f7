"""Error vs stream length per source kind (``source: lfsr | sobol | auto``) and per CONSUMER kind
of the streams, on the designs of bench_sobol.py (the quickstart 1x8 ternary LSTM and a random
1x64 ternary LSTM with integral WFSM gates and streamed h).

Each design is compiled at each L and kind (compile ``--seed``) and simulated on ``--sequences``
held-out sequences three ways, all against the design reference (``runtime/golden.py``, the
float forward with the design's quantization points), MSE of the outputs per sequence:

* ``full``: the design as built (packed runtime, bit-exact with the RTL);
* ``combinational``: the error the streams cause in the combinational consumers -- XNOR
  products, APCs and counters -- alone: the error-budget mixed runtime
  (``analysis/mixed.py``) with every FSM ideal (``gate_wfsm_*``, ``cell_fsm_*`` exact: the FSM
  realizes its target at the step's realized mean input) and the SNGs' b-bit thresholds exact,
  every SNG stream, product and shared source as built;
* ``sequential``: the error the FSMs' stream processing adds given the streams they are
  actually fed (their order and autocorrelation included): MSE(full) - MSE(gate and tanh(c)
  FSM noise exact), the FSM then outputting its steady state for the histogram of its input
  over the step, paired per sequence.

Each cell is the mean over sequences with a 95 % t-interval (the same sequences for every kind;
the mixed runtime's private source seed 0).  The intervals cover the sequences, not the compile
seed.

Run: python bench/bench_consumers.py [--sequences 64] [--lengths 16 32 ...] [--designs quickstart big]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sobol import KINDS, design_inputs  # noqa: E402

import sccompiler as scc  # noqa: E402
from sccompiler.analysis.mixed import MixedRuntime, element_classes  # noqa: E402
from sccompiler.metrics import t_interval  # noqa: E402
from sccompiler.runtime.golden import golden_forward  # noqa: E402

FSM_KINDS = ("gate_wfsm_noise", "gate_wfsm_approx", "cell_fsm_noise", "cell_fsm_approx")
NOISE_KINDS = ("gate_wfsm_noise", "cell_fsm_noise")


def per_seq_mse(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    d = (np.asarray(out, dtype=np.float64) - ref) ** 2
    return d.reshape(d.shape[0], -1).mean(axis=1)


def cell(values: np.ndarray) -> dict:
    lo, hi = t_interval(values)
    return {"mse": float(values.mean()), "lo": float(lo), "hi": float(hi)}


def run(name: str, lengths: list[int], sequences: int, seed: int) -> list[dict]:
    model, defaults, cal, x = design_inputs(name, sequences)
    rows = []
    for L in lengths:
        for kind in KINDS:
            t0 = time.perf_counter()
            d = scc.compile_model(model, {"length": L, "source": kind, "seed": seed, "defaults": defaults,
                                          "disable": ["accuracy_report", "correlation_report"]}, calibration=cal)
            ref = golden_forward(d.model, d.plans, x)[0]
            classes = element_classes(d.netlist)
            fsm = {c for c in classes if c.split("/", 1)[1] in FSM_KINDS + ("sng_quantization",)}
            noise = {c for c in classes if c.split("/", 1)[1] in NOISE_KINDS}
            full = per_seq_mse(d.simulate(x), ref)
            comb = per_seq_mse(MixedRuntime(d.netlist, frozenset(fsm), seed=0).run(x), ref)
            seq = full - per_seq_mse(MixedRuntime(d.netlist, frozenset(noise), seed=0).run(x), ref)
            row = {"design": name, "L": L, "source": kind, "sequences": int(full.size), "seed": seed,
                   "full": cell(full), "combinational": cell(comb), "sequential": cell(seq),
                   "fsms": sorted(noise), "seconds": round(time.perf_counter() - t0, 1)}
            rows.append(row)
            print(f"{name:<10} L={L:>5} {kind:<5} full {row['full']['mse']:.4g}  comb "
                  f"{row['combinational']['mse']:.4g} [{row['combinational']['lo']:.4g}, "
                  f"{row['combinational']['hi']:.4g}]  seq {row['sequential']['mse']:.4g} "
                  f"[{row['sequential']['lo']:.4g}, {row['sequential']['hi']:.4g}]  ({row['seconds']} s)", flush=True)
    return rows


def table(rows: list[dict], design: str) -> str:
    """The markdown table of one design: L x (consumer, kind), best kind per consumer in bold."""
    sub = [r for r in rows if r["design"] == design]
    head = ("| L | comb. lfsr | comb. sobol | comb. auto | seq. lfsr | seq. sobol | seq. auto | full lfsr | "
            "full sobol | full auto |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for L in sorted({r["L"] for r in sub}):
        by = {r["source"]: r for r in sub if r["L"] == L}
        cells = []
        for part in ("combinational", "sequential", "full"):
            best = min(KINDS, key=lambda k: by[k][part]["mse"])
            for k in KINDS:
                c = by[k][part]
                s = f"{c['mse']:.3g} ± {(c['hi'] - c['lo']) / 2:.2g}"
                cells.append(f"**{s}**" if k == best else s)
        lines.append(f"| {L} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=64)
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
    for name in args.designs:
        print(f"\n{name} (MSE vs the design reference, mean ± 95 % t half-width over {args.sequences} sequences)\n")
        print(table(rows, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
