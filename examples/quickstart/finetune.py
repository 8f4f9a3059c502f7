"""Hardware-aware fine-tuning on the quickstart task: does training against the WFSM transfer
curves the compiler synthesizes help the SC-simulated model?

1. trains the quickstart's ternary 1x8 LSTM (as ``make_model.py``; full mode: same settings);
2. for each design flavour -- ``synthesized`` (the default compile: WFSM tables synthesized for the
   calibrated input models; their curves are taken as the targets, see
   :mod:`sccompiler.train.hardware`), ``binomial`` (tables synthesized for Binomial(M) inputs:
   curves within the synthesis error of σ/tanh) and ``stanh`` (the ``synthesize_fsms`` pass
   disabled: Brown-Card Stanh tables, whose curves are far from σ/tanh) -- compiles the base model,
   takes the curves of its WFSMs (:func:`sccompiler.train.wfsm_curves`), and fine-tunes two copies
   for ``--epochs`` epochs with the same settings: ``control`` (nominal σ/tanh) and ``hw-aware`` (the curves);
3. compiles each of base / control / hw-aware with that flavour and simulates held-out sequences
   at each L, printing the SC step accuracy, the quantized reference's accuracy (nominal σ/tanh)
   and the mean |SC logit - quantized logit|.

Honest numbers: whatever they are.  ``--reduced`` is the CI mode (small, seconds)::

    python examples/quickstart/finetune.py [--reduced] [--epochs 3] [--lengths 256 1024] [--json PATH]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # make_model.py, examples/_shared.py

import make_model  # noqa: E402
import numpy as np  # noqa: E402
from _shared import ModelSpec, build_model, dump_json, export_ir, set_threads  # noqa: E402

FLAVOURS = {"synthesized": {}, "binomial": {"defaults": {"fsm_input_model": "binomial"}},
            "stanh": {"disable": ["synthesize_fsms"]}}
NO_REPORTS = ["accuracy_report", "correlation_report"]


def step_accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == targets))


def _config(flavour: str, length: int) -> dict:
    extra = FLAVOURS[flavour]
    return {"length": int(length), "disable": NO_REPORTS + list(extra.get("disable", [])),
            **({"defaults": extra["defaults"]} if "defaults" in extra else {})}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reduced", action="store_true", help="small data and few epochs (CI)")
    ap.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default 3, reduced 1)")
    ap.add_argument("--lr", type=float, default=2e-3, help="fine-tuning learning rate")
    ap.add_argument("--lengths", type=int, nargs="+", default=None, help="stream lengths (default 256 1024)")
    ap.add_argument("--sequences", type=int, default=None, help="held-out sequences (default 256, reduced 8)")
    ap.add_argument("--flavours", nargs="+", choices=sorted(FLAVOURS), default=sorted(FLAVOURS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    set_threads(1)
    import torch  # noqa: PLC0415

    from sccompiler.design import compile_model  # noqa: PLC0415
    from sccompiler.reference import forward  # noqa: PLC0415
    from sccompiler.train import (  # noqa: PLC0415
        TrainConfig,
        design_curves,
        finetune_hardware_aware,
        fit,
        install_curves,
        synthetic_task,
    )

    hp = make_model.QUICK if args.reduced else make_model.FULL
    epochs = args.epochs if args.epochs is not None else (1 if args.reduced else 3)
    lengths = args.lengths or ([64] if args.reduced else [256, 1024])
    n_test = args.sequences or (8 if args.reduced else 256)
    clock = time.perf_counter()

    xt, yt = make_model.task_data(n_test)
    calibration, _ = make_model.task_data(32, held_out=False)
    x, y = synthetic_task(make_model.SYNTHETIC_TASK, hp["sequences"], make_model.STEPS, seed=make_model.TRAIN_SEED)
    spec = ModelSpec("lstm", 1, hp["hidden"], 2)
    base = build_model(spec, "ternary", args.seed)
    fit(base, x, y, TrainConfig(epochs=hp["epochs"], batch_size=hp["batch_size"], lr=hp["lr"], seed=args.seed,
                                clip_steps="quantized"))
    tune = TrainConfig(epochs=epochs, batch_size=hp["batch_size"], lr=args.lr, seed=args.seed + 1,
                       clip_steps="quantized")
    print(f"base: ternary LSTM 1x{hp['hidden']} trained {hp['epochs']} epochs on {hp['sequences']} sequences; "
          f"fine-tuning {epochs} epoch(s) at lr {args.lr}; {n_test} held-out sequences; L = {lengths}")
    results: dict = {"epochs": epochs, "lr": args.lr, "lengths": lengths, "test_sequences": n_test,
                     "train_sequences": hp["sequences"], "flavours": {}}
    for flavour in args.flavours:
        design = compile_model(export_ir(base, "base"), _config(flavour, 256), calibration=calibration)
        curves = design_curves(design)
        dev = {}
        for gate, c in curves["lstm0"].items():
            g = c.grid.numpy()
            nominal = np.tanh(g) if gate in ("g", "cell") else 1.0 / (1.0 + np.exp(-g))
            dev[gate] = float(np.abs(c.values.numpy() - nominal).max())
        print(f"\n[{flavour}] max |curve - nominal| per gate: " + ", ".join(f"{k} {v:.3g}" for k, v in dev.items()))
        control, hwft = copy.deepcopy(base), copy.deepcopy(base)
        fit(control, x, y, tune)
        finetune_hardware_aware(hwft, x, y, curves, epochs=epochs, config=tune)
        rows = {}
        print(f"{'model':>10} {'quantized acc':>13} {'curve-model acc':>15} " +
              " ".join(f"{'SC acc L=' + str(L):>12} {'|dlogit|':>8}" for L in lengths))
        for name, model in (("base", base), ("control", control), ("hw-aware", hwft)):
            ir = export_ir(model, f"quickstart-{name}")
            ref = forward(ir, xt)
            # the torch model evaluated with the hardware curves in place of σ/tanh
            probe = copy.deepcopy(model).eval()
            install_curves(probe, curves)
            with torch.no_grad():
                curve_logits = probe(torch.tensor(xt, dtype=torch.float32)).double().numpy()
            row = {"quantized_accuracy": step_accuracy(ref, yt),
                   "curve_model_accuracy": step_accuracy(curve_logits, yt),
                   "sc": {}}
            for length in lengths:
                d = compile_model(ir, _config(flavour, length), calibration=calibration)
                sc = np.asarray(d.simulate(xt))
                row["sc"][int(length)] = {"accuracy": step_accuracy(sc, yt),
                                          "mean_abs_logit_error": float(np.mean(np.abs(sc - ref)))}
            rows[name] = row
            print(f"{name:>10} {row['quantized_accuracy']:>13.4f} {row['curve_model_accuracy']:>15.4f} " +
                  " ".join(f"{row['sc'][L]['accuracy']:>12.4f} {row['sc'][L]['mean_abs_logit_error']:>8.3f}"
                           for L in lengths))
        results["flavours"][flavour] = {"curve_max_deviation": dev, "models": rows}
    results["seconds"] = round(time.perf_counter() - clock, 1)
    print(f"\n{results['seconds']} s")
    dump_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
