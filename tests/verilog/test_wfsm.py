"""Standalone WFSM emission: API checks (no tools needed) and self-checking testbenches that must
print PASS under Icarus and Verilator for synthesized designs, and FAIL for a corrupted DUT."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sccompiler.backends.verilog import (
    WfsmSpec,
    emit_wfsm,
    emit_wfsm_testbench,
    lfsr_module_name,
    simulate,
    write_wfsm_files,
)
from sccompiler.backends.verilog.harness import mismatches, parse_results
from sccompiler.errors import OutputExistsError, SCValueError
from sccompiler.sim.fsm import stream_seeds
from sccompiler.testing import require_tool


@pytest.fixture(autouse=True)
def _no_disk_cache(monkeypatch):
    monkeypatch.setenv("SCC_FSM_CACHE", "0")


@pytest.fixture(scope="module")
def designs():
    from sccompiler.fsm import synthesize_fsm

    return {"binary": synthesize_fsm("tanh(2*x)", states=8, weight_bits=8),
            "integral": synthesize_fsm("tanh(x)", states=6, weight_bits=6, input="integral:2")}


# ----------------------------------------------------------------------------- API (no tools)
def test_spec_from_design(designs):
    b = WfsmSpec.from_design(designs["binary"])
    assert (b.states, b.weight_bits, b.operands) == (8, 8, 0)
    assert b.quantized_weights == tuple(designs["binary"].quantized_weights)
    i = WfsmSpec.from_design(designs["integral"], reset_state=1)
    assert (i.operands, i.reset, i.step_bits) == (2, 1, 3)


def test_emission_is_deterministic_and_uses_the_tap_table(designs):
    a = emit_wfsm(designs["binary"], module_name="tanh8", length=1000, seed=3)
    assert a == emit_wfsm(designs["binary"], module_name="tanh8", length=1000, seed=3)
    assert f"module {lfsr_module_name(16)}" in a and "module tanh8 #(" in a
    assert a.count("module sc_wfsm ") == 1
    # default seeds: simulate_fsm's stream 0 of a batch of one
    inp, w = stream_seeds(3, 1, 1, 16, 8, True)
    assert f"INPUT_SEEDS = 16'h{int(inp[0, 0]):x}" in a
    assert f"WEIGHT_SEED = 16'h{int(w[0]):x}" in a
    wq = designs["binary"].quantized_weights
    packed = sum(int(v) << (9 * k) for k, v in enumerate(wq))
    assert f".WEIGHTS(72'h{packed:x})" in a


def test_stanh_needs_no_weight_source():
    text = emit_wfsm(WfsmSpec(4, 8, (0, 0, 256, 256)), module_name="stanh4", length=64)
    assert "WEIGHT_SEED" not in text and "rw = 8'd0" in text


@pytest.mark.parametrize("kwargs,param", [
    ({"input_kind": "ideal"}, "input_kind"),
    ({"module_name": "sc_sng"}, "module_name"),
    ({"module_name": "2bad"}, "module_name"),
    ({"length": 0}, "length"),
    ({"length": 2**31}, "length"),
    ({"width": 2}, "width"),
    ({"input_seeds": (0,)}, "input_seeds[0]"),
    ({"input_seeds": (1, 2)}, "input_seeds"),
    ({"weight_seed": 0}, "weight_seed"),
])
def test_bad_parameters_raise_named_errors(kwargs, param):
    spec = WfsmSpec(4, 4, (0, 5, 9, 16))
    with pytest.raises(SCValueError) as exc:
        emit_wfsm(spec, **kwargs)
    assert exc.value.param == param


def test_spec_validation():
    with pytest.raises(SCValueError, match="quantized_weights"):
        WfsmSpec(3, 4, (0, 17, 3))
    with pytest.raises(SCValueError, match="quantized_weights"):
        WfsmSpec(3, 4, (0, 1))
    with pytest.raises(SCValueError, match="reset_state"):
        WfsmSpec(3, 4, (0, 1, 2), reset_state=3)


def test_testbench_input_shape_is_checked():
    with pytest.raises(SCValueError, match="inputs"):
        emit_wfsm_testbench(WfsmSpec(4, 4, (0, 5, 9, 16), operands=2), np.zeros(3), length=8)
    with pytest.raises(SCValueError, match="inputs"):
        emit_wfsm_testbench(WfsmSpec(4, 4, (0, 5, 9, 16)), np.array([0.5, 1.5]), length=8)


def test_write_files_atomic_and_force(tmp_path, designs):
    out = tmp_path / "t.v"
    paths = write_wfsm_files(designs["binary"], out, testbench_inputs=np.array([0.0, 0.5]),
                             module_name="t", length=32)
    assert sorted(p.name for p in paths) == ["t.v", "t_tb.v", "t_tb_exp.hex"]
    with pytest.raises(OutputExistsError):
        write_wfsm_files(designs["binary"], out, module_name="t", length=32)
    write_wfsm_files(designs["binary"], out, module_name="t", length=64, force=True)
    assert "64 cycles per evaluation" in out.read_text()


# ----------------------------------------------------------------------------- testbenches (hw)
def _run_tb(tmp_path, design, inputs, simulator, **kw):
    require_tool("iverilog" if simulator == "icarus" else "verilator")
    name = kw.pop("module_name", "dut")
    paths = write_wfsm_files(design, tmp_path / f"{name}.v", testbench_inputs=inputs, module_name=name, **kw)
    return simulate([p for p in paths if p.suffix == ".v"], f"{name}_tb", simulator=simulator,
                    run_dir=tmp_path)


ICARUS_CASES = [
    ("binary", "lfsr", np.linspace(-1, 1, 7)),
    ("binary", "sobol", np.array([-0.5, 0.25])),
    ("integral", "lfsr", np.array([[-1.0, 1.0], [0.3, 0.3], [0.9, -0.2]])),
    ("integral", "port", np.array([[0.5, -0.5], [1.0, 1.0]])),
]


@pytest.mark.hw
@pytest.mark.parametrize("which,kind,inputs", ICARUS_CASES, ids=[f"{a}-{b}" for a, b, _ in ICARUS_CASES])
def test_wfsm_testbench_passes_icarus(tmp_path, designs, which, kind, inputs):
    res = _run_tb(tmp_path, designs[which], inputs, "icarus", input_kind=kind, length=700, seed=4)
    results = parse_results(res.stdout)
    assert res.passed, res.stdout[-2000:]
    assert results["y"] == 0 and results["state"] == 0 and len(results) == len(inputs) + 3


@pytest.mark.hw
def test_wfsm_testbench_passes_verilator(tmp_path, designs):
    inputs = np.array([[-1.0, 1.0], [0.3, 0.3], [0.9, -0.2], [-0.6, -0.7]])
    res = _run_tb(tmp_path, designs["integral"], inputs, "verilator", length=900, seed=2)
    assert res.passed, res.stdout[-2000:]
    assert len(parse_results(res.stdout)) == len(inputs) + 3


@pytest.mark.hw
def test_testbench_catches_a_wrong_weight(tmp_path, designs):
    """A DUT whose weight table differs in one state fails, reporting cycle, expected and got."""
    require_tool("iverilog")
    design = designs["binary"]
    wq = list(design.quantized_weights)
    wrong = list(wq)
    wrong[4] = (wq[4] + 64) % 257
    paths = write_wfsm_files(WfsmSpec(8, 8, tuple(wrong)), tmp_path / "dut.v",
                             testbench_inputs=np.array([0.0, 0.1]), module_name="dut", length=400)
    # keep the mutated DUT but regenerate the expectations from the true design
    good = emit_wfsm_testbench(design, np.array([0.0, 0.1]), module_name="dut", length=400)
    for fname, text in good.items():
        (tmp_path / fname).write_text(text)
    res = simulate([tmp_path / "dut.v", tmp_path / "dut_tb.v"], "dut_tb", run_dir=tmp_path)
    assert not res.passed and "FAIL mismatches=" in res.stdout
    first = mismatches(res.stdout)[0]
    assert re.match(r"MISMATCH cycle=\d+ check=y expected=[0-9a-f]+ got=[0-9a-f]+", first)
    assert paths[0].exists()
