"""ReSC and LUT+SNG emission: self-checking testbenches (per-cycle y and k, final counts from the
simulator of sccompiler.sim.realizations) pass under Icarus and Verilator, and a corrupted DUT fails."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.backends.verilog import simulate
from sccompiler.backends.verilog.harness import mismatches, parse_results
from sccompiler.backends.verilog.realizations import emit_resc, write_realization_files
from sccompiler.errors import SCValueError
from sccompiler.sim.realizations import resc_seeds
from sccompiler.sim.rules import resc_copy_width
from sccompiler.testing import require_tool


@pytest.fixture(autouse=True)
def _no_disk_cache(monkeypatch):
    monkeypatch.setenv("SCC_FSM_CACHE", "0")


@pytest.fixture(scope="module")
def designs():
    from sccompiler.fsm.bernstein import synthesize_bernstein
    from sccompiler.fsm.lut import synthesize_lut
    from sccompiler.fsm.wfsm2d import synthesize_wfsm2d

    return {"square": synthesize_bernstein("x**2", degree=2, coefficient_bits=1),
            "silu": synthesize_bernstein("x*sigmoid(4*x)", degree=5, coefficient_bits=9),
            "abs20": synthesize_bernstein("abs(x)", degree=20, coefficient_bits=10),   # 24-bit copies
            "unipolar": synthesize_bernstein("x**2", degree=3, coefficient_bits=6, input="unipolar",
                                             output="unipolar"),
            "lut": synthesize_lut("2*exp(-9*x**2)-1", address_bits=6, table_bits=8),
            "w2d_square": synthesize_wfsm2d("x**2", states=2, weight_bits=1),
            "w2d_abs": synthesize_wfsm2d("abs(x)", states=8, weight_bits=6)}


def test_emission_uses_the_simulator_seeds(designs):
    text = emit_resc(designs["silu"], module_name="silu5", seed=3, length=100)
    cs, ws = resc_seeds(3, 1, 5, resc_copy_width(5), 9)
    packed = sum(int(v) << (16 * i) for i, v in enumerate(cs[0]))
    assert f"COPY_SEEDS = 80'h{packed:x}" in text and f"COEF_SEED = 16'h{int(ws[0]):x}" in text
    assert "module sc_resc_select" in text and "module silu5 #(" in text
    with pytest.raises(SCValueError, match="module_name"):
        emit_resc(designs["silu"], module_name="sc_apc")


def _run(tmp_path, kind, design, inputs, simulator, **kw):
    require_tool("iverilog" if simulator == "icarus" else "verilator")
    paths = write_realization_files(kind, design, tmp_path / "dut.v", testbench_inputs=inputs, **kw)
    return simulate([p for p in paths if p.suffix == ".v"], "dut_tb", simulator=simulator, run_dir=tmp_path)


CASES = [("bernstein", "square", np.array([-1.0, -0.3, 0.5])),
         ("bernstein", "silu", np.linspace(-1, 1, 5)),
         ("bernstein", "abs20", np.array([-0.7, 0.0, 0.4])),
         ("bernstein", "unipolar", np.array([0.0, 0.35, 1.0])),
         ("lut", "lut", np.array([-1.0, -0.2, 0.0, 0.9, 1.0])),
         ("wfsm2d", "w2d_square", np.array([-1.0, 0.25, 0.8])),
         ("wfsm2d", "w2d_abs", np.array([-0.9, -0.1, 0.0, 0.6]))]


@pytest.mark.hw
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("kind,which,inputs", CASES, ids=[c[1] for c in CASES])
def test_testbench_passes(tmp_path, designs, kind, which, inputs, simulator):
    res = _run(tmp_path, kind, designs[which], inputs, simulator, length=300, seed=2)
    assert res.passed, res.stdout[-2000:]
    results = parse_results(res.stdout)
    assert results["y"] == 0 and len(results) == len(inputs) + {"bernstein": 2, "lut": 1, "wfsm2d": 3}[kind]


@pytest.mark.hw
def test_testbench_catches_a_wrong_coefficient(tmp_path, designs):
    require_tool("iverilog")
    d = designs["silu"]
    paths = write_realization_files("bernstein", d, tmp_path / "dut.v", testbench_inputs=np.array([0.0, 0.5]),
                                    length=200, seed=1)
    dut = paths[0]
    bq = list(d.quantized_coefficients)
    good = sum(v << (10 * i) for i, v in enumerate(bq))
    bq[2] = bq[2] + 40 if bq[2] < 300 else bq[2] - 40
    bad = sum(v << (10 * i) for i, v in enumerate(bq))
    text = dut.read_text()
    assert f"60'h{good:x}" in text
    dut.write_text(text.replace(f"60'h{good:x}", f"60'h{bad:x}"))
    res = simulate([p for p in paths if p.suffix == ".v"], "dut_tb", simulator="icarus", run_dir=tmp_path)
    assert not res.passed and mismatches(res.stdout)
