"""Bidirectional layers and the RTL: not built yet, so ``--emit verilog`` (and the API) refuse a
bidirectional design with one clear error before anything is written -- never wrong RTL.  The
design itself compiles, saves, simulates and is costed from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from compiler.bidir_models import bidir_model

from sccompiler.backends.verilog.design import check_supported, emit_design
from sccompiler.cli import cli
from sccompiler.design import compile_model
from sccompiler.errors import UnsupportedOpError
from sccompiler.frontends.native import save_model


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_emit_refuses_bidirectional(tmp_path, kind):
    model = bidir_model(kind, sign=True, last=True, dense=2)
    x = np.random.default_rng(0).choice([-1.0, 1.0], (2, 4, 3))
    design = compile_model(model, {"length": 32, "disable": ["correlation_report", "accuracy_report"]},
                           calibration=x)
    with pytest.raises(UnsupportedOpError, match="bidirectional .*'rnn'.*not built yet"):
        check_supported(design)
    with pytest.raises(UnsupportedOpError, match="bidirectional"):
        emit_design(design, tmp_path / "out", inputs=x)
    assert not (tmp_path / "out").exists()


def test_cli_compile_simulate_cost_and_emit_refusal(tmp_path):
    model = bidir_model("gru", dense=2, last=True)
    mdir = save_model(model, tmp_path / "model")
    x = np.random.default_rng(1).uniform(-1, 1, (3, 5, 3))
    np.save(tmp_path / "x.npy", x)
    run = CliRunner()
    r = run.invoke(cli, ["compile", str(mdir), "-o", str(tmp_path / "d"), "--calibration", str(tmp_path / "x.npy"),
                         "--set", "length=32", "--set", "max_steps=8", "--quiet", "--emit", "verilog"])
    assert r.exit_code != 0 and "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "bidirectional" in lines[0], r.output
    assert not (tmp_path / "d").exists()
    r = run.invoke(cli, ["compile", str(mdir), "-o", str(tmp_path / "d"), "--calibration", str(tmp_path / "x.npy"),
                         "--set", "length=32", "--set", "max_steps=8", "--quiet", "--json"])
    assert r.exit_code == 0, r.output
    layers = [p["name"] for p in json.loads(r.output)["layers"]]
    assert layers[:3] == ["rnn", "rnn.reverse", "rnn.concat"]
    r = run.invoke(cli, ["cost", str(tmp_path / "d"), "--steps", "5", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["sequence_buffers"]["rnn.concat"]["max_steps"] == 8
    assert rep["timing"]["serial_layers"] == 2 and rep["timing"]["latency_cycles"] == 2 * 5 * 32 + 32 + 1
    r = run.invoke(cli, ["cost", str(tmp_path / "d")])
    assert r.exit_code == 0 and "Sequence buffers `rnn.concat`" in r.output, r.output
    np.save(tmp_path / "long.npy", np.random.default_rng(2).uniform(-0.5, 0.5, (2, 9, 3)))
    r = run.invoke(cli, ["simulate", str(tmp_path / "d"), "--inputs", str(tmp_path / "long.npy")])
    assert r.exit_code != 0 and "max_steps" in r.output and "Traceback" not in r.output, r.output


def test_fixed_point_baseline_rtl_refuses_bidirectional(tmp_path):
    from sccompiler.backends.verilog.fixed_point import emit_fixed_point_design

    with pytest.raises(UnsupportedOpError, match="bidirectional GRU.*'rnn'.*RTL has no bidirectional"):
        emit_fixed_point_design(bidir_model("gru"), tmp_path / "b", bits=8)
    assert not (tmp_path / "b").exists()
