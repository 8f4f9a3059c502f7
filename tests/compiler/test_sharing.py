"""Shared random sources (sccompiler.sharing): conflicting comparators never read the same bits,
the conflict relation covers every dependence a black-box perturbation finds, shared streams
multiply as independent ones (binomial tolerance, with a negative control), pruning, the fan-out
cap, and clear errors for bad options."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sccompiler.design import compile_model
from sccompiler.errors import ConfigError
from sccompiler.ir.model import LSTM, InputSpec, Model, Tensor
from sccompiler.runtime.engine import Runtime
from sccompiler.runtime.randoms import LayerRandoms
from sccompiler.sharing import conflict_graph, layer_streams, register_width
from sccompiler.sharing.allocation import full_period_width
from sccompiler.sim.rules import comparator_random

from .models import FAST, gru_model, lstm_model, ternary


def _wiring(design):
    """{(node, element): (register, frozenset of taps)} of every live comparator."""
    out = {}
    for n in design.netlist:
        if n.op in ("sng", "wfsm"):
            src = np.asarray(n.arrays["src"]).reshape(-1)
            taps = np.asarray(n.arrays["taps"]).reshape(n.size, -1)
            for i in range(n.size):
                if src[i] >= 0:
                    out[(n.name, i)] = (int(src[i]), tuple(int(t) for t in taps[i]))
    return out


def _assert_conflicts_disjoint(design):
    wiring = _wiring(design)
    checked = 0
    for plan in design.netlist.layers:
        s = layer_streams(design.netlist, plan.name)
        g = conflict_graph(s)
        for a, b in g.edges:
            ka = (s.comparators[a].node, s.comparators[a].index)
            kb = (s.comparators[b].node, s.comparators[b].index)
            if ka in wiring and kb in wiring and wiring[ka][0] == wiring[kb][0]:
                assert not set(wiring[ka][1]) & set(wiring[kb][1]), (plan.name, ka, kb)
                checked += 1
    return checked


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(["lstm", "gru"]), hidden=st.integers(2, 6), inputs=st.integers(1, 4),
       gate_input=st.sampled_from(["integral_wfsm", "table"]), fanout=st.sampled_from([None, 3, 17]),
       seed=st.integers(0, 50), per_gate=st.booleans())
def test_conflicting_comparators_never_read_the_same_bits(cell, hidden, inputs, gate_input, fanout, seed, per_gate):
    if cell == "lstm":
        model = lstm_model(I=inputs, H=hidden, seed=seed, weights=ternary, dense=2)
    else:
        model = gru_model(I=inputs, H=hidden, layers=1, seed=seed)
    defaults = {"gate_input": gate_input, "hidden": "sign" if gate_input == "table" else "stream"}
    if per_gate and cell == "lstm" and gate_input != "table":
        defaults["gate_sngs"] = "per_gate"
    x = np.random.default_rng(seed).uniform(-1, 1, (3, 3, inputs))
    if gate_input == "table":
        x = np.sign(x)
    d = compile_model(model, {"length": 32, "source_fanout": fanout, "defaults": defaults, **FAST}, calibration=x)
    _assert_conflicts_disjoint(d)
    regs = d.netlist.sources["registers"]
    for k, reg in enumerate(regs):
        assert full_period_width(reg["width"])
        readers = [key for key, (r, _) in _wiring(d).items() if r == k]
        assert readers, f"register {k} feeds nothing"
        if fanout is not None:
            assert len(readers) <= fanout
        assert max(max(t) for key, (r, t) in _wiring(d).items() if r == k) < reg["width"]


def test_demo_sharing_checks_every_conflict_in_a_register():
    d = compile_model(lstm_model(I=3, H=8, weights=ternary, dense=2), {"length": 64, **FAST},
                      calibration=np.random.default_rng(0).uniform(-1, 1, (4, 4, 3)))
    assert _assert_conflicts_disjoint(d) > 200          # conflicting pairs that share a register (270)
    assert len(d.netlist.sources["registers"]) < sum(1 for _ in _wiring(d)) / 5


def _affected(design, x, L, perturb=None):
    """Per (node, element) of every bit stream in the first step: its bits (perturb: the node
    and element whose comparator reads a fresh private register instead)."""
    netlist = design.netlist
    if perturb is not None:
        name, idx = perturb
        n = netlist.node(name)
        src = np.asarray(n.arrays["src"]).copy().reshape(-1)
        taps = np.asarray(n.arrays["taps"]).copy().reshape(n.size, -1)
        regs = list(netlist.sources["registers"]) + [{"layer": n.layer, "width": 31, "seed": 0x1234567}]
        src[idx] = len(regs) - 1
        taps[idx] = np.arange(taps.shape[1])
        n = n.replace(arrays={**n.arrays, "src": src.reshape(n.shape), "taps": taps.reshape(n.arrays["taps"].shape)})
        netlist = netlist.with_nodes([n if m.name == name else m for m in netlist]).replace(
            sources={**netlist.sources, "registers": regs})
    seen = {}

    def collect(layer, node, bits, t):
        if t == 0:
            seen[node.name] = bits.reshape(bits.shape[0], -1, bits.shape[-1])
    Runtime(netlist).run(x[:, :1], length=L, collect=collect)
    return seen


def test_conflict_relation_covers_every_measured_dependence():
    """Black-box oracle: re-wire one comparator to a fresh register and see which stream elements
    of the first step change; two comparators that change a common element must conflict."""
    model = lstm_model(I=2, H=3, weights=ternary, seed=4)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 2, 2))
    d = compile_model(model, {"length": 32, **FAST}, calibration=x)
    s = layer_streams(d.netlist, "lstm0")
    edges = {frozenset(e) for e in conflict_graph(s).edges}
    base = _affected(d, x, 32)
    touched = []
    for k, c in enumerate(s.comparators):
        if not s.live[k]:
            touched.append(set())
            continue
        out = _affected(d, x, 32, (c.node, c.index))
        touched.append({(name, e) for name, bits in out.items() for e in range(bits.shape[1])
                        if not np.array_equal(bits[:, e], base[name][:, e]) and name != c.node})
    found = 0
    for a in range(len(touched)):
        for b in range(a + 1, len(touched)):
            if touched[a] & touched[b]:
                found += 1
                assert frozenset((a, b)) in edges, (s.comparators[a], s.comparators[b])
    assert found > 100                                   # the oracle sees the design's meetings


def test_shared_streams_multiply_as_independent_ones():
    """XNOR of the streams of two conflicting comparators that share a register estimates the
    product of their bipolar values with the binomial spread of independent streams: z-scores
    over every such pair (x2 thresholds) have mean square ~1 (chi-square band) and max |z| < 4.5.  Negative control:
    the same pairs reading identical bits are far outside it."""
    d = compile_model(lstm_model(I=3, H=8, weights=ternary, dense=2), {"length": 64, **FAST},
                      calibration=np.random.default_rng(0).uniform(-1, 1, (4, 4, 3)))
    s = layer_streams(d.netlist, "lstm0")
    wiring = _wiring(d)
    cycles = 4096
    rand = LayerRandoms(d.netlist, "lstm0").step(cycles)
    rng = np.random.default_rng(7)
    pairs = [(a, b) for a, b in conflict_graph(s).edges
             if wiring.get((s.comparators[a].node, s.comparators[a].index), (None,))[0]
             == wiring.get((s.comparators[b].node, s.comparators[b].index), (-1,))[0]]
    assert len(pairs) > 200
    pairs = pairs * 2                                    # two threshold draws per pair

    def z_scores(same_bits: bool):
        zs = []
        for a, b in pairs:
            ca, cb = s.comparators[a], s.comparators[b]
            ra = rand[ca.node][:, ca.index]
            rb = ra if same_bits else rand[cb.node][:, cb.index]
            n = 1 << min(ca.bits, cb.bits)
            xa, xb = rng.integers(1, n, size=2)
            ya, yb = (ra % n) < xa, (rb % n) < xb
            va, vb = 2 * xa / n - 1, 2 * xb / n - 1
            p = (1 + va * vb) / 2
            est = np.mean(ya == yb)
            zs.append((est - p) / np.sqrt(p * (1 - p) / cycles))
        return np.array(zs)

    z = z_scores(False)
    assert 0.75 < np.mean(z ** 2) < 1.3, np.mean(z ** 2)     # ~540 samples: sd of mean z^2 ~ 0.06
    assert np.abs(z).max() < 4.5
    assert np.mean(z_scores(True) ** 2) > 20                  # identical bits: the test can fail


def test_private_mode_has_one_register_per_live_comparator_and_same_outputs_per_seed():
    model = lstm_model(I=3, H=4, weights=ternary, dense=2)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 3))
    p = compile_model(model, {"length": 32, "sources": "private", **FAST}, calibration=x)
    assert len(p.netlist.sources["registers"]) == len(_wiring(p))
    assert all(t == tuple(range(len(t))) for _, t in _wiring(p).values())
    np.testing.assert_array_equal(p.simulate(x), compile_model(model, {"length": 32, "sources": "private", **FAST},
                                                               calibration=x).simulate(x))


def test_pruned_comparators_feed_only_zero_weights():
    """An input column of zeros: its x SNG element reads no register, streams 0, costs nothing."""
    rng = np.random.default_rng(3)
    H, I = 4, 3
    w_ih = ternary((4 * H, I), rng, 0.4).data.copy()
    w_ih[:, 1] = 0.0
    model = Model((LSTM("lstm0", input_size=I, hidden_size=H, w_ih=Tensor(w_ih), w_hh=ternary((4 * H, H), rng, 0.3),
                        b_ih=Tensor(rng.normal(0, 0.3, 4 * H))),), InputSpec("features", I), "pruned")
    x = rng.uniform(-1, 1, (2, 3, I))
    d = compile_model(model, {"length": 32, "disable": ["correlation_report", "accuracy_report"]}, calibration=x)
    src = np.asarray(d.netlist.node("lstm0.x_s").arrays["src"])
    assert src[1] < 0 and (src[[0, 2]] >= 0).all()
    assert d.info["sources"]["pruned"] >= 1
    prims = d.info["cost"]["designs"][d.info["cost"]["sc"]]["primitives"]
    sng = {k: v for k, v in prims.items() if k.startswith("sng(")}
    live = sum(int(np.count_nonzero(np.asarray(n.arrays["src"]) >= 0)) for n in d.netlist if n.op == "sng")
    assert sum(sng.values()) == live
    seen = {}
    Runtime(d.netlist).run(x, collect=lambda layer, n, bits, t: seen.setdefault(n.name, bits))
    assert not seen["lstm0.x_s"][:, 1].any()


def test_register_widths_keep_the_full_period():
    assert [w for w in range(16, 33) if full_period_width(w)] == [16, 17, 19, 22, 23, 25, 26, 27, 28, 29, 31, 32]
    assert register_width(8) == 16 and register_width(20) == 22 and register_width(32) == 32
    assert comparator_random(0b1011_0110, [1, 2, 4]) == 0b111 and comparator_random(0b1011_0110, [0, 3]) == 0b00


@pytest.mark.parametrize("override,match", [
    ({"sources": "bogus"}, "sources: must be one of private, shared"),
    ({"source_fanout": 0}, "source_fanout: must be in"),
    ({"source_fanout": "4"}, "source_fanout: must be an integer"),
    ({"lfsr_width": 16, "defaults": {"sng_bits": 20}}, "too narrow for the 20-bit comparators"),
    ({"sources": "private", "source_fanout": 4}, "applies to sources: shared"),
])
def test_bad_source_options_are_clear_errors(override, match):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 2, 3))
    with pytest.raises(ConfigError, match=match):
        compile_model(lstm_model(I=3, H=2), {"length": 32, **FAST, **override}, calibration=x)


def test_shared_is_the_default_and_recorded():
    from sccompiler.config import CompileConfig

    assert CompileConfig().sources == "shared"
    assert dataclasses.replace(CompileConfig(), sources="private").sources == "private"


def test_cli_sources_flag(tmp_path):
    from click.testing import CliRunner

    from sccompiler.cli import cli
    from sccompiler.design import CompiledDesign
    from sccompiler.frontends.native import save_model

    save_model(lstm_model(I=2, H=3), tmp_path / "m")
    for mode in ("private", "shared"):
        res = CliRunner().invoke(cli, ["compile", str(tmp_path / "m"), "--length", "32", "--sources", mode,
                                       "--disable", "accuracy_report", "-o", str(tmp_path / mode)])
        assert res.exit_code == 0, res.output
        assert f"{mode} LFSR registers" in res.output
        assert CompiledDesign.load(tmp_path / mode).netlist.sources["mode"] == mode
    res = CliRunner().invoke(cli, ["compile", str(tmp_path / "m"), "--sources", "both", "-o", str(tmp_path / "x")])
    assert res.exit_code != 0 and "Traceback" not in res.output
