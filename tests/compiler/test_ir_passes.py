"""SC netlist IR round trip and typing; pass registry, flows, disable-by-name, stage records."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.design import compile_model
from sccompiler.errors import ConfigError, ModelFormatError, SimulationError
from sccompiler.ir.sc import SCNetlist, SCNode
from sccompiler.passes import list_passes, resolve_flow

from .models import FAST, lstm_model


@pytest.fixture(scope="module")
def design(real_inputs):
    return compile_model(lstm_model(), {"length": 64}, calibration=real_inputs)


def test_netlist_json_round_trip(design):
    nl = design.netlist
    doc = nl.to_json()
    back = SCNetlist.from_json(doc, nl.arrays())
    assert [n.name for n in back] == [n.name for n in nl]
    for a, b in zip(nl, back):
        assert a.op == b.op and a.shape == b.shape and a.inputs == b.inputs
        assert set(a.arrays) == set(b.arrays)
        for k in a.arrays:
            np.testing.assert_array_equal(a.arrays[k], b.arrays[k])
    assert back.to_json() == doc


def test_netlist_rejects_tampered_arrays(design):
    nl = design.netlist
    arrays = nl.arrays()
    key = next(k for k in arrays if k.endswith("/weights"))
    arrays[key] = -arrays[key]
    with pytest.raises(ModelFormatError, match="digest"):
        SCNetlist.from_json(nl.to_json(), arrays)
    with pytest.raises(ModelFormatError):
        SCNetlist.from_json({"format": "nope"})


def test_netlist_typing_rules():
    x = SCNode("x", "input", (), (3,), "l")
    bad = SCNode("c", "counter", ("x",), (3,), "l")      # a counter needs bits, not a value
    with pytest.raises(SimulationError, match="cannot take a value"):
        SCNetlist((x, bad)).check()
    with pytest.raises(SimulationError, match="not defined before"):
        SCNetlist((SCNode("c", "counter", ("nowhere",), (3,), "l"),)).check()


def test_layer_level_nodes_stay_few(design):
    # one node per bank, never per bit: a 4H x (I+H) XNOR bank is one node
    assert len(design.netlist.nodes) < 40
    assert design.netlist.node("lstm0.ph").arrays["weights"].shape == (32, 8)


def test_stage_records(design):
    names = [s["pass"] for s in design.stages]
    assert names[:5] == ["check_model", "calibrate", "plan_datapath", "fold_batchnorm", "lower_layers"]
    assert all(s["seconds"] >= 0 for s in design.stages)
    assert design.stages[0]["ir"]["format"] == "sccompiler-plan"
    assert design.stages[-1]["ir"]["format"] == "sccompiler-netlist"


def test_disable_optional_pass_gives_stanh(real_inputs):
    d = compile_model(lstm_model(), {"length": 64, "disable": ["synthesize_fsms", "correlation_report", "cost"]},
                      calibration=real_inputs)
    fsm = d.netlist.node("lstm0.tanh_c")
    assert not fsm.params["synthesized"]
    np.testing.assert_array_equal(fsm.arrays["wq"][0], (np.arange(16) >= 8) * 256)
    assert [s["skipped"] for s in d.stages if s["pass"] == "synthesize_fsms"] == [True]


def test_flow_errors():
    with pytest.raises(ConfigError, match="unknown flow"):
        resolve_flow("nope")
    with pytest.raises(ConfigError, match="required"):
        resolve_flow("default", ["lower_layers"])
    with pytest.raises(ConfigError, match="unknown pass"):
        resolve_flow("default", ["typo"])
    assert {p["name"] for p in list_passes()} >= {"lower_layers", "synthesize_fsms", "allocate_sources"}


def test_float_weights_rejected_clearly(real_inputs):
    from sccompiler.errors import UnsupportedOpError
    from sccompiler.ir.model import Tensor

    m = lstm_model()
    lay = m.layers[0]
    m = m.replace_layer(lay.name, lay.replace(w_hh=Tensor(np.random.default_rng(0).normal(size=lay.w_hh.shape))))
    with pytest.raises(UnsupportedOpError, match="binary or ternary"):
        compile_model(m, FAST)
