"""SPACE.yaml validation: every bad key, value, range, objective or constraint is one clear
ConfigError naming it; a valid space parses into the expected parameters."""

from __future__ import annotations

import pytest

from sccompiler.config import config_from_dict
from sccompiler.errors import ConfigError
from sccompiler.explore.space import load_space, parse_space, set_keys

from .conftest import write_space


def test_valid_space_parses_lists_ranges_and_layer_keys(model, tmp_path):
    p = write_space(tmp_path, """
params:
  length: [32, 64]
  lstm0.gate_fsm_states: {low: 8, high: 64, log: true}
  defaults.fsm_tolerance: {low: 0.01, high: 0.1}
  cost_bits: {low: 4, high: 8, step: 2}
objectives: [error, area]
constraints: ["error <= 2.5"]
trials: 5
""")
    sp = load_space(p, model)
    by = {q.key: q for q in sp.params}
    assert by["length"].choices == (32, 64)
    assert by["lstm0.gate_fsm_states"].integer and by["lstm0.gate_fsm_states"].log
    assert not by["defaults.fsm_tolerance"].integer
    assert by["cost_bits"].grid_values() == [4, 6, 8]
    assert [o.name for o in sp.objectives] == ["error", "area"] and sp.sampler == "nsga2" and sp.trials == 5
    cfg = config_from_dict(sp.config_dict({"length": 64, "lstm0.gate_fsm_states": 16}))
    assert cfg.length == 64 and cfg.layer("lstm0").gate_fsm_states == 16 and cfg.defaults.gate_fsm_states == 32


@pytest.mark.parametrize("text, message", [
    ("params: {}", "empty space"),
    ("objectives: [error]", "empty space"),
    ("params: {lenght: [1, 2]}", "unknown config key 'lenght'"),
    ("params: {defaults.gate_inptu: [table]}", "unknown layer option 'gate_inptu'"),
    ("params: {lstm9.length: [16]}", "'lstm9' is neither 'defaults' nor a layer"),
    ("params: {defaults.gate_input: [table, bogus]}", "params.defaults.gate_input = 'bogus'"),
    ("params: {length: [0, 16]}", "params.length = 0"),
    ("params: {length: []}", "empty list"),
    ("params: {length: [16, 16]}", "repeated values"),
    ("params: {length: {low: 64, high: 16}}", "low must be less than high"),
    ("params: {length: {low: 16}}", "a range needs keys low and high"),
    ("params: {defaults.fsm_tolerance: {low: 0.0, high: 0.1, log: true}}", "a log range needs low > 0"),
    ("params: {defaults.fsm_tolerance: {low: 0.01, high: 0.1}}\nsampler: grid", "a float range cannot be a grid"),
    ("params: {length: [16]}\nobjectives: [speed]", "unknown objective 'speed'"),
    ("params: {length: [16]}\nconstraints: [error < 1]", "is not of the form"),
    ("params: {length: [16]}\nconstraints: ['power <= 1']", "unknown quantity 'power'"),
    ("params: {length: [16]}\nsampler: random", "sampler: must be one of"),
    ("params: {length: [16]}\ntrials: 0", "trials: must be an integer"),
    ("params: {length: [16]}\nfixed: {seed: -1}", "fixed: seed"),
    ("params: {length: [16]}\nmystery: 1", "unknown key(s) 'mystery'"),
    ("params: [length]", "'params' must map"),
])
def test_bad_space_is_one_clear_error(model, tmp_path, text, message):
    p = write_space(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_space(p, model)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unparsable_and_missing_space_files(model, tmp_path):
    with pytest.raises(ConfigError, match="cannot parse the space"):
        load_space(write_space(tmp_path, "params: [unclosed"), model)
    with pytest.raises(ConfigError, match="space file not found"):
        load_space(tmp_path / "nope.yaml", model)


def test_set_keys_places_dotted_keys():
    out = set_keys({"defaults": {"hidden": "stream"}, "seed": 3},
                   {"length": 64, "defaults.gate_input": "table", "lstm0.cell_range": 3})
    assert out == {"defaults": {"hidden": "stream", "gate_input": "table"}, "seed": 3, "length": 64,
                   "layers": {"lstm0": {"cell_range": 3}}}


def test_parse_space_checks_layers_against_the_model(model):
    with pytest.raises(ConfigError, match="not a layer of the model"):
        parse_space({"params": {"length": [16]}, "fixed": {"layers": {"nope": {"length": 8}}}}, model)
