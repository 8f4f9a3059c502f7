"""Fixed-point heads (#18): area / energy / latency of the head and of the design for head_macs =
full (fully parallel), auto and 1, on a small design (LSTM 3-6, a 4-output head per step, exact
operands) and on the seq_mnist shape (LSTM 28-64 + a 10-output head on the last step, T = 28).

    PYTHONPATH=. python bench/bench_fixed_head.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from compiler.models import FAST, lstm_model  # noqa: E402

from sccompiler.cost import netlist_timing  # noqa: E402
from sccompiler.cost.netlist_cost import cost_report  # noqa: E402
from sccompiler.design import compile_model  # noqa: E402
from sccompiler.ir.model import LastStep, Tensor  # noqa: E402


def shape(I: int, H: int, O: int, last: bool):
    base = lstm_model(I=I, H=H, dense=O, seed=5)
    fc = dataclasses.replace(base.layers[-1], weight=Tensor(np.random.default_rng(105).normal(0, 0.3, (O, H))))
    return base.with_layers(base.layers[:-1] + ((LastStep("last"),) if last else ()) + (fc,))


def rows(name: str, model, T: int, L: int):
    x = np.random.default_rng(1).choice([-1.0, 1.0], size=(2, T, model.layers[0].input_size))
    for macs in ("full", "auto", 1):
        cfg = {"length": L, "defaults": {"hidden": "sign"}, **FAST, "layers": {"head": {"head_macs": macs}}}
        d = compile_model(model, cfg, calibration=x)
        t = netlist_timing(d.netlist, steps=T)
        sc = cost_report(d.netlist, d.model, d.config, steps=T)["designs"][f"sc-compiled-L{L}"]
        head, c = sc["parts"]["head"], sc["cost"]
        print(f"{name:10s} macs={str(macs):4s} P={str(d.netlist.layers[-1].options.macs):4s} "
              f"H={t.head_cycles:4d} period={t.step_period:3d} latency={t.latency_cycles:5d} cyc | "
              f"head {head['area']:9.0f} um2 {head['energy_per_inference_j'] * 1e12:8.3f} pJ | "
              f"design {c['area']:9.0f} um2 {c['energy_per_inference_j'] * 1e12:8.2f} pJ")


if __name__ == "__main__":
    rows("small", shape(3, 6, 4, False), T=5, L=32)
    rows("seq_mnist", shape(28, 64, 10, True), T=28, L=64)
