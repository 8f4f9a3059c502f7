"""Fixed-point heads next to the SC recurrent core (#18, hybrid stochastic-binary): a dense head
whose weights are float (what the ICLR 2019 authors' code leaves) or int:K is compiled to K-bit
integer weights Wq times the integer h the SC core produces (exact codes of sign(h), or the
per-input stream counts 2 c - L), accumulated exactly.  Oracles: both runtimes bit for bit; the
head's accumulators equal a numpy integer product with independently quantized weights; the
design reference's head differs from the float head by at most the K-bit rounding bound; the
cost model counts the multipliers and adder trees it emits, once per sequence after a LastStep."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.models import FAST, assert_bit_exact, lstm_model
from sccompiler.config import LayerConfig
from sccompiler.cost.netlist_cost import cost_report, netlist_inventory, sequence_layers
from sccompiler.design import compile_model
from sccompiler.errors import ConfigError, UnsupportedOpError
from sccompiler.ir.model import LSTM, LastStep, Tensor
from sccompiler.quantize import uniform_int
from sccompiler.reference import forward
from sccompiler.runtime import golden_forward
from sccompiler.runtime.engine import Runtime
from sccompiler.runtime.packed import PackedRuntime
from sccompiler.sim.rules import bipolar_count, bipolar_count_width

B, T, I, H, O = 3, 5, 3, 6, 4


def _model(head: str, last: bool, seed: int = 5):
    """A binary LSTM core with a float head (normal weights) or an int:4 head."""
    base = lstm_model(I=I, H=H, dense=O, seed=seed)
    rng = np.random.default_rng(seed + 100)
    fc = base.layers[-1]
    w = rng.normal(0, 0.3, (O, H))
    if head == "int4":
        q, spec = uniform_int(w, 4)
        weight = Tensor(q, spec)
    else:
        weight = Tensor(w)
    fc = dataclasses.replace(fc, weight=weight)
    return base.with_layers(base.layers[:-1] + ((LastStep("last"),) if last else ()) + (fc,))


def _oracle_codes(model, head: str) -> tuple[np.ndarray, float]:
    """Wq and s computed here, from the formula (not the compiler's function)."""
    w = model.layers[-1].weight
    if head == "int4":
        s = w.quant.scale
        return np.rint(w.data / s).astype(np.int64), s
    s = np.abs(w.data).max() / 127.0
    x = w.data / s
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64), s


def _inputs(mode: str, seed: int = 1):
    rng = np.random.default_rng(seed)
    if mode == "exact":
        return rng.choice([-1.0, 0.0, 1.0], size=(B, T, I)), {"length": 32, "defaults": {"hidden": "sign"}, **FAST}
    return rng.uniform(-1, 1, (B, T, I)), {"length": 32, **FAST}


@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("mode", ["exact", "stream"])
@pytest.mark.parametrize("head", ["float", "int4"])
def test_fixed_head_compiles_simulates_and_matches_the_integer_oracle(head, mode, last):
    model = _model(head, last)
    x, cfg = _inputs(mode)
    design = compile_model(model, cfg, calibration=x)
    plan = design.netlist.layers[-1]
    assert plan.options.mode == "fixed" and plan.options.weight_bits == (4 if head == "int4" else 8)
    assert plan.length == (0 if mode == "exact" else 32)
    y, runs = assert_bit_exact(design.netlist, x)
    steps = 1 if last else T
    assert y.shape == (B, steps, O)
    np.testing.assert_array_equal(design.simulate(x), y)
    wq, s = _oracle_codes(model, head)
    assert np.abs(wq).max() == (7 if head == "int4" else 127)
    tr = runs["head"].trace
    fc = model.layers[-1]
    if mode == "exact":
        h = runs["lstm0"].out[:, -steps:]                       # sign(h) in {-1, +1}: the codes
        assert set(np.unique(h)) <= {-1.0, 1.0}
        acc = h.astype(np.int64) @ wq.T
        gain = s
        y_oracle = gain * acc + fc.bias.data
    else:
        L = 32
        c = tr["head.x_cnt"]
        assert c.shape == (B, steps, H) and np.all((c >= 0) & (c <= L)) and np.all(c == np.rint(c))
        # the counts are the ones of the head's input streams
        np.testing.assert_array_equal(c, np.rint((tr["head.x_s"] + 1) / 2 * L))
        acc = (2 * c.astype(np.int64) - L) @ wq.T
        R = design.netlist.node("head.x_s").params["scale"]
        y_oracle = s * R * (acc / L) + fc.bias.data
    np.testing.assert_array_equal(tr["head.acc"], acc)          # integer: exact
    np.testing.assert_allclose(y, y_oracle, rtol=1e-12, atol=1e-12)
    # the design's trace compares the head with the design reference (its s Wq weights)
    gold, _ = golden_forward(model, {p.name: p.options for p in design.netlist.layers}, x)
    np.testing.assert_array_equal(design.trace(x)["head"]["golden"]["out"], gold)


def test_bipolar_count_rule():
    assert bipolar_count(np.array([0, 3, 8]), 8).tolist() == [-8, -2, 8]
    assert bipolar_count(np.array([0, 3, 8]), 8).dtype == np.int64
    assert [bipolar_count_width(L) for L in (1, 15, 16, 32, 255, 256)] == [2, 5, 6, 7, 9, 10]


@pytest.mark.parametrize("head", ["float", "int4"])
@pytest.mark.parametrize("last", [False, True])
def test_design_reference_holds_the_head_quantization_within_its_bound(head, last):
    """golden (Wq) vs golden with the float head on the same h: |gap| <= s/2 sum_j |h_j| per
    output (the K-bit rounding bound); zero for an int:4 head (its grid is kept)."""
    model = _model(head, last)
    x, cfg = _inputs("stream", 2)
    design = compile_model(model, cfg, calibration=x)
    opts = {p.name: p.options for p in design.netlist.layers}
    gold, trace = golden_forward(model, opts, x)
    float_head, _ = golden_forward(model, {k: v for k, v in opts.items() if k != "head"}, x)
    h = trace["last" if last else "lstm0"]["out" if last else "h"]
    _, s = _oracle_codes(model, head)
    gap = np.abs(gold - float_head)
    bound = s / 2 * np.abs(h).sum(-1, keepdims=True) + 1e-12
    assert np.all(gap <= bound)
    if head == "int4":
        np.testing.assert_allclose(gold, forward(model, x), rtol=0, atol=1e-12)
    else:
        assert gap.max() > 0                                  # the quantization is in the reference


def test_head_weight_bits_option():
    with pytest.raises(ConfigError, match="head_weight_bits"):
        LayerConfig(head_weight_bits=1)
    model = _model("float", False)
    x, cfg = _inputs("exact")
    design = compile_model(model, cfg | {"layers": {"head": {"head_weight_bits": 3}}}, calibration=x)
    wq = design.netlist.node("head.acc").arrays["wq"]
    assert design.netlist.layers[-1].options.weight_bits == 3 and np.abs(wq).max() == 3
    assert_bit_exact(design.netlist, x)
    # an int:4 head keeps its own K whatever the option says
    design = compile_model(_model("int4", False), cfg | {"layers": {"head": {"head_weight_bits": 12}}},
                           calibration=x)
    assert design.netlist.layers[-1].options.weight_bits == 4


def test_float_recurrent_weights_are_still_refused():
    model = _model("float", False)
    lstm = model.layers[0]
    bad = dataclasses.replace(lstm, w_hh=Tensor(np.random.default_rng(0).normal(0, 0.3, lstm.w_hh.shape)))
    assert isinstance(bad, LSTM)
    x, cfg = _inputs("exact")
    with pytest.raises(UnsupportedOpError, match="binary or ternary"):
        compile_model(model.with_layers((bad,) + model.layers[1:]), cfg, calibration=x)


@pytest.mark.parametrize("mode", ["exact", "stream"])
def test_cost_counts_the_multipliers_and_adder_trees(mode):
    model = _model("float", True)
    x, cfg = _inputs(mode)
    design = compile_model(model, cfg, calibration=x)
    inv = netlist_inventory(design.netlist)
    wq, _ = _oracle_codes(model, "float")
    nnz = np.count_nonzero(wq, axis=1)
    w = 2 if mode == "exact" else 7                          # codes, or 2 c - L with L = 32
    got = {(p.kind, tuple(v for k, v in p.params if k in ("width", "width_b", "terms"))): n for p, n in inv["head"]}
    assert got[("array_multiplier", (8, w))] == int(nnz.sum())
    assert sum(n for (k, _), n in got.items() if k == "adder_tree") == O
    if mode == "stream":
        assert got[("ripple_adder", (w,))] == H and got[("counter", (6,))] == H
    core = sum(n.arrays["weights"].size * (2 if np.any(n.arrays["weights"] == 0) else 1)
               for n in design.netlist.nodes if "weights" in n.arrays)
    assert dict(inv["weights"].entries[0][0].params)["bits"] == core + wq.size * 8
    # after the LastStep the head is charged once per sequence, like a binary head
    assert sequence_layers(design.netlist) == ("head",)
    rep = cost_report(design.netlist, model, design.config, steps=T)
    assert rep["timing"]["step_period"] == 32


def test_cli_quantizes_the_core_and_compiles_the_float_head(tmp_path):
    """The ICLR 2019 flow: a float model, only the recurrent layer binarized (`--layers`), the float
    head compiled as a fixed-point head; a bad head_weight_bits is one `error:` line."""
    from click.testing import CliRunner

    from sccompiler.cli import cli
    from sccompiler.frontends.native import save_model

    base = _model("float", True)
    rng = np.random.default_rng(3)
    lstm = base.layers[0]
    floats = dataclasses.replace(lstm, w_ih=Tensor(rng.normal(0, 0.4, lstm.w_ih.shape)),
                                 w_hh=Tensor(rng.normal(0, 0.3, lstm.w_hh.shape)))
    save_model(base.with_layers((floats,) + base.layers[1:]), tmp_path / "float")
    np.save(tmp_path / "x.npy", rng.uniform(-1, 1, (2, 4, I)))

    def run(*args):
        return CliRunner().invoke(cli, list(map(str, args)))

    res = run("quantize", tmp_path / "float", "--scheme", "binary", "--layers", "lstm0", "-o", tmp_path / "q")
    assert res.exit_code == 0, res.output
    res = run("compile", tmp_path / "q", "--set", "length=16", "--set", "head.head_weight_bits=1",
              "-o", tmp_path / "bad")
    assert res.exit_code != 0 and res.output.count("error:") == 1 and "head_weight_bits" in res.output
    res = run("compile", tmp_path / "q", "--set", "length=16", "--set", "head.head_weight_bits=6",
              "--calibration", tmp_path / "x.npy", "-o", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "head (dense, L=16, fixed)" in res.output


@pytest.mark.parametrize("runtime", [Runtime, PackedRuntime])
def test_counted_head_follows_an_overridden_length(runtime):
    """A run at another L (the accuracy curve's L/4 .. 2L) counts over that L: acc = (2 c - L') Wq
    and y = s R (acc / L') + b, in both runtimes."""
    model = _model("float", False)
    x, cfg = _inputs("stream", 4)
    design = compile_model(model, cfg, calibration=x)
    L2 = 80
    y, runs = runtime(design.netlist).run(x, length=L2, trace=True)
    tr = runs["head"].trace
    c = tr["head.x_cnt"]
    assert c.max() <= L2 and c.max() > 32                      # counted over the longer step
    wq, s = _oracle_codes(model, "float")
    acc = (2 * c.astype(np.int64) - L2) @ wq.T
    np.testing.assert_array_equal(tr["head.acc"], acc)
    R = design.netlist.node("head.x_s").params["scale"]
    np.testing.assert_allclose(y, s * R * (acc / L2) + model.layers[-1].bias.data, rtol=1e-12, atol=1e-12)


def test_error_budget_with_every_element_exact_is_the_design_reference():
    """The mixed-value runtime (expected counts, float) through the fixed head: with every
    stochastic element exact the output is the design reference, K-bit head weights included."""
    model = _model("float", False)
    x, cfg = _inputs("stream", 5)
    design = compile_model(model, cfg, calibration=x)
    res = design.error_budget(x, lengths=[32]).to_dict()["lengths"][0]
    assert res["mse_exact"]["golden"] < 1e-20
    assert res["mse_exact"]["quantized"] > 1e-12                 # the head's quantization is not SC noise


def test_head_macs_option_schedule_and_cost():
    """head_macs: bad values are one ConfigError; auto = the smallest P with 1 + ceil(O I / P) <= the
    step period (checked against a brute-force search here); the sequential head's values equal the
    parallel one's bit for bit; its inventory has one multiplier per unit and one accumulator per
    (unit, row) partial of the schedule."""
    from sccompiler.sim.rules import auto_macs, mac_cycles, mac_schedule
    for bad in (0, -1, True, "two", 1.5):
        with pytest.raises(ConfigError, match="head_macs"):
            LayerConfig(head_macs=bad)
    model = _model("float", False)
    x, cfg = _inputs("exact")
    with pytest.raises(ConfigError, match="head_macs: 25 exceeds"):
        compile_model(model, cfg | {"layers": {"head": {"head_macs": 25}}}, calibration=x)
    for n, period in ((24, 32), (24, 8), (640, 64), (7, 2), (5, 1)):
        brute = next((p for p in range(1, n + 1) if 1 + -(-n // p) <= period), n)
        assert auto_macs(n, period) == brute
    full = compile_model(model, cfg, calibration=x)
    y_full = full.simulate(x)
    for macs, P in (("auto", 1), (1, 1), (5, 5), (24, 24)):
        d = compile_model(model, cfg | {"layers": {"head": {"head_macs": macs}}}, calibration=x)
        assert d.netlist.layers[-1].options.macs == P == d.netlist.node("head.acc").params["macs"]
        np.testing.assert_array_equal(d.simulate(x), y_full)
        inv = dict((p.kind, 0) for p, _ in netlist_inventory(d.netlist)["head"])
        for p, k in netlist_inventory(d.netlist)["head"]:
            inv[p.kind] += k
        sched = mac_schedule(O, H, P)
        assert len(sched[0]) == mac_cycles(O * H, P) and sum(map(len, sched)) == O * H
        assert sorted(m for blk in sched for m in blk) == [(r, j) for r in range(O) for j in range(H)]
        assert inv["array_multiplier"] == len(sched)
        assert inv["accumulator"] == sum(len({r for r, _ in blk}) for blk in sched)
        assert inv["register"] == H                       # the captured operands
