"""Noise-aware fine-tuning on sequential Fashion-MNIST (or the digits fallback): a ternary 1-layer
LSTM trained on a subset of the training images, then fine-tuned twice with the same settings and
seed -- ``control`` (no noise) and ``noise-aware`` (the stream noise of the base model's own
compiled design at ``--noise-length`` injected, :mod:`sccompiler.train.noise`) -- and all three
compiled and evaluated (SC accuracy with 95% intervals, :meth:`CompiledDesign.evaluate`) at each L.

    python examples/seq_mnist/noise_finetune.py [--train 10000] [--test 2000] [--json PATH]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # data.py, examples/_shared.py

import data  # noqa: E402
import numpy as np  # noqa: E402
from _shared import ModelSpec, build_model, dump_json, export_ir, set_threads  # noqa: E402

NO_REPORTS = ["accuracy_report", "correlation_report"]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=data.SOURCES, default=None)
    ap.add_argument("--train", type=int, default=10000, help="training images (a seeded subset)")
    ap.add_argument("--test", type=int, default=2000, help="test images")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2, help="base training epochs")
    ap.add_argument("--tune-epochs", type=int, default=1, help="fine-tuning epochs")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--tune-lr", type=float, default=1e-3)
    ap.add_argument("--noise-length", type=int, default=128)
    ap.add_argument("--noise-scale", type=float, default=1.0)
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    set_threads(1)
    import torch  # noqa: PLC0415

    from sccompiler.design import compile_model  # noqa: PLC0415
    from sccompiler.reference import forward  # noqa: PLC0415
    from sccompiler.train import TrainConfig, design_noise, finetune_noise_aware, fit  # noqa: PLC0415

    clock = time.perf_counter()
    source = args.source or data.default_source()
    splits = data.load(source)
    xa, ya = splits["train"]
    order = np.random.default_rng(args.seed).permutation(len(ya))[:args.train]
    xa, ya = xa[order], ya[order]
    xt, yt = splits["test"][0][:args.test].astype(float), splits["test"][1][:args.test]
    calibration = splits["train"][0][:16].astype(float)
    steps = xa.shape[1]
    x, y = torch.from_numpy(xa), torch.from_numpy(data.last_step_targets(ya, steps))
    base = build_model(ModelSpec("lstm", xa.shape[2], args.hidden, 10), "ternary", args.seed)
    fit(base, x, y, TrainConfig(epochs=args.epochs, batch_size=128, lr=args.lr, seed=args.seed, clip_steps="quantized"))
    config = {"length": int(args.noise_length), "disable": NO_REPORTS}
    t0 = time.perf_counter()
    noise = design_noise(compile_model(export_ir(base, "seq_mnist-base"), config, calibration=calibration))
    noise_seconds = time.perf_counter() - t0
    tune = TrainConfig(epochs=args.tune_epochs, batch_size=128, lr=args.tune_lr, seed=args.seed + 1,
                       clip_steps="quantized")
    control, aware = copy.deepcopy(base), copy.deepcopy(base)
    fit(control, x, y, tune)
    finetune_noise_aware(aware, x, y, noise, epochs=args.tune_epochs, config=tune, scale=args.noise_scale)
    print(f"{source}: ternary LSTM 1x{args.hidden} trained {args.epochs} epochs on {args.train} images; "
          f"fine-tuning {args.tune_epochs} epoch(s) at lr {args.tune_lr} (noise of L = {args.noise_length}, "
          f"scale {args.noise_scale}; compile + variance model {noise_seconds:.1f} s); {len(yt)} test images")
    results: dict = {"source": source, "train_images": args.train, "test_images": int(len(yt)),
                     "noise_length": args.noise_length, "noise_scale": args.noise_scale, "lengths": args.lengths,
                     "noise_model": {k: v.describe() for k, v in noise.items()}, "models": {}}
    for name, model in (("base", base), ("control", control), ("noise-aware", aware)):
        ir = export_ir(model, f"seq_mnist-{name}")
        quant = float((forward(ir, xt)[:, -1].argmax(-1) == yt).mean())
        design = compile_model(ir, config, calibration=calibration)
        ev = design.evaluate(xt, yt, "accuracy", lengths=args.lengths)
        row = {"quantized_accuracy": quant, "sc": {int(L): {"value": r["value"], "ci": r["ci"]} for L, r in ev.items()}}
        results["models"][name] = row
        print(f"{name:>12}: quantized {quant:.4f}; " + "; ".join(
            f"L={L} {r['value']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]" for L, r in row["sc"].items()), flush=True)
    results["seconds"] = time.perf_counter() - clock
    dump_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
