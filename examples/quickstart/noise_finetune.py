"""Noise-aware fine-tuning on the quickstart task: does training with the compiled design's stream
noise injected (:mod:`sccompiler.train.noise`) help the SC-simulated model at short streams?

1. trains the quickstart's ternary 1x8 LSTM (as ``make_model.py``);
2. compiles it once at ``--noise-length`` and reads the variance model (:func:`sccompiler.train.design_noise`);
3. fine-tunes two copies for ``--epochs`` epochs with the same settings and seed: ``control``
   (no noise) and ``noise-aware`` (the design's noise injected);
4. compiles base / control / noise-aware (default config at ``--noise-length``) and evaluates the SC
   step accuracy at each L on held-out sequences with 95% intervals (:meth:`CompiledDesign.evaluate`).

    python examples/quickstart/noise_finetune.py [--reduced] [--epochs 3] [--lengths 64 128 256] [--json PATH]
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
from _shared import ModelSpec, build_model, dump_json, export_ir, set_threads  # noqa: E402

NO_REPORTS = ["accuracy_report", "correlation_report"]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reduced", action="store_true", help="small data and few epochs (CI)")
    ap.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default 3, reduced 1)")
    ap.add_argument("--lr", type=float, default=2e-3, help="fine-tuning learning rate")
    ap.add_argument("--noise-length", type=int, default=128, help="the L whose noise is injected and compiled at")
    ap.add_argument("--noise-scale", type=float, default=1.0, help="multiply the injected std by this")
    ap.add_argument("--lengths", type=int, nargs="+", default=None, help="stream lengths (default 64 128 256)")
    ap.add_argument("--sequences", type=int, default=None, help="held-out sequences (default 512, reduced 16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    set_threads(1)
    from sccompiler.design import compile_model  # noqa: PLC0415
    from sccompiler.reference import forward  # noqa: PLC0415
    from sccompiler.train import TrainConfig, design_noise, finetune_noise_aware, fit, synthetic_task  # noqa: PLC0415

    hp = make_model.QUICK if args.reduced else make_model.FULL
    epochs = args.epochs if args.epochs is not None else (1 if args.reduced else 3)
    lengths = args.lengths or ([32] if args.reduced else [64, 128, 256])
    n_test = args.sequences or (16 if args.reduced else 512)
    clock = time.perf_counter()
    xt, yt = make_model.task_data(n_test)
    calibration, _ = make_model.task_data(32, held_out=False)
    x, y = synthetic_task(make_model.SYNTHETIC_TASK, hp["sequences"], make_model.STEPS, seed=make_model.TRAIN_SEED)
    base = build_model(ModelSpec("lstm", 1, hp["hidden"], 2), "ternary", args.seed)
    fit(base, x, y, TrainConfig(epochs=hp["epochs"], batch_size=hp["batch_size"], lr=hp["lr"], seed=args.seed,
                                clip_steps="quantized"))
    tune = TrainConfig(epochs=epochs, batch_size=hp["batch_size"], lr=args.lr, seed=args.seed + 1,
                       clip_steps="quantized")
    config = {"length": int(args.noise_length), "disable": NO_REPORTS}
    # the variance model of the base model's own design (export_ir: with the examples' learned gains)
    noise = design_noise(compile_model(export_ir(base, "quickstart-base"), config, calibration=calibration))
    control, aware = copy.deepcopy(base), copy.deepcopy(base)
    fit(control, x, y, tune)
    finetune_noise_aware(aware, x, y, noise, epochs=epochs, config=tune, scale=args.noise_scale)
    print(f"base: ternary LSTM 1x{hp['hidden']} trained {hp['epochs']} epochs on {hp['sequences']} sequences; "
          f"fine-tuning {epochs} epoch(s) at lr {args.lr} (noise of L = {args.noise_length}, "
          f"scale {args.noise_scale}); "
          f"{n_test} held-out sequences; L = {lengths}")
    results: dict = {"epochs": epochs, "lr": args.lr, "noise_length": args.noise_length,
                     "noise_scale": args.noise_scale, "lengths": lengths,
                     "test_sequences": n_test, "train_sequences": hp["sequences"],
                     "noise_model": {k: v.describe() for k, v in noise.items()}, "models": {}}
    for name, model in (("base", base), ("control", control), ("noise-aware", aware)):
        ir = export_ir(model, f"quickstart-{name}")
        ref = forward(ir, xt)
        quant = float((ref.argmax(-1) == yt).mean())
        design = compile_model(ir, config, calibration=calibration)
        ev = design.evaluate(xt, yt, "step_accuracy", lengths=lengths)
        row = {"quantized_accuracy": quant, "sc": {int(L): {"value": r["value"], "ci": r["ci"]} for L, r in ev.items()}}
        results["models"][name] = row
        print(f"{name:>12}: quantized {quant:.4f}; " + "; ".join(
            f"L={L} {r['value']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]" for L, r in row["sc"].items()))
    results["seconds"] = time.perf_counter() - clock
    dump_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
