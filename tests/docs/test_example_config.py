"""docs/example-config.yaml loads, holds every key with its default value, and ``--set``/
``--print-config`` round-trip through :mod:`sccompiler.config`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sccompiler.cli import cli
from sccompiler.config import (
    CompileConfig,
    LayerConfig,
    apply_settings,
    config_from_dict,
    config_keys,
    config_to_yaml,
    load_config,
)
from sccompiler.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-config.yaml"


def test_example_config_is_complete_and_the_defaults():
    raw = yaml.safe_load(EXAMPLE.read_text())
    keys = config_keys()
    assert set(raw) == set(keys["compile"]) | {"defaults", "layers", "schedule"}
    assert set(raw["defaults"]) == set(keys["layer"]) and set(raw["schedule"]) == set(keys["schedule"])
    assert load_config(EXAMPLE) == CompileConfig()
    # the commented per-layer override is valid too
    assert load_config(EXAMPLE, ["lstm0.gate_fsm_states=64", "lstm0.length=512"]).layer("lstm0") == \
        LayerConfig(gate_fsm_states=64, length=512)


def test_settings_merge_and_validate(tmp_path):
    cfg = config_from_dict(apply_settings({"layers": {"lstm0": {"hidden": "sign"}}},
                                          ["length=64", "gate_fsm_states=auto", "lstm0.bias_encoding=offset",
                                           "schedule.lengths=[16, 32]", "input_range=2.5", "disable=cost"]))
    assert cfg.length == 64 and cfg.input_range == 2.5 and cfg.disable == ("cost",)
    assert cfg.defaults.gate_fsm_states == "auto" and cfg.schedule.lengths == (16, 32)
    assert cfg.layer("lstm0") == LayerConfig(hidden="sign", bias_encoding="offset", gate_fsm_states="auto")
    p = tmp_path / "c.yaml"
    p.write_text(config_to_yaml(cfg))
    assert load_config(p) == cfg
    with pytest.raises(ConfigError, match=r"--set foo: unknown key; valid: whole-compile keys length.*gate_input"):
        apply_settings({}, ["foo=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_settings({}, ["length"])
    with pytest.raises(ConfigError, match="gate_input: must be one of auto, table, integral_wfsm"):
        load_config(None, ["gate_input=fast"])
    assert all(f.name in config_keys()["layer"] for f in dataclasses.fields(LayerConfig))


def test_cli_print_config_and_set(tmp_path):
    import numpy as np

    from sccompiler.frontends.native import save_model
    from sccompiler.ir.model import LSTM, InputSpec, Model, Tensor

    rng = np.random.default_rng(0)
    save_model(Model((LSTM("lstm0", input_size=3, hidden_size=4, w_ih=Tensor(np.sign(rng.normal(size=(16, 3)))),
                           w_hh=Tensor(np.sign(rng.normal(size=(16, 4))))),), InputSpec("features", 3), "m"),
               tmp_path / "m")
    r = CliRunner()
    res = r.invoke(cli, ["compile", str(tmp_path / "m"), "--set", "lstm0.gate_fsm_states=48", "--input-range", "1.5",
                         "--length", "64", "--print-config"])
    assert res.exit_code == 0, res.output
    cfg = config_from_dict(yaml.safe_load(res.output))
    assert cfg.input_range == 1.5 and cfg.length == 64 and cfg.layer("lstm0").gate_fsm_states == 48
    res = r.invoke(cli, ["compile", str(tmp_path / "m"), "--set", "bogus=1", "-o", str(tmp_path / "o")])
    assert res.exit_code != 0 and res.output.startswith("error: --set bogus: unknown key") and \
        not (tmp_path / "o").exists()
    np.save(tmp_path / "x.npy", rng.uniform(-1, 1, (2, 3, 3)))
    res = r.invoke(cli, ["simulate", str(tmp_path / "m"), "--inputs", str(tmp_path / "x.npy"), "--set", "seed=7",
                         "--print-config"])
    assert res.exit_code == 0 and config_from_dict(yaml.safe_load(res.output)).seed == 7
