"""The compile driver: the stream-length search keeps the user's flow, and the saved stages
describe the saved design (regression: a pass disabled by the user was re-enabled at every
candidate length, and the stage snapshots before the scheduler described another L)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sccompiler.design import CompiledDesign, compile_model
from sccompiler.errors import ConfigError
from sccompiler.tasks import synthetic_task_arrays

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "model" / "ternary"
REPORTS_OFF = ["accuracy_report", "correlation_report", "cost"]


@pytest.fixture(scope="module")
def calibration():
    return synthetic_task_arrays("delay", 32, 16, seed=0)[0]


@pytest.fixture(scope="module")
def scheduled(calibration):
    return compile_model(QUICKSTART, {"target_error": 8.0, "disable": ["gate_zero_inputs", *REPORTS_OFF]},
                         calibration=calibration)


def test_disabled_pass_stays_disabled_under_target_error(scheduled, calibration):
    assert scheduled.info["schedule"]["length"] == scheduled.lengths["lstm0"]
    gated = [n.name for n in scheduled.netlist if n.params.get("gated")]
    assert gated == [] and "gated_banks" not in scheduled.info
    assert [s["skipped"] for s in scheduled.stages if s["pass"] == "gate_zero_inputs"] == [True]
    # and enabled, the same search gates the exact input bank (the test can fail)
    on = compile_model(QUICKSTART, {"target_error": 8.0, "disable": REPORTS_OFF}, calibration=calibration)
    assert on.netlist.node("lstm0.px").params.get("gated") is True


def test_saved_stage_snapshots_describe_the_saved_design(scheduled, tmp_path):
    out = scheduled.save(tmp_path / "d")
    design = json.loads((out / "design.json").read_text())["netlist"]
    saved_lengths = {p["name"]: p["length"] for p in design["layers"]}
    stages = sorted((out / "stages").iterdir())
    netlists = [json.loads(f.read_text())["ir"] for f in stages]
    lowered = [ir for ir in netlists if ir["format"] == "sccompiler-netlist"]
    assert lowered, "no stage holds a netlist"
    for ir in lowered:
        assert {p["name"]: p["length"] for p in ir["layers"]} == saved_lengths
    assert netlists[-1]["nodes"] == design["nodes"]
    assert [s["pass"] for s in CompiledDesign.load(out).stages] == [s["pass"] for s in scheduled.stages]


def test_search_stage_is_recorded_once(scheduled):
    names = [s["pass"] for s in scheduled.stages]
    assert names.count("schedule_length") == 1 and names.count("lower_layers") == 1
    assert names.index("allocate_sources") < names.index("schedule_length")


@pytest.mark.parametrize("config", [{"disable": ["schedule_length"]}, {"flow": "lower"}])
def test_target_error_without_the_search_is_refused(config, calibration):
    with pytest.raises(ConfigError, match="target_error needs the schedule_length step"):
        compile_model(QUICKSTART, {"target_error": 8.0, **config}, calibration=calibration)
