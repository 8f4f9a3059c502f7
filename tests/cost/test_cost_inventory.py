"""Inventory algebra, the cost estimate formulas (ASIC and FPGA) and target loading."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.cost import Activity, Design, Inventory, load_target
from sccompiler.cost import targets as T
from sccompiler.cost.inventory import fpga_mapping
from sccompiler.errors import ConfigError, SCValueError

ASIC = load_target("asic-generic")
FPGA = load_target("fpga-lut6")

_blocks = st.sampled_from([
    Inventory.of("apc", inputs=7), Inventory.of("xnor", 3), Inventory.of("counter", width=9),
    Inventory.of("lfsr", width=16), Inventory.of("array_multiplier", width=4),
    Inventory.of("weight_memory", bits=100, storage="sram", read_bits_per_cycle=8),
    Inventory.of("wfsm", states=16, weight_bits=6, max_step=2), Inventory.of("activation_lut", input_bits=6),
])
inventories = st.lists(st.tuples(_blocks, st.integers(0, 5)), max_size=5).map(
    lambda parts: sum((n * b for b, n in parts), Inventory()))


# ---------------------------------------------------------------- algebra

@given(inventories, inventories)
def test_addition_adds_cells_and_commutes(a, b):
    assert (a + b).to_cells() == dict(sorted((Counter(a.to_cells()) + Counter(b.to_cells())).items()))
    assert a + b == b + a
    assert a + Inventory() == a


@given(inventories, st.integers(0, 7))
def test_scaling_multiplies_cells(a, n):
    assert (n * a).to_cells() == {k: v * n for k, v in a.to_cells().items() if v * n}
    assert n * a == a * n
    assert (n * a) + a == (n + 1) * a


@given(inventories, inventories)
def test_estimate_is_additive_in_area_and_energy(a, b):
    ra, rb, rab = (x.estimate(ASIC, cycles=10) for x in (a, b, a + b))
    assert math.isclose(rab.gate_equivalents, ra.gate_equivalents + rb.gate_equivalents, abs_tol=1e-9)
    assert math.isclose(rab.energy_per_inference_j, ra.energy_per_inference_j + rb.energy_per_inference_j,
                        rel_tol=1e-12, abs_tol=1e-30)


def test_counts_and_errors():
    inv = Inventory.of("apc", 2, inputs=7).add("apc", inputs=7).add("xnor", 5)
    assert inv.counts() == {"apc(inputs=7)": 3, "xnor()": 5}
    assert inv.to_json()[0] == {"kind": "apc", "params": {"inputs": 7}, "count": 3}
    with pytest.raises(SCValueError, match="unknown primitive"):
        Inventory.of("transistor")
    with pytest.raises(SCValueError, match="apc"):
        Inventory.of("apc", widht=3)
    with pytest.raises(SCValueError, match="count"):
        Inventory.of("xnor", -1)
    with pytest.raises(SCValueError, match="scale"):
        _ = -1 * inv
    with pytest.raises(SCValueError, match="cycles"):
        inv.estimate(ASIC, cycles=0)
    with pytest.raises(SCValueError, match="activity.stream"):
        Activity(stream=1.5)


# ---------------------------------------------------------------- ASIC estimate by hand

def test_asic_estimate_hand_computed():
    inv = Inventory.of("apc", inputs=3).add("register", width=2).add(
        "weight_memory", bits=10, storage="sram", read_bits_per_cycle=4)
    r = inv.estimate(ASIC, cycles=100, activity=Activity(stream=0.5, binary=0.25))
    c = ASIC.cells
    ge_stream, ge_binary, ge_mem = c["FA"], 2 * c["DFF_R"], 10 * c["SRAM_BIT"]
    ge = ge_stream + ge_binary + ge_mem
    assert r.gate_equivalents == pytest.approx(ge)
    assert r.area == pytest.approx(ge * ASIC.nand2_area_um2)
    dyn_fj = ((0.5 * ge_stream + 0.25 * ge_binary) * ASIC.toggle_fj_per_ge + 2 * ASIC.dff_clock_fj
              + 4 * ASIC.memory_read_fj_per_bit)
    f = ASIC.clock_mhz * 1e6
    per_cycle = dyn_fj * 1e-15 + ge * ASIC.leakage_nw_per_ge * 1e-9 / f
    assert r.energy_per_cycle_j == pytest.approx(per_cycle)
    assert r.energy_per_inference_j == pytest.approx(100 * per_cycle)
    assert r.latency_s == pytest.approx(100 / f)
    assert r.flip_flops == 2 and r.memory_bits == 10
    assert r.complexity == pytest.approx(ge * 100)
    assert r.power_w == pytest.approx(per_cycle * f)


def test_asic_clock_override():
    r = Inventory.of("xnor").estimate(ASIC, cycles=50, clock_mhz=100)
    assert r.latency_s == pytest.approx(50 / 100e6)
    with pytest.raises(SCValueError, match="clock_mhz"):
        Inventory.of("xnor").estimate(ASIC, clock_mhz=0)


# ---------------------------------------------------------------- FPGA mapping by hand

def _luts(inv: Inventory) -> dict:
    total: Counter = Counter()
    for bucket in inv.resources().values():
        total.update(fpga_mapping(bucket, FPGA))
    return dict(total)


def test_fpga_rules_hand_computed():
    assert FPGA.lut_inputs == 6 and FPGA.carry_bits_per_block == 4 and FPGA.gates2_per_lut == 2
    assert _luts(Inventory.of("xnor", 3))["luts"] == 2           # 3 loose gates, 2 per LUT
    assert _luts(Inventory.of("apc", inputs=7))["luts"] == 4      # 4 FA, one LUT6_2 each
    m = _luts(Inventory.of("counter", width=9))
    assert (m["luts"], m["carry_blocks"], m["ff"]) == (9, 3, 9)
    assert _luts(Inventory.of("activation_lut", input_bits=8))["luts"] == 8 * 4   # 2 Kb in LUTRAM
    assert _luts(Inventory.of("activation_lut", input_bits=10)) ["brams"] == 1    # 10 Kb > 4 Kb
    assert _luts(Inventory.of("weight_memory", bits=100_000, storage="sram"))["brams"] == 3
    assert _luts(Inventory.of("weight_memory", bits=77, storage="register"))["ff"] == 77
    assert _luts(Inventory.of("gate", op="AND", inputs=11))["luts"] == 2


@pytest.mark.parametrize("k, luts", [(1, 1), (6, 1), (7, 2), (11, 2), (12, 3), (16, 3), (26, 5)])
def test_luts_for_function(k, luts):
    assert FPGA.luts_for_function(k) == luts


def test_fpga_estimate_energy_by_hand():
    inv = Inventory.of("counter", width=8)  # stream domain: 8 LUTs, 8 FF
    r = inv.estimate(FPGA, cycles=10, activity=Activity(stream=0.5))
    f = FPGA.fmax_mhz * 1e6
    per_cycle = (8 * 0.5 * FPGA.lut_toggle_fj + 8 * FPGA.ff_clock_fj) * 1e-15 + 8 * FPGA.static_uw_per_lut * 1e-6 / f
    assert r.energy_per_cycle_j == pytest.approx(per_cycle)
    assert r.area == pytest.approx(8 + 8 / FPGA.ffs_per_lut)
    assert r.gate_equivalents is None and r.luts == 8


# ---------------------------------------------------------------- designs

def test_design_latency_pipelines_layers():
    d = Design("d", (("a", Inventory.of("xnor")),), step_cycles=(10, 30))
    assert d.latency_cycles(1) == 40
    assert d.latency_cycles(5) == 40 + 4 * 30
    with pytest.raises(SCValueError, match="steps"):
        d.latency_cycles(0)
    settled = Design("s", (("a", Inventory.of("register", width=4)),), step_cycles=(8,), settle_cycles=8)
    assert settled.activity().binary == pytest.approx(Activity().binary / 8)


# ---------------------------------------------------------------- targets

def test_load_by_name_and_file_agree():
    assert ASIC.kind == "asic" and FPGA.kind == "fpga"
    for name in ("asic-generic", "fpga-lut6"):
        pkg = T.PACKAGE_TARGETS / f"{name}.json"
        assert load_target(str(pkg)) == load_target(name)
    assert set(T.available_targets()) >= {"asic-generic", "fpga-lut6"}
    # one copy of the bundled targets, the packaged one: no second copy at the repository root
    assert not (Path(__file__).resolve().parents[2] / "targets").exists()


def _write(tmp_path: Path, data) -> str:
    p = tmp_path / "t.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


def _asic_dict() -> dict:
    return json.loads((T.PACKAGE_TARGETS / "asic-generic.json").read_text())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("name"), "missing field 'name'"),
    (lambda d: d["energy"].pop("dff_clock_fj"), "energy.dff_clock_fj"),
    (lambda d: d.update(schema_version=2), "schema_version 2"),
    (lambda d: d.update(kind="gpu"), "'asic' or 'fpga'"),
    (lambda d: d["cells"].pop("FA"), "cells lacks FA"),
    (lambda d: d["cells"].update(NAND3=1.5), "unknown cell type"),
    (lambda d: d["cells"].update(FA=-1), "cells.FA"),
    (lambda d: d["cells"].update(FA=True), "cells.FA"),
    (lambda d: d.update(clock_mhz="fast"), "clock_mhz"),
    (lambda d: d.update(units={}), "units"),
])
def test_malformed_asic_target(tmp_path, mutate, message):
    d = _asic_dict()
    mutate(d)
    with pytest.raises(ConfigError, match=message):
        load_target(_write(tmp_path, d))


def test_malformed_fpga_and_files(tmp_path):
    d = json.loads((T.PACKAGE_TARGETS / "fpga-lut6.json").read_text())
    d["lut"]["dual_output_max_inputs"] = 7
    with pytest.raises(ConfigError, match="dual_output_max_inputs"):
        load_target(_write(tmp_path, d))
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_target(_write(tmp_path, "{nope"))
    with pytest.raises(ConfigError, match="must be a JSON object"):
        load_target(_write(tmp_path, "[1, 2]"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_target(str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="unknown target 'tsmc3'.*asic-generic"):
        load_target("tsmc3")
