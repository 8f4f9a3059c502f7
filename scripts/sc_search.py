"""Search the SC compile options of one example on its VALIDATION split (never the test split):
a greedy coordinate search over source kind, gate / cell FSM states and SNG width at a fixed
stream length, from the examples' default design (``examples/_shared.sc_config``).  Each
candidate is compiled and simulated on the validation sequences; a change is kept when it
improves the metric.  The winner is printed as a ``scc compile --config`` YAML
(``-o examples/<task>/sc_best.yaml`` writes it with a header naming the variant and the search);
the test-split numbers come from ``evaluate.py --sc-config`` afterwards.

Validation splits: quickstart -- synthetic delay sequences of seed 2 (train 0, test 1);
shakespeare_char -- the corpus' ``valid`` part (as make_val.py); seq_mnist -- the last
``--sequences`` Fashion-MNIST test images (the models were trained on all 60,000 training
images; evaluate.py's SC test uses the first 2,000 test images, disjoint from these).

    python scripts/sc_search.py shakespeare_char --length 256 --sequences 64 -o examples/shakespeare_char/sc_best.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

from _shared import SC_METRICS, load_variant, sc_config  # noqa: E402

from sccompiler.config import config_from_dict, config_to_yaml  # noqa: E402
from sccompiler.cost.netlist_cost import cost_report  # noqa: E402
from sccompiler.design import compile_model  # noqa: E402

#: the coordinates searched, in order, and their values (the default's value is always included)
SPACE = (("source", ("lfsr", "auto", "sobol")),
         ("defaults.gate_fsm_states", ("auto", 32, 64, 128, 256)),
         ("defaults.cell_fsm_states", (8, 16, 32)),
         ("defaults.cell_range", (1, 2, 3)),
         ("defaults.hidden", ("auto", "sign")),
         ("defaults.sng_bits", (None, 10)))


def validation(task: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(x, targets, calibration, metric) of the task's validation split."""
    here = EXAMPLES / task
    sys.path.insert(0, str(here))
    if task == "quickstart":
        from sccompiler.tasks import synthetic_task_arrays  # noqa: PLC0415

        x, y = synthetic_task_arrays("delay", n, 16, seed=2)
        cal, _ = synthetic_task_arrays("delay", 16, 16, seed=0)
        return x, y, cal, "step_accuracy"
    import data  # noqa: PLC0415
    from _shared import example_metadata  # noqa: PLC0415

    if task == "shakespeare_char":
        vocab = example_metadata(load_variant(here / "model", "ternary"))["vocab"]
        parts = data.split_corpus(data.load_corpus())
        x_ids, y_ids = data.contiguous_chunks(data.encode(parts["valid"], vocab), 100, n)
        cal_ids, _ = data.random_windows(data.encode(parts["train"], vocab), 100, 16, seed=123)
        return data.one_hot(x_ids, len(vocab)), y_ids, data.one_hot(cal_ids, len(vocab), dtype=float), "bpc"
    source = example_metadata(load_variant(here / "model", "ternary"))["source"]
    splits = data.load(source)
    x, y = splits["test"]
    return x[-n:], y[-n:], splits["train"][0][:16].astype(float), SC_METRICS["accuracy"]


def with_key(cfg: dict, key: str, value) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
    if key.startswith("defaults."):
        out["defaults"] = {**out.get("defaults", {}), key.split(".", 1)[1]: value}
    else:
        out[key] = value
    return out


def trial(model, cfg: dict, x, y, cal, metric: str, steps: int) -> dict:
    t0 = time.perf_counter()
    design = compile_model(model, config_from_dict(cfg | {"disable": ["accuracy_report", "correlation_report"]}),
                           calibration=cal)
    res = design.evaluate(x, y, metric)[0]
    rep = cost_report(design.netlist, design.model, design.config, steps=steps)
    sc = rep["designs"][rep["sc"]]["cost"]
    return {"value": res["value"], "ci": res["ci"], "area_um2": sc["area"],
            "energy_nj": sc["energy_per_inference_j"] * 1e9, "seconds": round(time.perf_counter() - t0, 1)}


def better(a: dict, b: dict, lower: bool) -> bool:
    return a["value"] < b["value"] if lower else a["value"] > b["value"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", choices=("quickstart", "shakespeare_char", "seq_mnist"))
    ap.add_argument("--variant", default="ternary")
    ap.add_argument("--length", type=int, required=True)
    ap.add_argument("--sequences", type=int, default=64, help="validation sequences")
    ap.add_argument("--coords", nargs="*", default=None, help="the coordinates searched (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("-o", "--output", type=Path, default=None, help="write the winner as a compile config")
    args = ap.parse_args(argv)
    model = load_variant(EXAMPLES / args.task / "model", args.variant)
    x, y, cal, metric = validation(args.task, args.sequences)
    lower = metric == "bpc"
    steps = int(x.shape[1])
    best_cfg = sc_config(args.length)
    best = trial(model, best_cfg, x, y, cal, metric, steps)
    rows = [{"config": best_cfg, **best}]
    print(f"base {json.dumps(best_cfg)}: {best}", flush=True)
    for key, values in SPACE:
        if args.coords is not None and key not in args.coords:
            continue
        current = (best_cfg.get("defaults", {}) if key.startswith("defaults.") else best_cfg).get(key.split(".")[-1])
        for value in values:
            if value == current:
                continue
            cfg = with_key(best_cfg, key, value)
            r = trial(model, cfg, x, y, cal, metric, steps)
            rows.append({"config": cfg, **r})
            print(f"{key}={value}: {r}", flush=True)
            if better(r, best, lower):
                best, best_cfg = r, cfg
        print(f"-> keep {json.dumps(best_cfg)} ({best['value']:.4f})", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"task": args.task, "variant": args.variant, "metric": metric,
                                         "validation_sequences": int(x.shape[0]), "rows": rows,
                                         "best": {"config": best_cfg, **best}}, indent=1))
    text = config_to_yaml(config_from_dict(best_cfg))
    if args.output is not None:
        args.output.write_text(f"# model variant: {args.variant} (examples/{args.task}/model/{args.variant})\n"
                               f"# found by scripts/sc_search.py on {int(x.shape[0])} validation sequences: "
                               f"{metric} {best['value']:.4f}\n" + text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
