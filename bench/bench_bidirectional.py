"""Bidirectional layers (#18): a bidirectional LSTM/GRU (3 -> 2 x 8, a 2-output head on the last
step -- ``y[:, -1]``, and the h_n heads ``cat(h_n[-2], h_n[-1])`` (select final) and ``h_n[-1]``
(select backward) -- T = 16) against the forward-only design of the same forward weights, in one run: area,
energy and latency per inference (``cost_report``, steps = T), the sequence buffers, the output
error against the quantized reference at L = 64 / 256 / 1024, and the packed vs reference runtime
time per sequence.

    PYTHONPATH=. python bench/bench_bidirectional.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from compiler.bidir_models import bidir_model  # noqa: E402
from compiler.models import FAST, binary  # noqa: E402

from sccompiler.cost.netlist_cost import cost_report  # noqa: E402
from sccompiler.design import compile_model  # noqa: E402
from sccompiler.ir.model import Linear, direction_layers  # noqa: E402
from sccompiler.reference import forward  # noqa: E402
from sccompiler.runtime.engine import Runtime  # noqa: E402
from sccompiler.runtime.packed import PackedRuntime  # noqa: E402

T, B, L = 16, 8, 256


def forward_only(model):
    """The same model without the backward direction: the forward layer, LastStep, a head of H inputs."""
    rec, last, head = model.layers
    fwd = direction_layers(rec)[0]
    rng = np.random.default_rng(7)
    fc = Linear("head", in_size=fwd.hidden_size, out_size=head.out_size, weight=binary((head.out_size, fwd.hidden_size),
                                                                                    rng, 0.2), bias=head.bias)
    return model.with_layers((fwd, last, fc))


def main() -> None:
    x = np.random.default_rng(1).uniform(-1, 1, (B, T, 3))
    cfg = {"length": L, "input_range": 1.0, **FAST}
    for kind in ("lstm", "gru"):
        bi = bidir_model(kind, H=8, seed=2, last=True, dense=2)
        variants = (("bidir", bi), ("bi-final", bidir_model(kind, H=8, seed=2, last=True, dense=2, select="final")),
                    ("bi-hn", bidir_model(kind, H=8, seed=2, last=True, dense=2, select="backward")),
                    ("fwd-only", forward_only(bi)))
        for name, model in variants:
            d = compile_model(model, cfg, calibration=x)
            rep = cost_report(d.netlist, d.model, d.config, steps=T)
            c = rep["designs"][rep["sc"]]["cost"]
            buf = rep.get("sequence_buffers", {}).get("rnn.concat")
            ref = forward(model, x)
            errs = [float(np.abs(d.simulate(x, length=n) - ref).mean()) for n in (64, 256, 1024)]
            t0 = time.perf_counter()
            PackedRuntime(d.netlist).run(x)
            t1 = time.perf_counter()
            Runtime(d.netlist).run(x)
            t2 = time.perf_counter()
            print(f"{kind} {name:8s} area {c['area']:9.0f} um2  energy {c['energy_per_inference_j'] * 1e9:6.2f} nJ  "
                  f"latency {c['latency_cycles']:5d} cyc  buffers {buf['bits'] if buf else 0:4d} bits "
                  f"({buf['area'] if buf else 0:6.0f} um2)  err L=64/256/1024 "
                  + "/".join(f"{e:.4f}" for e in errs)
                  + f"  packed {1e3 * (t1 - t0) / B:6.1f} ms/seq  reference {1e3 * (t2 - t1) / B:6.1f} ms/seq")


if __name__ == "__main__":
    main()
