"""Small binary/ternary-weight LSTM/GRU models for the compiler tests (fixed seeds)."""

from __future__ import annotations

import numpy as np

from sccompiler.ir.model import GRU, LSTM, InputSpec, Linear, Model, Tensor
from sccompiler.runtime.engine import Runtime
from sccompiler.runtime.packed import PackedRuntime


def binary(shape, rng, a):
    return Tensor(np.where(rng.random(shape) < 0.5, -a, a))


def ternary(shape, rng, a):
    return Tensor(a * rng.choice([-1.0, 0.0, 1.0], size=shape))


def lstm_model(I=3, H=8, layers=1, seed=0, dense=0, weights=binary):
    rng = np.random.default_rng(seed)
    lays, fin = [], I
    for k in range(layers):
        lays.append(LSTM(f"lstm{k}", input_size=fin, hidden_size=H, w_ih=weights((4 * H, fin), rng, 0.4),
                         w_hh=weights((4 * H, H), rng, 0.3), b_ih=Tensor(rng.normal(0, 0.3, 4 * H))))
        fin = H
    if dense:
        lays.append(Linear("head", in_size=H, out_size=dense, weight=binary((dense, H), rng, 0.2),
                           bias=Tensor(rng.normal(0, 0.1, dense))))
    return Model(tuple(lays), InputSpec("features", I), "toy-lstm")


def gru_model(I=4, H=6, layers=2, seed=0):
    rng = np.random.default_rng(seed)
    lays, fin = [], I
    for k in range(layers):
        lays.append(GRU(f"gru{k}", input_size=fin, hidden_size=H, linear_before_reset=True,
                        w_ih=binary((3 * H, fin), rng, 0.4), w_hh=binary((3 * H, H), rng, 0.3),
                        b_ih=Tensor(rng.normal(0, 0.3, 3 * H)), b_hh=Tensor(rng.normal(0, 0.3, 3 * H))))
        fin = H
    return Model(tuple(lays), InputSpec("features", I), "toy-gru")


FAST = {"disable": ["correlation_report", "cost", "accuracy_report"]}
#: binary h counted off o XNOR tanh(c) (the paper's datapath), where the h counter is under test
SIGN_OUT = {"hidden": "sign", "sign_from": "output"}


def _collector(store: dict):
    def collect(layer, node, bits, t):
        store.setdefault(node.name, {})[t] = np.array(bits, dtype=bool)
    return collect


def assert_bit_exact(netlist, x, length=None, **kw):
    """The packed runtime equals the reference engine: output, every node's trace, the collected
    bit streams and the saturations identical.  Returns the engine's (output, runs)."""
    ref_bits, got_bits = {}, {}
    o1, r1 = Runtime(netlist).run(x, length=length, trace=True, collect=_collector(ref_bits))
    o2, r2 = PackedRuntime(netlist).run(x, length=length, trace=True, collect=_collector(got_bits), **kw)
    np.testing.assert_array_equal(o1, o2)
    assert r1.keys() == r2.keys()
    for layer in r1:
        np.testing.assert_array_equal(r1[layer].out, r2[layer].out, err_msg=layer)
        assert r1[layer].saturations == r2[layer].saturations, layer
        assert r1[layer].trace.keys() == r2[layer].trace.keys(), layer
        for name, v in r1[layer].trace.items():
            assert v.shape == r2[layer].trace[name].shape, name
            np.testing.assert_array_equal(v, r2[layer].trace[name], err_msg=name)
    assert ref_bits.keys() == got_bits.keys()
    for name, steps in ref_bits.items():
        for t, v in steps.items():
            np.testing.assert_array_equal(v, got_bits[name][t], err_msg=f"{name} step {t}")
    return o1, r1
