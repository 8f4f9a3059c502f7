"""The reference forward pass against PyTorch and against straightforward per-step loops."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.errors import InvalidWeightsError, SCValueError
from sccompiler.ir import (
    GRU,
    LSTM,
    Activation,
    BatchNorm,
    BatchNormParams,
    Embedding,
    InputSpec,
    Linear,
    Model,
    Tensor,
)
from sccompiler.quantize import quantize_model
from sccompiler.reference import forward, sigmoid
from sccompiler.testing import require_torch

TOL = 1e-6


def _np(t) -> np.ndarray:
    return t.detach().double().numpy()


def _torch_rnn_layers(mod, kind: str, bias: bool, **extra) -> list:
    """IR layers from a torch nn.LSTM/nn.GRU, using PyTorch's gate order (the IR's)."""
    cls = LSTM if kind == "lstm" else GRU
    layers = []
    for k in range(mod.num_layers):
        def get(name):
            return Tensor(_np(getattr(mod, f"{name}_l{k}"))) if bias or name.startswith("weight") else None
        layers.append(cls(f"{kind}{k}", input_size=mod.input_size if k == 0 else mod.hidden_size,
                          hidden_size=mod.hidden_size, w_ih=get("weight_ih"), w_hh=get("weight_hh"),
                          b_ih=get("bias_ih"), b_hh=get("bias_hh"), **extra))
    return layers


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_matches_torch(num_layers, bias):
    torch = require_torch()
    torch.manual_seed(num_layers * 10 + bias)
    mod = torch.nn.LSTM(3, 5, num_layers=num_layers, bias=bias, batch_first=True).double()
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    h0 = torch.randn(num_layers, 4, 5, dtype=torch.float64)
    c0 = torch.randn(num_layers, 4, 5, dtype=torch.float64)
    want, (hn, cn) = mod(x, (h0, c0))
    model = Model(_torch_rnn_layers(mod, "lstm", bias), InputSpec("features", 3))
    state = {f"lstm{k}": (_np(h0[k]), _np(c0[k])) for k in range(num_layers)}
    got, trace = forward(model, _np(x), initial_state=state, return_trace=True)
    np.testing.assert_allclose(got, _np(want), rtol=0, atol=TOL)
    last = trace[f"lstm{num_layers - 1}"]
    np.testing.assert_allclose(last["c"][:, -1], _np(cn[-1]), rtol=0, atol=TOL)
    np.testing.assert_allclose(last["h"], got, rtol=0, atol=0)
    # without an initial state torch starts from zeros, as the reference does
    np.testing.assert_allclose(forward(model, _np(x)), _np(mod(x)[0]), rtol=0, atol=TOL)


def test_lstm_trace_gates_match_torch_cell():
    torch = require_torch()
    torch.manual_seed(3)
    mod = torch.nn.LSTM(2, 3, batch_first=True).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64)
    model = Model(_torch_rnn_layers(mod, "lstm", True), InputSpec("features", 2))
    _, trace = forward(model, _np(x), return_trace=True)
    tr = trace["lstm0"]
    # recompute gate pre-activations from torch's own step outputs
    h_prev = np.concatenate([np.zeros((2, 1, 3)), _np(mod(x)[0])[:, :-1]], axis=1)
    pre = (_np(x) @ _np(mod.weight_ih_l0).T + _np(mod.bias_ih_l0)
           + h_prev @ _np(mod.weight_hh_l0).T + _np(mod.bias_hh_l0))
    np.testing.assert_allclose(tr["pre"], pre, rtol=0, atol=TOL)
    for j, gate in enumerate("ifgo"):
        fn = np.tanh if gate == "g" else sigmoid
        np.testing.assert_allclose(tr[gate], fn(pre[..., 3 * j:3 * (j + 1)]), rtol=0, atol=TOL)
    assert tr["pre"].shape == (2, 4, 12) and tr["c"].shape == (2, 4, 3)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_gru_matches_torch(num_layers, bias):
    torch = require_torch()
    torch.manual_seed(num_layers * 7 + bias)
    mod = torch.nn.GRU(4, 3, num_layers=num_layers, bias=bias, batch_first=True).double()
    x = torch.randn(3, 6, 4, dtype=torch.float64)
    h0 = torch.randn(num_layers, 3, 3, dtype=torch.float64)
    want, _ = mod(x, h0)
    model = Model(_torch_rnn_layers(mod, "gru", bias, linear_before_reset=True),
                  InputSpec("features", 4))
    state = {f"gru{k}": _np(h0[k]) for k in range(num_layers)}
    got, trace = forward(model, _np(x), initial_state=state, return_trace=True)
    np.testing.assert_allclose(got, _np(want), rtol=0, atol=TOL)
    assert set(trace["gru0"]) == {"r", "z", "n", "h", "pre_x", "pre_h"}
    assert trace["gru0"]["pre_x"].shape == (3, 6, 9)


def _gru_layer(rng, lbr: bool, bn: bool = False, steps: int = 3) -> GRU:
    h, i = 3, 2
    bns = {}
    if bn:
        bns = {name: BatchNormParams(rng.uniform(-1, 1, (steps, 3 * h)), rng.normal(size=(steps, 3 * h)),
                                     rng.normal(size=(steps, 3 * h)), rng.uniform(0.5, 2, (steps, 3 * h)))
               for name in ("bn_x", "bn_h")}
    return GRU("gru", input_size=i, hidden_size=h, linear_before_reset=lbr,
               w_ih=Tensor(rng.normal(size=(3 * h, i))), w_hh=Tensor(rng.normal(size=(3 * h, h))),
               b_ih=Tensor(rng.normal(size=3 * h)), b_hh=Tensor(rng.normal(size=3 * h)), **bns)


def _gru_loop(layer: GRU, x: np.ndarray) -> np.ndarray:
    """One sequence, one step at a time, scalar-clear formulas (ONNX / PyTorch GRU definitions)."""
    hs = layer.hidden_size
    w_ih, w_hh, b_ih, b_hh = (t.data for t in (layer.w_ih, layer.w_hh, layer.b_ih, layer.b_hh))
    h = np.zeros(hs)
    out = []
    def norm(bn, v, t):
        return v if bn is None else bn.at(t)[0] * v + bn.at(t)[1]

    for t, xt in enumerate(x):
        def bx(v, t=t):
            return norm(layer.bn_x, v, t)

        def bh(v, t=t):
            return norm(layer.bn_h, v, t)

        xp = bx(w_ih @ xt) + b_ih
        hp = bh(w_hh @ h) + b_hh
        r = 1 / (1 + np.exp(-(xp[:hs] + hp[:hs])))
        z = 1 / (1 + np.exp(-(xp[hs:2 * hs] + hp[hs:2 * hs])))
        if layer.linear_before_reset:
            n = np.tanh(xp[2 * hs:] + r * hp[2 * hs:])
        else:
            # W_hn (r*h): the full-width batch norm applied to [0, 0, W_hn(r*h)] keeps its n block
            pad = np.concatenate([np.zeros(2 * hs), w_hh[2 * hs:] @ (r * h)])
            n = np.tanh(xp[2 * hs:] + bh(pad)[2 * hs:] + b_hh[2 * hs:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.array(out)


@pytest.mark.parametrize("lbr", [True, False])
@pytest.mark.parametrize("bn", [False, True])
def test_gru_matches_per_step_formula(lbr, bn):
    rng = np.random.default_rng(5)
    layer = _gru_layer(rng, lbr, bn, steps=3)  # 5 steps: the last stored BN row repeats
    x = rng.normal(size=(2, 5, 2))
    got = forward(Model((layer,), InputSpec("features", 2)), x)
    for b in range(2):
        np.testing.assert_allclose(got[b], _gru_loop(layer, x[b]), rtol=0, atol=1e-12)


def test_gru_linear_before_reset_matters():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 4, 2))
    a = forward(Model((_gru_layer(np.random.default_rng(1), True),), InputSpec("features", 2)), x)
    b = forward(Model((_gru_layer(np.random.default_rng(1), False),), InputSpec("features", 2)), x)
    assert np.max(np.abs(a - b)) > 1e-3


def _bn(rng, steps, feats, per_step=True) -> BatchNormParams:
    shape = (steps, feats) if per_step else (feats,)
    return BatchNormParams(rng.uniform(-1.5, 1.5, shape), rng.normal(size=shape),
                           rng.normal(size=shape), rng.uniform(0.2, 3, shape), eps=1e-3)


def test_lstm_recurrent_batch_norm_matches_loop():
    rng = np.random.default_rng(8)
    i, h, steps = 3, 4, 6
    layer = LSTM("lstm", input_size=i, hidden_size=h, w_ih=Tensor(rng.normal(size=(4 * h, i))),
                 w_hh=Tensor(rng.normal(size=(4 * h, h))), b_ih=Tensor(rng.normal(size=4 * h)),
                 b_hh=Tensor(rng.normal(size=4 * h)), bn_x=_bn(rng, 4, 4 * h),
                 bn_h=_bn(rng, 4, 4 * h), bn_c=_bn(rng, 1, h, per_step=False))
    x = rng.normal(size=(2, steps, i))
    c0, h0 = rng.normal(size=(2, h)), rng.normal(size=(2, h))
    got, trace = forward(Model((layer,), InputSpec("features", i)), x,
                         initial_state={"lstm": (h0, c0)}, return_trace=True)
    for b in range(2):
        hb, cb = h0[b], c0[b]
        for t in range(steps):
            sx, mx = layer.bn_x.at(t)
            sh, mh = layer.bn_h.at(t)
            sc, mc = layer.bn_c.at(t)
            pre = (sx * (layer.w_ih.data @ x[b, t]) + mx + sh * (layer.w_hh.data @ hb) + mh
                   + layer.b_ih.data + layer.b_hh.data)
            ig, fg, gg, og = np.split(pre, 4)
            cb = 1 / (1 + np.exp(-fg)) * cb + 1 / (1 + np.exp(-ig)) * np.tanh(gg)
            hb = 1 / (1 + np.exp(-og)) * np.tanh(sc * cb + mc)
            np.testing.assert_allclose(trace["lstm"]["pre"][b, t], pre, rtol=0, atol=1e-12)
            np.testing.assert_allclose(trace["lstm"]["c"][b, t], cb, rtol=0, atol=1e-12)
            np.testing.assert_allclose(got[b, t], hb, rtol=0, atol=1e-12)


def test_linear_embedding_activations_match_torch():
    torch = require_torch()
    torch.manual_seed(4)
    emb = torch.nn.Embedding(7, 4).double()
    lin = torch.nn.Linear(4, 5).double()
    ids = torch.randint(0, 7, (3, 6))
    want = torch.softmax(torch.tanh(lin(emb(ids))), dim=-1)
    model = Model((Embedding("emb", num_embeddings=7, embedding_dim=4, weight=Tensor(_np(emb.weight))),
                   Linear("fc", in_size=4, out_size=5, weight=Tensor(_np(lin.weight)),
                          bias=Tensor(_np(lin.bias))),
                   Activation("act", function="tanh"), Activation("sm", function="softmax")),
                  InputSpec("tokens", 7))
    got, trace = forward(model, ids.numpy(), return_trace=True)
    np.testing.assert_allclose(got, _np(want), rtol=0, atol=TOL)
    np.testing.assert_allclose(trace["fc"]["out"], _np(lin(emb(ids))), rtol=0, atol=TOL)
    # Linear without bias
    nob = Model((Linear("fc", in_size=4, out_size=5, weight=Tensor(_np(lin.weight))),),
                InputSpec("features", 4))
    xs = np.random.default_rng(0).normal(size=(2, 3, 4))
    np.testing.assert_allclose(forward(nob, xs), xs @ _np(lin.weight).T, rtol=0, atol=1e-12)


def test_activation_functions_and_sign_of_zero():
    x = np.array([[[-2.0, -0.0, 0.0, 0.5, 800.0, -800.0]]])
    outs = {}
    for fn in ("sigmoid", "tanh", "relu", "identity", "sign", "softmax"):
        outs[fn] = forward(Model((Activation("a", function=fn),), InputSpec("features", 6)), x)[0, 0]
    np.testing.assert_array_equal(outs["sign"], [-1, 1, 1, 1, 1, -1])
    np.testing.assert_array_equal(outs["relu"], [0, 0, 0, 0.5, 800, 0])
    np.testing.assert_array_equal(outs["identity"], x[0, 0])
    assert outs["sigmoid"][4] == 1.0 and outs["sigmoid"][5] >= 0 and np.all(np.isfinite(outs["sigmoid"]))
    assert outs["softmax"].sum() == pytest.approx(1.0) and outs["softmax"][4] == pytest.approx(1.0)
    assert outs["sigmoid"][3] == pytest.approx(1 / (1 + np.exp(-0.5)), abs=1e-15)


def test_batchnorm_layer_per_step():
    rng = np.random.default_rng(2)
    bn = _bn(rng, 2, 3)
    x = rng.normal(size=(2, 4, 3))
    got = forward(Model((BatchNorm("bn", params=bn),), InputSpec("features", 3)), x)
    for t in range(4):
        row = min(t, 1)
        want = bn.gamma[row] * (x[:, t] - bn.mean[row]) / np.sqrt(bn.var[row] + bn.eps) + bn.beta[row]
        np.testing.assert_allclose(got[:, t], want, rtol=0, atol=1e-12)


def test_quantized_weights_used_as_is():
    rng = np.random.default_rng(9)
    layer = LSTM("lstm", input_size=2, hidden_size=2, w_ih=Tensor(rng.normal(size=(8, 2))),
                 w_hh=Tensor(rng.normal(size=(8, 2))))
    model = Model((layer,), InputSpec("features", 2))
    qmodel = quantize_model(model, "binary")
    x = rng.normal(size=(1, 3, 2))
    _, trace = forward(qmodel, x, return_trace=True)
    w = qmodel.layer("lstm").w_ih.data
    np.testing.assert_allclose(trace["lstm"]["pre"][0, 0], w @ x[0, 0], rtol=0, atol=1e-15)
    assert not np.allclose(forward(model, x), forward(qmodel, x))


# --------------------------------------------------------------------------------- errors
def _feature_model() -> Model:
    return Model((Linear("fc", in_size=3, out_size=2, weight=Tensor(np.ones((2, 3)))),),
                 InputSpec("features", 3))


def _token_model() -> Model:
    return Model((Embedding("emb", num_embeddings=5, embedding_dim=2, weight=Tensor(np.ones((5, 2)))),),
                 InputSpec("tokens", 5))


@pytest.mark.parametrize("x, match", [
    (np.zeros((2, 3)), "batch, time, features"),
    (np.zeros((2, 3, 4)), "4 features"),
    (np.full((1, 2, 3), np.nan), "NaN"),
    (np.zeros((0, 2, 3)), "at least one"),
    (np.zeros((1, 2, 3), dtype=bool), "real"),
    (np.array([[["a", "b", "c"]]]), "real"),
    ([[[1.0, 2.0, 3.0], [1.0]]], "cannot be read"),
])
def test_bad_feature_inputs(x, match):
    with pytest.raises(SCValueError, match=match):
        forward(_feature_model(), x)


@pytest.mark.parametrize("x, match", [
    (np.zeros((2, 3, 1), dtype=int), "batch, time"),
    (np.zeros((2, 3)), "integers"),
    (np.array([[0, 5]]), r"\[0, 5\)"),
    (np.array([[-1, 0]]), r"\[0, 5\)"),
])
def test_bad_token_inputs(x, match):
    with pytest.raises(SCValueError, match=match):
        forward(_token_model(), x)


def test_bad_initial_state_and_model():
    rng = np.random.default_rng(0)
    layer = GRU("gru", input_size=1, hidden_size=2, w_ih=Tensor(rng.normal(size=(6, 1))),
                w_hh=Tensor(rng.normal(size=(6, 2))))
    model = Model((layer,), InputSpec("features", 1))
    x = np.zeros((2, 3, 1))
    with pytest.raises(SCValueError, match="initial_state"):
        forward(model, x, initial_state={"gru": np.zeros(3)})
    with pytest.raises(SCValueError, match="initial_state"):
        forward(model, x, initial_state={"nope": np.zeros(2)})
    with pytest.raises(SCValueError, match="initial_state"):
        forward(model, x, initial_state={"gru": (np.zeros(2), np.zeros(2))})
    broadcast = forward(model, x, initial_state={"gru": np.ones(2)})
    np.testing.assert_allclose(broadcast, forward(model, x, initial_state={"gru": np.ones((2, 2))}))
    bad = Model((layer.replace(w_hh=Tensor(np.full((6, 2), np.inf))),), InputSpec("features", 1))
    with pytest.raises(InvalidWeightsError):
        forward(bad, x)
