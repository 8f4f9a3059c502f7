"""Quantized recurrent layers, recurrent batch norm, the ICLR'19 optimizer, state pruning and the
seeded training loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sccompiler.errors import ConfigError, SCValueError
from sccompiler.testing import require_torch


@pytest.fixture(scope="module")
def tr():
    torch = require_torch()
    torch.set_num_threads(1)
    import sccompiler.train as train  # noqa: PLC0415

    return train


def _x(torch, batch=6, steps=5, feat=3, seed=0):
    return torch.randn(batch, steps, feat, generator=torch.Generator().manual_seed(seed))


def test_batchnorm_init_and_per_step_statistics(tr):
    import torch  # noqa: PLC0415

    layer = tr.QuantLSTMLayer(3, 4, quant=tr.QuantConfig("binary"), batch_norm=tr.BatchNormConfig(),
                              init_generator=torch.Generator().manual_seed(1))
    assert torch.all(layer.bn_x.gamma == 0.1) and torch.all(layer.bn_h.gamma == 0.1)
    assert torch.all(layer.bn_c.gamma == 0.1)
    assert layer.bias_ih is None and layer.bias_hh is None  # BNh's beta is the bias
    beta = layer.bn_h.beta.detach()
    assert beta[4:8].tolist() == [1.0] * 4 and float(beta[:4].abs().sum() + beta[8:].abs().sum()) == 0
    assert not isinstance(layer.bn_x.beta, torch.nn.Parameter)  # BNx has no learned beta
    x = _x(torch)
    layer.train()
    layer(x)
    assert layer.bn_x.steps == 5
    wx = layer.eval_weights()[0].float()  # deterministic binary: training weights are the same
    for t in range(5):
        a = x[:, t] @ wx.t()
        torch.testing.assert_close(layer.bn_x.running_mean[t], a.mean(0))
        torch.testing.assert_close(layer.bn_x.running_var[t], a.var(0, unbiased=False))
    # a second batch moves each row by momentum (the paper's alpha = 0.05)
    old = layer.bn_x.running_mean.clone()
    x2 = _x(torch, seed=1)
    layer(x2)
    a0 = (x2[:, 0] @ wx.t()).mean(0)
    torch.testing.assert_close(layer.bn_x.running_mean[0], old[0] + 0.05 * (a0 - old[0]))


def test_recalibration_gives_population_statistics_of_the_eval_weights(tr):
    import torch  # noqa: PLC0415

    model = tr.QuantSequenceModel("lstm", 3, 4, 1, quant=tr.QuantConfig("ternary", stochastic=True),
                                  batch_norm=tr.BatchNormConfig(), seed=5)
    x = _x(torch, batch=40, steps=6)
    model.train()
    model(x)  # training statistics come from a stochastic weight draw
    layer = model.rnn.layers[0]
    tr.recalibrate_batchnorm(model, x)
    wx = layer.eval_weights()[0]
    for t in range(6):
        a = x[:, t].double() @ wx.t()
        torch.testing.assert_close(layer.bn_x.running_mean[t].double(), a.mean(0), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(layer.bn_x.running_var[t].double(), a.var(0, unbiased=False),
                                   rtol=1e-5, atol=1e-6)
    one = layer.bn_x.running_var.clone()
    tr.recalibrate_batchnorm(model, x, batch_size=7)  # chunked sums give the same BNx statistics
    torch.testing.assert_close(layer.bn_x.running_var, one, rtol=1e-5, atol=1e-6)
    assert model.training and not layer.bn_x.calibrating  # mode restored
    with pytest.raises(SCValueError, match="batch_size"):
        tr.recalibrate_batchnorm(model, x, batch_size=0)


def test_eval_uses_running_rows_and_last_row_beyond(tr):
    import torch  # noqa: PLC0415

    bn = tr.RecurrentBatchNorm(2, tr.BatchNormConfig(gamma_init=1.0, momentum=None))
    bn.train()
    for t in range(3):
        bn(torch.tensor([[float(t), 0.0], [float(t) + 2, 4.0]]), t)
    bn.eval()
    y = bn(torch.tensor([[3.0, 2.0]]), 7)  # step 7 uses row 2: mean (3, 2), var (1, 4)
    torch.testing.assert_close(y, torch.zeros(1, 2), atol=1e-6, rtol=0)
    y0 = bn(torch.tensor([[2.0, 4.0]]), 0)  # row 0: mean (1, 2), var (1, 4)
    torch.testing.assert_close(y0, torch.tensor([[1 / math.sqrt(1 + 1e-4), 2 / math.sqrt(4 + 1e-4)]]))


def test_stochastic_training_draws_fresh_weights_eval_is_deterministic(tr):
    import torch  # noqa: PLC0415

    layer = tr.QuantGRULayer(3, 5, quant=tr.QuantConfig("ternary", stochastic=True),
                             init_generator=torch.Generator().manual_seed(2))
    layer.generator = torch.Generator().manual_seed(5)
    layer.train()
    x = _x(torch)
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    y1, y2 = layer(x), layer(x)
    assert torch.equal(y1, y2)
    wx, wh = layer.eval_weights()
    scale = tr.weight_scale(layer.quant, 3, 15)
    assert set(np.unique(wx.numpy()).tolist()) <= {-scale, 0.0, scale}
    with pytest.raises(ConfigError, match="freeze_sample"):
        tr.QuantGRULayer(3, 5, quant=tr.QuantConfig("binary")).freeze_sample(1)


def test_frozen_sample_is_seeded_and_used_in_eval(tr):
    import torch  # noqa: PLC0415

    cfg = tr.QuantConfig("binary", stochastic=True, eval_weights="sample")
    layer = tr.QuantLSTMLayer(3, 4, quant=cfg, init_generator=torch.Generator().manual_seed(3))
    with pytest.raises(ConfigError, match="no sample"):
        layer.eval_weights()
    layer.freeze_sample(11)
    a = layer.eval_weights()[0].clone()
    layer.freeze_sample(11)
    assert torch.equal(a, layer.eval_weights()[0])
    layer.freeze_sample(12)
    assert not torch.equal(a, layer.eval_weights()[0])
    assert layer.sample_seed == 12


def test_paper_adam_update_and_step_clip(tr):
    import torch  # noqa: PLC0415

    p = torch.nn.Parameter(torch.tensor([0.5, -0.2, 0.0], dtype=torch.float64))
    opt = tr.PaperAdam([p], lr=0.01)
    g = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    p.grad = g.clone()
    opt.step()
    m = 0.1 * g
    v = 0.001 * g * g
    a_t = 0.01 * math.sqrt(1 - 0.999) / (1 - 0.9)
    expect = torch.tensor([0.5, -0.2, 0.0], dtype=torch.float64) - a_t * m / (v.sqrt() + 1e-8)
    torch.testing.assert_close(p.detach(), expect, rtol=1e-14, atol=0)
    # with a huge learning rate every step is clipped to exactly ±step_clip
    q = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = tr.PaperAdam([q], lr=100.0, step_clip=0.125)
    q.grad = g.clone()
    opt.step()
    assert q.detach().tolist() == [-0.125, 0.125, -0.125]


def test_make_optimizer_clips_binary_steps_and_clip_weights(tr):
    import torch  # noqa: PLC0415

    model = tr.QuantSequenceModel("lstm", 3, 4, 2, quant=tr.QuantConfig("binary"), seed=0)
    opt = tr.make_optimizer(model, lr=1.0)
    layer = model.rnn.layers[0]
    clips = {id(g["params"][0]): g["step_clip"] for g in opt.param_groups if g["step_clip"] is not None}
    assert clips == {id(layer.weight_ih): layer.scale_ih, id(layer.weight_hh): layer.scale_hh}
    ternary = tr.QuantSequenceModel("gru", 3, 4, 2, quant=tr.QuantConfig("ternary"), seed=0)
    assert all(g["step_clip"] is None for g in tr.make_optimizer(ternary).param_groups)  # paper: binary only
    with torch.no_grad():
        layer.weight_ih.mul_(100.0)
    tr.clip_weights(model)
    assert float(layer.weight_ih.detach().abs().max()) == pytest.approx(layer.scale_ih, rel=1e-7)
    with pytest.raises(ConfigError):
        tr.make_optimizer(model, clip_steps="sometimes")


def test_state_pruning_zero_fraction_and_learned_threshold(tr):
    import torch  # noqa: PLC0415

    x, y = tr.synthetic_task("sine", 64, 12, seed=1)
    prune = tr.layers.PruningConfig(targets=("h", "c"), init_threshold=0.02, weight=1.0)
    model = tr.QuantSequenceModel("lstm", 1, 12, 1, quant=tr.QuantConfig("ternary"), pruning=prune, seed=3)
    layer = model.rnn.layers[0]
    before = tr.state_sparsity(model, x)["layer0"]
    # the reported fraction is the exact count of zeros in the hidden sequence
    with torch.no_grad():
        model.eval()
        h = model.rnn(x)
    assert before["h"] == pytest.approx(float((h == 0).double().mean()), abs=0)
    theta0 = float(layer.prune_h.threshold().detach())
    result = tr.fit(model, x, y, tr.TrainConfig(epochs=6, batch_size=16, lr=5e-3, seed=0))
    after = result.state_sparsity["layer0"]
    assert set(after) == {"h", "c"} and all(0.0 <= v <= 1.0 for v in after.values())
    # a heavy sparsity weight raises the learned threshold and with it the zero fraction
    assert float(layer.prune_h.threshold().detach()) > theta0
    assert after["h"] > before["h"]
    with pytest.raises(ConfigError, match="targets"):
        tr.layers.PruningConfig(targets=("x",))
    with pytest.raises(ConfigError, match="LSTM"):
        tr.QuantGRULayer(2, 2, pruning=tr.layers.PruningConfig(targets=("c",)))


def test_fit_reduces_loss_and_is_deterministic(tr):
    import torch  # noqa: PLC0415

    x, y = tr.synthetic_task("sine", 96, 16, seed=0)
    lines = []

    def run(seed):
        model = tr.QuantSequenceModel("lstm", 1, 12, 1, quant=tr.QuantConfig("binary", stochastic=True),
                                      batch_norm=tr.BatchNormConfig(), seed=4)
        state = torch.random.get_rng_state()
        res = tr.fit(model, x, y, tr.TrainConfig(epochs=8, batch_size=32, lr=1e-2, seed=seed, log_every=4),
                     log=lines.append)
        assert torch.equal(state, torch.random.get_rng_state())  # the caller's RNG is untouched
        return model, res

    m1, r1 = run(0)
    m2, r2 = run(0)
    _, r3 = run(1)
    assert r1.losses == r2.losses and r1.losses != r3.losses
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    # the task loss falls well below the first epoch's (a predict-zero baseline has mse ~0.32)
    assert r1.losses[-1] < 0.5 * r1.losses[0]
    assert len(lines) == 2 * 3 and lines[0].startswith("epoch 4/8 loss")


def test_fit_classification_and_errors(tr):
    x, y = tr.synthetic_task("delay", 64, 10, seed=2)
    model = tr.QuantSequenceModel("gru", 1, 8, 2, quant=tr.QuantConfig("ott-ternary"), seed=1)
    res = tr.fit(model, x, y, tr.TrainConfig(epochs=5, batch_size=16, lr=1e-2))
    assert res.losses[-1] < res.losses[0]
    with pytest.raises(SCValueError, match="targets"):
        tr.fit(model, x, y[:3])
    with pytest.raises(ConfigError, match="epochs"):
        tr.TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="synthetic"):
        tr.synthetic_task("copy")
    with pytest.raises(SCValueError, match="x"):
        model.rnn(x[:, :, 0])


def test_ternary_hidden_activation_in_the_recurrence(tr):
    import torch  # noqa: PLC0415

    model = tr.QuantSequenceModel("lstm", 1, 8, 1, quant=tr.QuantConfig("binary"),
                                  hidden_quant=tr.TernaryActivation(threshold=0.05, half_width=0.05), seed=2)
    x, y = tr.synthetic_task("sine", 32, 8, seed=3)
    h = model.rnn(x)
    assert set(torch.unique(h).tolist()) <= {-1.0, 0.0, 1.0} and bool((h != 0).any())
    torch.nn.functional.mse_loss(model(x), y).backward()
    assert float(model.rnn.layers[0].weight_hh.grad.abs().sum()) > 0  # the GXNOR window passes gradient


def test_state_dict_round_trip_keeps_statistics_and_sample(tr):
    import torch  # noqa: PLC0415

    cfg = tr.QuantConfig("binary", stochastic=True, eval_weights="sample")
    x, y = tr.synthetic_task("sine", 32, 7, seed=0)

    def make():
        return tr.QuantSequenceModel("lstm", 1, 5, 1, quant=cfg, batch_norm=tr.BatchNormConfig(), seed=1)

    model = make()
    model.rnn.layers[0].freeze_sample(3)
    tr.fit(model, x, y, tr.TrainConfig(epochs=2, batch_size=16))
    fresh = make()
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    assert fresh.rnn.layers[0].bn_x.steps == 7 and fresh.rnn.layers[0].sample_seed == 3
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
