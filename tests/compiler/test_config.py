"""Config dataclasses: defaults, per-layer overrides, YAML/JSON loading, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sccompiler.config import CompileConfig, LayerConfig, config_from_dict, load_config
from sccompiler.design import compile_model
from sccompiler.errors import ConfigError

from .models import FAST, lstm_model


def test_defaults_and_overrides():
    cfg = config_from_dict({"length": 128, "defaults": {"cell_range": 3}, "layers": {"lstm0": {"hidden": "sign"}}})
    assert cfg.length == 128
    assert cfg.layer("lstm0").hidden == "sign" and cfg.layer("lstm0").cell_range == 3  # merged over defaults
    assert cfg.layer("other") == LayerConfig(cell_range=3)
    assert cfg.to_dict()["layers"] == {"lstm0": {"hidden": "sign"}}
    with pytest.raises(Exception):
        cfg.length = 3  # frozen


def test_yaml_and_json(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("length: 64\nlayers:\n  lstm0: {gate_fsm_states: 8}\n")
    assert load_config(y).layer("lstm0").gate_fsm_states == 8
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"seed": 5}))
    assert load_config(j, length=32).length == 32 and load_config(j).seed == 5


@pytest.mark.parametrize("data,match", [
    ({"lenght": 3}, "unknown key"),
    ({"length": 0}, "length"),
    ({"defaults": {"hidden": "binary"}}, "hidden"),
    ({"layers": {"x": {"cell_range": "two"}}}, "layers.x.cell_range"),
    ({"target_error": -1}, "target_error"),
    ({"disable": "cost"}, "disable"),
])
def test_bad_values(data, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "b.yaml"
    bad.write_text("length: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(bad)


def test_inconsistent_with_model(real_inputs):
    with pytest.raises(ConfigError, match="unknown layer"):
        compile_model(lstm_model(), {"layers": {"nope": {}}, **FAST})
    # table gates need exact operands; real-valued inputs are not
    with pytest.raises(ConfigError, match="exact"):
        compile_model(lstm_model(), {"defaults": {"gate_input": "table", "hidden": "sign"}, **FAST},
                      calibration=real_inputs)
    with pytest.raises(ConfigError, match="calibration"):
        compile_model(lstm_model(), CompileConfig(target_error=0.1))


def test_sng_wider_than_the_cell_count_is_costed():
    """sng_bits above the c counter's width (here 10 > 8 at L = 32): the count is shifted into the
    SNG width, so the cost report (netlist and analytic reference) has a narrower requantizer
    instead of refusing the design (a bug found by `scc explore`)."""
    d = compile_model(lstm_model(), {"defaults": {"sng_bits": 10}, "length": 32,
                                     "disable": ["correlation_report", "accuracy_report"]})
    narrow = compile_model(lstm_model(), {"length": 32, "disable": ["correlation_report", "accuracy_report"]})

    def sc_cost(design):
        cost = design.report()["cost"]
        return cost["designs"][cost["sc"]]["cost"]

    wide, base = sc_cost(d), sc_cost(narrow)
    # wider SNG comparators and hold registers cost more flip-flops and area than the default 5 bits
    assert wide["flip_flops"] > base["flip_flops"] and wide["area"] > base["area"] > 0


def test_low_bit_weights_are_refused_with_what_to_do():
    """int:K / exp weights are quantized, but not to levels an XNOR/AND multiplies by: the refusal
    says so (not "quantize the model first") and names the two ways on."""
    from sccompiler.errors import UnsupportedOpError
    from sccompiler.ir.model import Tensor
    from sccompiler.quantize import quantize_model

    rng = np.random.default_rng(0)
    m = lstm_model()
    lay = m.layers[0].replace(w_ih=Tensor(rng.normal(size=m.layers[0].w_ih.shape)))
    m = quantize_model(type(m)((lay,), m.input, m.name), "int:4", requantize=True)
    with pytest.raises(UnsupportedOpError, match=r"int:4-quantized; re-quantize it .*--requantize.*scc baseline"):
        compile_model(m, {"length": 32, **FAST})


def test_calibration_trace_is_shared_and_read_only(real_inputs):
    """The reference trace of a model on a calibration set is computed once per process (explore
    compiles one model many times) and nobody can change it for the next compile."""
    from sccompiler.passes.calibrate import reference_trace

    m = lstm_model(seed=11)
    x = np.asarray(real_inputs)[:8]
    first = reference_trace(m, x)
    assert reference_trace(m, x.copy()) is first                       # same content, same trace
    assert reference_trace(lstm_model(seed=12), x) is not first         # other weights, other trace
    arr = next(iter(first[m.layers[0].name].values()))
    with pytest.raises(ValueError, match="read-only"):
        arr[...] = 0
    # two compiles on the shared trace build the same design
    a = compile_model(m, {"length": 32, **FAST}, calibration=x)
    b = compile_model(m, {"length": 32, **FAST}, calibration=x)
    np.testing.assert_array_equal(a.simulate(x), b.simulate(x))
