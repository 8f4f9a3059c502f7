"""Sobol source registers in compiled designs (``source: sobol | auto``, docs/semantics.md §2.5):
conflicting comparators read distinct dimensions, the auto rule keeps every stream that reaches
an FSM on LFSRs (black-box perturbation oracle, with a negative control), the correlation report
finds no correlated conflicting pairs where the window allows it (negative control: one shared
dimension), the fan-out cap, the cost inventory, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.cost.netlist_cost import source_inventory
from sccompiler.design import compile_model
from sccompiler.errors import ConfigError
from sccompiler.runtime.engine import Runtime
from sccompiler.sharing import conflict_graph, layer_streams
from sccompiler.sharing.measure import source_correlation

from .models import FAST, gru_model, lstm_model, ternary

X = np.random.default_rng(0).uniform(-1, 1, (3, 3, 3))


def _compile(model, source, length=64, **cfg):
    return compile_model(model, {"length": length, "source": source, **FAST, **cfg}, calibration=X)


def _reads(design):
    """{(node, element): register index} of every live comparator."""
    out = {}
    for n in design.netlist:
        if n.op in ("sng", "wfsm"):
            src = np.asarray(n.arrays["src"]).reshape(-1)
            out.update({(n.name, i): int(src[i]) for i in range(n.size) if src[i] >= 0})
    return out


@pytest.mark.parametrize("source", ["sobol", "auto"])
@pytest.mark.parametrize("model", [lstm_model(I=3, H=4, weights=ternary, dense=2), gru_model(I=3, H=3, layers=2)],
                         ids=["lstm", "gru"])
@pytest.mark.parametrize("sources", ["shared", "private"])
def test_conflicting_sobol_comparators_read_distinct_dimensions(source, model, sources):
    d = _compile(model, source, sources=sources)
    regs = d.netlist.sources["registers"]
    reads = _reads(d)
    pairs = 0
    for plan in d.netlist.layers:
        s = layer_streams(d.netlist, plan.name)
        for a, b in conflict_graph(s).edges:
            ka, kb = (s.comparators[a].node, s.comparators[a].index), (s.comparators[b].node, s.comparators[b].index)
            if ka in reads and kb in reads:
                ra, rb = regs[reads[ka]], regs[reads[kb]]
                if ra.get("kind") == rb.get("kind") == "sobol":
                    assert ra["dim"] != rb["dim"], (ka, kb)
                    pairs += 1
    assert pairs > 0
    for r in regs:
        if r.get("kind") == "sobol":
            assert 0 <= r["seed"] < 1 << r["width"]
    np.testing.assert_array_equal(d.simulate(X), _compile(model, source, sources=sources).simulate(X))


def _wfsm_changes(design, perturb):
    """Elements of WFSM nodes whose first-step output bits change when comparator ``perturb`` reads a
    fresh LFSR instead of its register (its own element excluded)."""
    netlist = design.netlist

    def run(nl):
        seen = {}
        Runtime(nl).run(X[:1, :1], collect=lambda layer, n, bits, t: seen.setdefault(n.name, bits.copy()))
        return seen

    base = run(netlist)
    name, idx = perturb
    n = netlist.node(name)
    src = np.asarray(n.arrays["src"]).copy().reshape(-1)
    taps = np.asarray(n.arrays["taps"]).copy().reshape(n.size, -1)
    regs = list(netlist.sources["registers"]) + [{"layer": n.layer, "width": 31, "seed": 0x1234567}]
    src[idx] = len(regs) - 1
    taps[idx] = np.arange(taps.shape[1])
    n = n.replace(arrays={**n.arrays, "src": src.reshape(n.shape), "taps": taps.reshape(n.arrays["taps"].shape)})
    nl = netlist.with_nodes([n if m.name == name else m for m in netlist]).replace(
        sources={**netlist.sources, "registers": regs})
    got = run(nl)
    out = set()
    for m in netlist:
        if m.op == "wfsm" and m.name in base:
            a, b = base[m.name].reshape(-1, base[m.name].shape[-1]), got[m.name].reshape(-1, got[m.name].shape[-1])
            out |= {(m.name, e) for e in range(a.shape[0]) if not np.array_equal(a[e], b[e])}
    return out - {perturb}


def test_auto_keeps_every_stream_into_an_fsm_on_lfsrs():
    """Black box: re-wiring an auto-Sobol comparator changes no WFSM's output (its stream reaches no
    FSM); re-wiring an LFSR comparator changes some other WFSM element (negative control: the
    oracle sees FSM inputs)."""
    d = _compile(lstm_model(I=3, H=3, weights=ternary, seed=4), "auto", length=32)
    regs = d.netlist.sources["registers"]
    reads = _reads(d)
    sobol = [k for k, r in reads.items() if regs[r].get("kind") == "sobol"]
    lfsr = [k for k, r in reads.items() if regs[r].get("kind", "lfsr") == "lfsr"]
    assert sobol and lfsr
    for k in sobol:
        assert not _wfsm_changes(d, k), k
    seen = sum(1 for k in lfsr[::3] if _wfsm_changes(d, k))
    assert seen >= 0.8 * len(lfsr[::3])


def test_correlation_report_conflicting_sobol_pairs_uncorrelated():
    """At L = 64 (32 distinct first rows) the chosen dimensions make every sampled conflicting pair's
    top bits exactly uncorrelated; negative control: every comparator on one dimension."""
    d = _compile(lstm_model(I=3, H=4, weights=ternary, dense=2), "sobol")
    rep = source_correlation(d.netlist, cycles=1024)
    assert rep["pairs"] > 100 and rep["max_abs_scc"] == 0.0
    same = d.netlist.replace(sources={**d.netlist.sources, "registers": [
        {**r, "dim": 0, "seed": 0} if r.get("kind") == "sobol" else r for r in d.netlist.sources["registers"]]})
    assert source_correlation(same, cycles=1024)["max_abs_scc"] == 1.0


def test_fanout_cap_copies_a_dimension():
    d = _compile(lstm_model(I=3, H=4, weights=ternary), "sobol", source_fanout=3)
    reads = _reads(d)
    regs = d.netlist.sources["registers"]
    for k in range(len(regs)):
        assert 1 <= sum(1 for r in reads.values() if r == k) <= 3
    free = _compile(lstm_model(I=3, H=4, weights=ternary), "sobol")
    np.testing.assert_array_equal(d.simulate(X), free.simulate(X))     # copies read the same numbers


def test_cost_counts_every_sobol_register_bit_and_one_select_per_layer():
    d = _compile(lstm_model(I=3, H=4, weights=ternary), "auto")
    regs = d.netlist.sources["registers"]
    inv = source_inventory(d.netlist, "lstm0")
    res = {}
    for prim, n in inv:
        for k, v in prim.resources().items:
            res[k] = res.get(k, 0) + v * n
    assert res["cell:DFF_R"] == sum(r["width"] for r in regs)
    assert res["rng"] == len(regs)
    kinds = {p.kind: n for p, n in inv}
    assert kinds["sobol_select"] == 1 and kinds["sobol"] == sum(1 for r in regs if r.get("kind") == "sobol")


def test_lfsr_default_unchanged_and_bad_kind_is_a_clear_error():
    d = _compile(lstm_model(I=3, H=4), "lfsr")
    assert all("kind" not in r for r in d.netlist.sources["registers"])
    assert d.netlist.sources["kind"] == "lfsr"
    with pytest.raises(ConfigError, match="source: must be one of lfsr, sobol, auto"):
        _compile(lstm_model(I=3, H=4), "halton")


def test_saved_sobol_design_loads_and_simulates_the_same(tmp_path):
    from sccompiler.design import load_design

    d = _compile(lstm_model(I=3, H=4, weights=ternary), "auto")
    d.save(tmp_path / "d")
    back = load_design(tmp_path / "d")
    assert back.netlist.sources["registers"] == d.netlist.sources["registers"]
    np.testing.assert_array_equal(back.simulate(X), d.simulate(X))
