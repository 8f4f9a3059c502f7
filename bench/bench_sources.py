"""Shared vs private random sources: area, flip-flops, energy per inference of both variants of the
same compiled design and of the 8-bit fixed-point LSTM folded to the SC design's latency (all from
the compiled netlist's cost report, one run), and the accuracy cost of sharing: mean |logit -
quantized logit| over the quickstart's held-out sequences for several compile seeds at L = 256
and 1024 (mean and standard deviation over the seeds).

``--shakespeare``: the Shakespeare example's ternary 1x128 design (``gate_fsm_states: auto``),
private against shared: source count, cost, and bpc at L = 1024 on ``--chunks`` test chunks of
100 characters (mean over chunks with a 95% t-interval, same chunks for both).

Run: python bench/bench_sources.py [--quick] [--shakespeare [--chunks 64]]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import sccompiler as scc
from sccompiler.ir.model import LSTM, InputSpec, Model, Tensor
from sccompiler.tasks import synthetic_task_arrays

DEMO = Path(__file__).resolve().parents[1] / "examples" / "quickstart" / "model" / "ternary"
MODES = ("private", "shared")


def lstm_1x256(inputs: int = 16, hidden: int = 256, seed: int = 0) -> Model:
    """A 1x256 ternary LSTM with integral (WFSM) gates and streamed h (random weights)."""
    rng = np.random.default_rng(seed)

    def t(shape, a):
        return Tensor(rng.choice([-a, 0.0, a], size=shape, p=[0.3, 0.4, 0.3]))
    lay = LSTM("lstm0", input_size=inputs, hidden_size=hidden, w_ih=t((4 * hidden, inputs), 0.25),
               w_hh=t((4 * hidden, hidden), 0.06), b_ih=Tensor(rng.normal(0, 0.2, 4 * hidden)))
    return Model((lay,), InputSpec("features", inputs), f"lstm-1x{hidden}")


def cost_row(design) -> dict:
    cost = design.report()["cost"]
    sc = cost["designs"][cost["sc"]]["cost"]
    p_eq = cost["equal_latency_parallelism"]
    fixed = next(v for k, v in cost["designs"].items()
                 if k.startswith("fixed") and v["params"].get("parallelism") == p_eq)
    return {"registers": design.netlist.sources["count"], "area": sc["area"], "ge": sc["gate_equivalents"],
            "ff": sc["flip_flops"], "energy": sc["energy_per_inference_j"], "latency": sc["latency_cycles"],
            "fixed": fixed["cost"], "fixed_p": p_eq}


def print_costs(name: str, rows: dict) -> None:
    print(f"\n{name}: cost from the compiled netlist (one run)")
    print(f"{'design':<26} {'sources':>8} {'area um2':>11} {'GE':>10} {'FFs':>7} {'energy/inf':>11} {'latency':>8}")
    for mode, r in rows.items():
        print(f"{'SC ' + mode:<26} {r['registers']:>8} {r['area']:>11.0f} {r['ge']:>10.0f} {r['ff']:>7} "
              f"{r['energy'] * 1e9:>9.2f}nJ {r['latency']:>8}")
    f = rows["private"]["fixed"]
    print(f"{'fixed8 P=' + str(rows['private']['fixed_p']) + ' (equal latency)':<26} {'-':>8} {f['area']:>11.0f} "
          f"{f['gate_equivalents']:>10.0f} {f['flip_flops']:>7} {f['energy_per_inference_j'] * 1e9:>9.2f}nJ "
          f"{f['latency_cycles']:>8}")
    a, b = rows["private"], rows["shared"]
    print(f"shared / private: flip-flops {b['ff'] / a['ff']:.3f}, gate equivalents {b['ge'] / a['ge']:.3f}, "
          f"energy {b['energy'] / a['energy']:.3f}, area {b['area'] / a['area']:.3f}")
    for mode, r in rows.items():
        winner_a = "fixed point" if f["area"] < r["area"] else "SC"
        winner_e = "fixed point" if f["energy_per_inference_j"] < r["energy"] else "SC"
        print(f"SC {mode} vs fixed8 at equal latency: area {winner_a} wins by "
              f"{max(f['area'], r['area']) / min(f['area'], r['area']):.1f}x, energy {winner_e} wins by "
              f"{max(f['energy_per_inference_j'], r['energy']) / min(f['energy_per_inference_j'], r['energy']):.1f}x")


def shakespeare(chunks: int, length: int = 1024) -> None:
    """Private vs shared sources on the Shakespeare example design (see the module docstring)."""
    root = Path(__file__).resolve().parents[1] / "examples"
    sys.path[:0] = [str(root / "shakespeare_char"), str(root)]
    import data  # noqa: PLC0415  (the example's corpus helpers)
    from _shared import example_metadata, load_variant  # noqa: PLC0415

    model = load_variant(root / "shakespeare_char" / "model", "ternary")
    vocab = example_metadata(model)["vocab"]
    parts = data.split_corpus(data.load_corpus())
    x_ids, y_ids = data.contiguous_chunks(data.encode(parts["test"], vocab), 100, chunks)
    cal_ids, _ = data.random_windows(data.encode(parts["train"], vocab), 100, 16, seed=123)
    x, cal = data.one_hot(x_ids, len(vocab)), data.one_hot(cal_ids, len(vocab), dtype=float)
    rows, bpc = {}, {}
    for mode in MODES:
        t0 = time.perf_counter()
        d = scc.compile_model(model, {"length": length, "sources": mode, "disable": ["accuracy_report"],
                                      "defaults": {"gate_fsm_states": "auto"}}, calibration=cal)
        rows[mode] = cost_row(d)
        logits = np.asarray(d.simulate(x))
        z = logits - logits.max(axis=-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        per_chunk = -np.take_along_axis(logp, y_ids[..., None], axis=-1)[..., 0].mean(axis=1) / np.log(2)
        bpc[mode] = per_chunk
        print(f"  {mode}: compiled + simulated in {time.perf_counter() - t0:.0f} s")
    print_costs(f"Shakespeare 1x128 ternary (L = {length})", rows)
    for mode, v in bpc.items():
        half = 1.96 * v.std(ddof=1) / np.sqrt(v.size)
        print(f"  bpc {mode}: {v.mean():.4f} +- {half:.4f} (95%, {v.size} chunks)")
    diff = bpc["shared"] - bpc["private"]
    print(f"  shared - private: {diff.mean():+.4f} +- {1.96 * diff.std(ddof=1) / np.sqrt(diff.size):.4f} "
          f"(paired, 95%); sources {rows['private']['registers']} -> {rows['shared']['registers']} "
          f"({rows['shared']['registers'] / rows['private']['registers']:.3f}x)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="2 seeds, L = 256 only, no 1x256 design")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--shakespeare", action="store_true", help="only the Shakespeare comparison (minutes)")
    ap.add_argument("--chunks", type=int, default=64, help="Shakespeare test chunks")
    args = ap.parse_args(argv)
    if args.shakespeare:
        shakespeare(args.chunks)
        return 0
    seeds = list(range(1, 3 if args.quick else args.seeds + 1))
    lengths = [256] if args.quick else [256, 1024]
    model = scc.load_model(DEMO)
    x, _ = synthetic_task_arrays("delay", 64, 16, seed=1)
    cal, _ = synthetic_task_arrays("delay", 32, 16, seed=0)
    ref = scc.forward(model, x)
    err = {(m, L): [] for m in MODES for L in lengths}
    rows = {}
    t0 = time.perf_counter()
    for seed in seeds:
        for mode in MODES:
            d = scc.compile_model(model, {"length": 256, "sources": mode, "seed": seed}, calibration=cal)
            if seed == seeds[0]:
                rows[mode] = cost_row(d)
            for L in lengths:
                err[(mode, L)].append(float(np.mean(np.abs(np.asarray(d.simulate(x, length=L)) - ref))))
    print_costs(f"quickstart demo (1x8 ternary LSTM + head, L = 256, seed {seeds[0]})", rows)
    print(f"\naccuracy: mean |logit - quantized logit| over {x.shape[0]} sequences x {x.shape[1]} steps, "
          f"compile seeds {seeds} ({time.perf_counter() - t0:.0f} s)")
    for L in lengths:
        a, b = np.array(err[("private", L)]), np.array(err[("shared", L)])
        sd = float(a.std(ddof=1)) if a.size > 1 else float("nan")
        print(f"  L = {L:>5}: private {a.mean():.3f} +- {sd:.3f} (sd over seeds), shared {b.mean():.3f} "
              f"+- {b.std(ddof=1) if b.size > 1 else float('nan'):.3f}; difference {b.mean() - a.mean():+.3f} "
              f"= {(b.mean() - a.mean()) / sd if sd > 0 else float('nan'):+.2f} sd of private")
    if not args.quick:
        big = lstm_1x256()
        xb = np.random.default_rng(3).uniform(-1, 1, (4, 4, big.input.size))
        rows = {m: cost_row(scc.compile_model(big, {"length": 256, "sources": m,
                                                    "defaults": {"gate_input": "integral_wfsm"},
                                                    "disable": ["accuracy_report", "correlation_report"]},
                                              calibration=xb)) for m in MODES}
        print_costs("1x256 ternary LSTM, integral gates (L = 256)", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
