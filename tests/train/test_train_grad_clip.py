"""Gradient-norm clipping (``TrainConfig.grad_clip``, ``scc train --grad-clip``) and the examples'
``batch_norm`` default and ``grad_clip`` preset key of ``training_main``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler import cli as cli_pkg
from sccompiler.errors import ConfigError
from sccompiler.testing import require_torch

torch = require_torch()
torch.set_num_threads(1)

from sccompiler import train as tr  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _data():
    return tr.synthetic_task("delay", samples=64, steps=10, seed=0)


def _model(seed: int = 0):
    return tr.QuantSequenceModel("lstm", 1, 8, 2, seed=seed, quant=tr.QuantConfig("float"),
                                 batch_norm=tr.BatchNormConfig())


def _weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().double().numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("bad", [0.0, -1.0, True, float("nan"), float("inf"), "1"])
def test_grad_clip_rejects(bad):
    with pytest.raises(ConfigError, match="grad_clip"):
        tr.TrainConfig(grad_clip=bad)


def test_grad_clip_bounds_the_update():
    # PaperAdam divides by sqrt(v) + eps: a gradient clipped to norm 1e-12 is far below eps = 1e-8,
    # so the steps shrink by orders of magnitude; unclipped they are ~lr per element
    x, y = _data()
    start = _weights(_model())
    moved = {}
    for clip in (None, 1e-12, 1e6):
        m = _model()
        tr.fit(m, x, y, tr.TrainConfig(epochs=1, batch_size=16, lr=1e-2, seed=0, grad_clip=clip,
                                       recalibrate_bn=False))
        moved[clip] = np.abs(_weights(m)["rnn.layers.0.weight_hh"] - start["rnn.layers.0.weight_hh"]).max()
    assert moved[None] > 1e-3
    assert moved[1e-12] < 1e-3 * moved[None]
    assert moved[1e6] == moved[None]            # a bound never reached changes nothing (bit-exact)


def test_grad_clip_norm_is_applied(monkeypatch):
    # the optimizer sees gradients whose global norm is at most grad_clip
    x, y = _data()
    seen = []
    real_step = tr.PaperAdam.step

    def spy(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return real_step(self, closure)

    monkeypatch.setattr(tr.PaperAdam, "step", spy)
    tr.fit(_model(), x, y, tr.TrainConfig(epochs=1, batch_size=16, lr=1e-2, seed=0, grad_clip=0.05))
    assert len(seen) == 4 and max(seen) <= 0.05 * (1 + 1e-5)


def test_scc_train_grad_clip(tmp_path):
    run = lambda *a: CliRunner().invoke(cli_pkg.cli, ["train", *map(str, a)])  # noqa: E731
    res = run("--task", "delay", "--samples", 32, "--steps", 8, "--hidden", 6, "--epochs", 1, "--grad-clip", 0.5,
              "--json", "-o", tmp_path / "m")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["grad_clip"] == 0.5
    res = run("--task", "delay", "--epochs", 1, "--grad-clip", 0, "-o", tmp_path / "x")
    assert res.exit_code != 0 and "--grad-clip" in res.output


def test_grad_clip_preset_and_batch_norm_default_reach_every_variant(tmp_path, monkeypatch):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _shared  # noqa: PLC0415
    finally:
        sys.path.remove(str(EXAMPLES))
    calls = []

    def fake_train(spec, variant, inputs, targets, **kw):
        calls.append((variant, kw))
        _shared.save_model(tr.to_ir(_shared.build_model(spec, variant, 0, kw["batch_norm"])),
                           Path(kw["out_dir"]) / variant, force=True)
        return None, {"seconds": 0.0, "final_loss": 0.0}

    def prepare(hp, args):
        x = torch.zeros(4, hp["steps"], 3)
        return x, torch.zeros(4, hp["steps"], dtype=torch.long), _shared.ModelSpec("lstm", 3, 4, 3), {}

    monkeypatch.setattr(_shared, "train_variant", fake_train)
    full = dict(steps=5, epochs=3, batch_size=4, lr=1e-2, lr_schedule="cosine", grad_clip=1.0)
    out = tmp_path / "m"
    _shared.training_main("t", tmp_path, "doc", full, full, prepare,
                          ["--variants", "float", "ternary", "--init", str(out), "--out", str(out), "--lr", "5e-3"],
                          batch_norm=True)
    (fv, fkw), (tv, tkw) = calls
    assert (fv, fkw["epochs"], fkw["lr"], fkw["grad_clip"], fkw["init"]) == ("float", 3, 5e-3, 1.0, None)
    # ternary: fine-tuned from the float model just written, the same preset (grad_clip, --lr)
    assert (tv, tkw["epochs"], tkw["lr"], tkw["grad_clip"], tkw["init"]) == ("ternary", 3, 5e-3, 1.0, out / "float")
    assert fkw["batch_norm"] and tkw["batch_norm"] and tkw["lr_schedule"] == "cosine"
