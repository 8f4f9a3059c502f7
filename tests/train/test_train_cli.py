"""``scc train``: trains, exports, reports JSON; bad arguments give one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler import cli as cli_pkg
from sccompiler.testing import require_torch


@pytest.fixture
def run():
    torch = require_torch()
    torch.set_num_threads(1)
    assert "train" in cli_pkg.COMMANDS  # the verb is reachable from `scc`

    def invoke(*args):
        return CliRunner().invoke(cli_pkg.cli, ["train", *map(str, args)])
    return invoke


def test_train_synthetic_native_and_onnx_json(run, tmp_path):
    from sccompiler.frontends import load_model  # noqa: PLC0415

    out, onnx_out = tmp_path / "m", tmp_path / "m.onnx"
    res = run("--task", "sine", "--samples", 48, "--steps", 8, "--hidden", 6, "--epochs", 3,
              "--scheme", "ternary", "-o", out, "--onnx", onnx_out, "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.output)
    assert len(rec["losses"]) == 3 and rec["outputs"]["native"] == str(out)
    model = load_model(out)
    assert model.layers[0].w_ih.quant.scheme == "ternary" and model.layers[0].bn_x.per_step
    assert onnx_out.exists()
    again = run("--task", "sine", "--samples", 8, "--epochs", 1, "-o", out)
    assert again.exit_code != 0 and again.output.startswith("error:") and "--force" in again.output


def test_train_from_npz_tokens_log(run, tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=(32, 6))
    np.savez(tmp_path / "d.npz", inputs=ids, targets=(ids + 1) % 5)
    res = run("--data", tmp_path / "d.npz", "--cell", "gru", "--epochs", 2, "--no-batch-norm",
              "-o", tmp_path / "t")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("epoch 1/2 loss")
    assert "wrote native model" in res.output


@pytest.mark.parametrize("args,msg", [
    ((), "exactly one of --task and --data"),
    (("--task", "sine"), "-o/--output"),
    (("--task", "sine", "--prune", "h", "-o", "x"), "native format"),
])
def test_train_errors(run, args, msg):
    res = run(*args)
    assert res.exit_code != 0 and res.output.startswith("error:") and msg in res.output


def test_train_bad_npz(run, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros(3))
    res = run("--data", tmp_path / "d.npz", "-o", tmp_path / "o")
    assert res.exit_code != 0 and "needs arrays 'inputs' and 'targets'" in res.output
