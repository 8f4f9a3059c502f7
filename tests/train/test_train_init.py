"""The learning-rate schedule (``TrainConfig.lr_schedule``) and ``init_from_model`` (fine-tuning
a quantized variant from a trained model), through the API and ``scc train --init``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler import cli as cli_pkg
from sccompiler.errors import ConfigError, SCValueError
from sccompiler.testing import require_torch

torch = require_torch()
tr = pytest.importorskip("sccompiler.train")


def _data(n: int = 48, steps: int = 6, features: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, steps, features, generator=g) * 2 - 1
    y = (x[:, -1, 0] > 0).long()
    return x, y


def _model(cell="lstm", scheme="float", hidden=5, batch_norm=False, seed=0):
    quant = tr.QuantConfig(scheme)
    return tr.QuantSequenceModel(cell, 3, hidden, 2, quant=quant, head_quant=quant if quant.quantized else None,
                                 batch_norm=tr.BatchNormConfig() if batch_norm else None, seed=seed)


def test_scheduled_lr_cosine_values() -> None:
    from sccompiler.train.trainer import scheduled_lr

    assert scheduled_lr(0.4, "cosine", 0, 10) == 0.4
    assert scheduled_lr(0.4, "cosine", 5, 10) == pytest.approx(0.2, abs=1e-15)
    assert scheduled_lr(0.4, "cosine", 9, 10) == pytest.approx(0.2 * (1 + math.cos(0.9 * math.pi)))
    lrs = [scheduled_lr(1.0, "cosine", k, 7) for k in range(7)]
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] > 0
    assert {scheduled_lr(0.3, "constant", k, 7) for k in range(7)} == {0.3}
    with pytest.raises(ConfigError, match="lr_schedule"):
        tr.TrainConfig(lr_schedule="linear")


def test_cosine_schedule_applied_and_deterministic() -> None:
    x, y = _data()
    cfg = tr.TrainConfig(epochs=3, batch_size=16, lr=1e-2, seed=3, targets_at="last_step", lr_schedule="cosine")
    runs = []
    for _ in range(2):
        m = _model()
        res = tr.fit(m, x, y, cfg)
        runs.append((res.losses, [p.detach().clone() for p in m.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    m = _model()
    const = tr.fit(m, x, y, tr.TrainConfig(epochs=3, batch_size=16, lr=1e-2, seed=3, targets_at="last_step"))
    assert const.losses[-1] != runs[0][0][-1]        # the annealed run is another run

    # the optimizer sees lr·½(1+cos(πk/K)) at batch k: record it
    seen = []
    orig = tr.PaperAdam.step

    def spy(self, closure=None):
        seen.append(self.param_groups[0]["lr"])
        return orig(self, closure)

    tr.PaperAdam.step = spy
    try:
        tr.fit(_model(), x, y, cfg)
    finally:
        tr.PaperAdam.step = orig
    total = 3 * 3
    assert seen == [1e-2 * 0.5 * (1 + math.cos(math.pi * k / total)) for k in range(total)]


def test_init_from_model_copies_weights_exactly(tmp_path) -> None:
    x, y = _data()
    src = _model(seed=1)
    tr.fit(src, x, y, tr.TrainConfig(epochs=1, batch_size=16, seed=0, targets_at="last_step"))
    ir = tr.to_ir(src, name="src")
    tr.export_native(src, tmp_path / "src", name="src")
    for source in (ir, tmp_path / "src"):
        dst = _model(scheme="ternary", seed=7)
        names = tr.init_from_model(dst, source)
        assert names == ["lstm0.w_ih", "lstm0.w_hh", "lstm0.b_ih", "lstm0.b_hh", "head.weight", "head.bias"]
        lay = dst.rnn.layers[0]
        for param, t in ((lay.weight_ih, ir.layers[0].w_ih), (lay.weight_hh, ir.layers[0].w_hh),
                         (lay.bias_hh, ir.layers[0].b_hh), (dst.head.weight, ir.layers[1].weight)):
            np.testing.assert_array_equal(param.detach().double().numpy(), t.data.astype(np.float32))
    # a float copy computes the source's network (same weights, same forward)
    same = _model(seed=9)
    tr.init_from_model(same, ir)
    same.eval()
    src.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(same(x).numpy(), src(x).numpy())


def test_init_from_model_batch_norm_statistics() -> None:
    x, y = _data()
    src = _model(batch_norm=True, seed=1)
    tr.fit(src, x, y, tr.TrainConfig(epochs=1, batch_size=16, seed=0, targets_at="last_step"))
    src.eval()
    dst = _model(batch_norm=True, seed=5)
    names = tr.init_from_model(dst, tr.to_ir(src))
    assert "lstm0.bn_x.gamma" in names and "lstm0.bn_c.beta" in names
    dst.eval()
    with torch.no_grad():
        np.testing.assert_allclose(dst(x).numpy(), src(x).numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kw,msg", [({"cell": "gru"}, "GRU"), ({"hidden": 6}, "does not fit")])
def test_init_from_model_refuses_another_architecture(kw, msg) -> None:
    ir = tr.to_ir(_model())
    dst = _model(**kw)
    before = [p.detach().clone() for p in dst.parameters()]
    with pytest.raises(SCValueError, match=msg):
        tr.init_from_model(dst, ir)
    assert all(torch.equal(a, b) for a, b in zip(before, dst.parameters()))


def test_scc_train_init_and_lr_schedule(tmp_path) -> None:
    torch.set_num_threads(1)

    def run(*args):
        return CliRunner().invoke(cli_pkg.cli, ["train", *map(str, args)])

    base = ("--task", "sine", "--samples", 32, "--steps", 6, "--hidden", 4, "--no-batch-norm")
    res = run(*base, "--epochs", 2, "--scheme", "float", "-o", tmp_path / "f", "--json")
    assert res.exit_code == 0, res.output
    res = run(*base, "--epochs", 1, "--scheme", "ternary", "--init", tmp_path / "f", "--lr-schedule", "cosine",
              "-o", tmp_path / "t", "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.output)
    assert rec["lr_schedule"] == "cosine" and rec["init"] == str(tmp_path / "f")
    bad = run(*base, "--cell", "gru", "--epochs", 1, "--init", tmp_path / "f", "-o", tmp_path / "g")
    assert bad.exit_code != 0 and bad.output.startswith("error:") and "LSTM" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
