"""LSTM bn_c (folded into the tanh(c) WFSM target; per-step statistics as a bank of weight tables
indexed by the time step, or one table with ``bn_steps: last|mean``), per-step bn_x/bn_h with
integral gates, GRU linear_before_reset=0 (r*h by XNOR before W_hn), and a model produced by
``sccompiler.train`` compiled and simulated end to end."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.design import compile_model
from sccompiler.errors import ConfigError, UnsupportedOpError
from sccompiler.ir.model import BatchNormParams
from sccompiler.ir.sc import LayerOptions
from sccompiler.reference import forward
from sccompiler.runtime.golden import golden_forward

from .models import FAST, SIGN_OUT, gru_model, lstm_model
from .test_datapath import LENGTHS, _ratio_ok


def _bn(rng, shape, spread=1.0):
    """Batch norm whose per-step rows differ strongly (gamma 0.5..2, means +-0.5*spread)."""
    return BatchNormParams(gamma=rng.uniform(0.5, 2.0, shape), beta=rng.normal(0, 0.3 * spread, shape),
                           mean=rng.normal(0, 0.5 * spread, shape), var=rng.uniform(0.5, 2.0, shape))


def _lstm_bn_c(I=3, steps=3, seed=4, **kw):
    rng = np.random.default_rng(seed)
    m = lstm_model(I=I, **kw)
    lay = m.layers[0]
    shape = (steps, lay.hidden_size) if steps else (lay.hidden_size,)
    return m.replace_layer(lay.name, lay.replace(bn_c=_bn(rng, shape)))


def _gru_reset_first(bn_steps=0, seed=5, layers=2):
    m = gru_model(layers=layers)
    rng = np.random.default_rng(seed)
    lays = []
    for lay in m.layers:
        lay = lay.replace(linear_before_reset=False)
        if bn_steps:
            b = _bn(rng, (bn_steps, 3 * lay.hidden_size))
            lays.append(lay.replace(bn_x=b, bn_h=b))
        else:
            lays.append(lay)
    return m.with_layers(lays)


# ------------------------------------------------------------------ design reference (exact oracle)
def test_golden_equals_reference_with_bn_c_and_reset_first(real_inputs):
    """With hidden=stream and no saturation the design reference is the quantized model's
    forward: bn_c per step (steps beyond the statistics use the last row: 5 steps, 3 rows) and
    GRU linear_before_reset=0 with per-step bn_h, to float rounding."""
    m = _lstm_bn_c(steps=3)
    rng = np.random.default_rng(1)
    lay = m.layers[0]
    m = m.replace_layer(lay.name, lay.replace(bn_x=_bn(rng, (2, 32)), bn_h=_bn(rng, (4, 32))))
    plans = {"lstm0": LayerOptions(cell_range=10**9, hidden="stream")}
    np.testing.assert_allclose(golden_forward(m, plans, real_inputs)[0], forward(m, real_inputs), rtol=0, atol=1e-12)
    g = _gru_reset_first(bn_steps=2)
    x = np.random.default_rng(2).uniform(-1, 1, (4, 5, 4))
    np.testing.assert_allclose(golden_forward(g, {}, x)[0], forward(g, x), rtol=0, atol=1e-12)
    # and linear_before_reset really changes the function (the test can fail)
    lbr = g.with_layers([la.replace(linear_before_reset=True) for la in g.layers])
    assert np.abs(forward(lbr, x) - forward(g, x)).max() > 1e-3


# ----------------------------------------------------------------------------------------- bn_c
@pytest.fixture(scope="module")
def bn_c_sign(binary_inputs):
    return compile_model(_lstm_bn_c(I=4, steps=3), {"length": 256, "defaults": SIGN_OUT,
                                                    "disable": ["correlation_report", "accuracy_report"]},
                         calibration=binary_inputs)


def test_bn_c_table_bank_structure_and_cost(bn_c_sign):
    fsm = bn_c_sign.netlist.node("lstm0.tanh_c")
    T, G, N = fsm.arrays["wq"].shape
    assert (T, N) == (3, 16) and G == 8                         # 8 rows, all different BN rows
    assert fsm.arrays["target_gain"].shape == (3, 8)
    # per-step statistics -> per-step tables: table t differs from table t+1
    assert all(np.any(fsm.arrays["wq"][t] != fsm.arrays["wq"][t + 1]) for t in range(T - 1))
    assert bn_c_sign.netlist.plan("lstm0").options.bn_c_tables == 3
    assert bn_c_sign.info["batchnorm"]["lstm0"]["bn_c"] == {"rows": 3, "realized": "per-step tables"}
    # the ROM of T x G x N x b bits is in the inventory and the cost report
    from sccompiler.cost.netlist_cost import node_inventory

    inv = node_inventory(fsm, 256)
    roms = [(p, n) for p, n in inv if p.kind == "weight_memory"]
    assert len(roms) == 1 and dict(roms[0][0].params)["bits"] == 3 * 8 * 16 * 8
    assert dict(roms[0][0].params)["storage"] == "rom"
    assert bn_c_sign.info["cost"]["reference_comparison"]["netlist"]["weight_memory"] >= 2


def test_bn_c_table_bank_converges(bn_c_sign, binary_inputs):
    """Teacher-forced h (pre-sign counter value) vs the design reference with per-step bn_c:
    1/sqrt(L); T = 5 steps > 3 statistics rows exercises 'beyond the last row uses the last'."""
    traces = {L: bn_c_sign.trace(binary_inputs, length=L)["lstm0"] for L in LENGTHS}
    _ratio_ok([np.abs(2 * tr["sc"]["lstm0.h_cnt"] / L - 1 - tr["teacher_forced"]["h_pre"]).mean()
               for L, tr in traces.items()])


def test_bn_c_integral_converges(real_inputs):
    d = compile_model(_lstm_bn_c(steps=3), {"length": 256, **FAST}, calibration=real_inputs)
    assert d.netlist.plan("lstm0").options.gate_input == "integral_wfsm"
    traces = {L: d.trace(real_inputs, length=L)["lstm0"] for L in LENGTHS}
    _ratio_ok([np.abs(tr["sc"]["lstm0.h"] - tr["teacher_forced"]["h"]).mean() for tr in traces.values()])


def test_bn_c_time_invariant_single_table(real_inputs):
    d = compile_model(_lstm_bn_c(steps=0), {"length": 256, **FAST}, calibration=real_inputs)
    fsm = d.netlist.node("lstm0.tanh_c")
    assert fsm.arrays["wq"].ndim == 2 and fsm.arrays["wq"].shape[0] == 8
    assert d.error(real_inputs, length=2048) < d.error(real_inputs, length=64) / 2


@pytest.mark.parametrize("mode", ["last", "mean"])
def test_bn_steps_single_table_reports_its_accuracy(mode, real_inputs):
    """bn_steps=last/mean: one tanh(c) table, the design reference uses the same collapsed BN,
    the report shows the target change, and the simulation converges to the collapsed design
    (not to the per-step model: its distance to the quantized reference stays)."""
    m = _lstm_bn_c(steps=3)
    tables = compile_model(m, {"length": 1024, **FAST}, calibration=real_inputs)
    one = compile_model(m, {"length": 1024, "defaults": {"bn_steps": mode}, **FAST}, calibration=real_inputs)
    fsm = one.netlist.node("lstm0.tanh_c")
    assert fsm.arrays["wq"].ndim == 2
    rep = one.info["batchnorm"]["lstm0"]["bn_c"]
    assert rep["realized"] == f"single ({mode} row)" and rep["max_tanh_target_change"] > 0.05
    gold = golden_forward(m, one.plans, real_inputs)[0]
    gap = np.abs(gold - forward(m, real_inputs)).mean()        # what the single table gives up
    assert gap > 0.01
    assert one.error(real_inputs, reference="golden") < 0.5 * one.error(real_inputs)
    assert tables.error(real_inputs) < one.error(real_inputs)


@pytest.mark.parametrize("independent", [False, True])
def test_per_step_bn_x_bn_h_with_integral_gates(independent, real_inputs):
    """Per-step bn_x/bn_h with integral LSTM gates (bn_steps='tables'): per-step WFSM table bank,
    per-step bias constants and x-stream gains; bn_x == bn_h keeps one x stream per input,
    independent bn_x/bn_h (as trained) need one x stream per (row, input).  Converges as
    1/sqrt(L) to the exact per-step reference; bn_steps='mean' gives a single table."""
    rng = np.random.default_rng(3)
    m = lstm_model(H=4)
    bx = _bn(rng, (3, 16))
    bh = _bn(rng, (3, 16)) if independent else bx
    m = m.replace_layer("lstm0", m.layers[0].replace(bn_x=bx, bn_h=bh))
    d = compile_model(m, {"length": 256, **FAST}, calibration=real_inputs)
    opts = d.netlist.plan("lstm0").options
    assert opts.x_streams == ("per_row" if independent else "shared") and opts.bn_gate_tables == 3
    assert d.netlist.node("lstm0.x_s").shape == ((16, 3) if independent else (3,))
    assert d.netlist.node("lstm0.gates_s").arrays["wq"].shape[0] == 3
    assert d.netlist.node("lstm0.b_s").arrays["const"].shape[0] == 3
    from sccompiler.cost.netlist_cost import node_inventory

    roms = {name: sum(dict(pr.params)["bits"] for pr, _ in node_inventory(d.netlist.node(name), 256)
                      if pr.kind == "weight_memory") for name in ("lstm0.b_s", "lstm0.gates_s", "lstm0.x_s")}
    nb = d.netlist.node("lstm0.b_s").shape[0]
    bits = d.netlist.node("lstm0.b_s").params["bits"]
    G = d.netlist.node("lstm0.gates_s").arrays["wq"].shape[1]
    assert roms == {"lstm0.b_s": 3 * nb * 16 * bits, "lstm0.gates_s": 3 * G * 32 * 8,
                    "lstm0.x_s": 3 * (16 if independent else 1) * bits}
    traces = {L: d.trace(real_inputs, length=L)["lstm0"] for L in LENGTHS}
    _ratio_ok([np.abs(tr["sc"]["lstm0.h"] - tr["teacher_forced"]["h"]).mean() for tr in traces.values()])
    one = compile_model(m, {"length": 256, "defaults": {"bn_steps": "mean"}, **FAST}, calibration=real_inputs)
    assert one.info["batchnorm"]["lstm0"]["bn_x"]["realized"] == "single (mean row)"
    assert one.netlist.node("lstm0.gates_s").arrays["wq"].ndim == 2


@pytest.mark.parametrize("reset_first", [False, True])
def test_per_step_independent_bn_with_integral_gru(reset_first):
    """Integral GRU (both linear_before_reset) with independent per-step bn_x/bn_h: per-row x
    streams, per-step bias constants (three banks) and r/z/n table banks; the error falls with L
    towards the exact per-step reference.  Not the full 1/sqrt(L) of the other tests: bn_x/bn_h
    ratios up to ~4 here make the common unit u large, the n gate's tanh targets steep (gain up
    to 3) and its FSM sensitive to the binomial input model (measured floor ~0.085 at L=4096,
    docs/compiler.md §7); bn_steps='last' collapses to single tables."""
    x = np.random.default_rng(13).uniform(-1, 1, (6, 5, 4))
    rng = np.random.default_rng(6)
    g = gru_model(layers=1)
    lay = g.layers[0].replace(linear_before_reset=not reset_first, bn_x=_bn(rng, (3, 18)), bn_h=_bn(rng, (3, 18)))
    g = g.replace_layer("gru0", lay)
    d = compile_model(g, {"length": 256, **FAST}, calibration=x)
    opts = d.netlist.plan("gru0").options
    assert opts.x_streams == "per_row" and opts.bn_gate_tables == 3
    assert all(d.netlist.node(f"gru0.{k}_s").arrays["wq"].shape[0] == 3 for k in "rzn")
    assert d.netlist.node("gru0.b_rz").arrays["const"].shape[0] == 3
    errs = [np.abs(tr["sc"]["gru0.h"] - tr["teacher_forced"]["h"]).mean()
            for tr in (d.trace(x, length=L)["gru0"] for L in LENGTHS)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < errs[0] / 2 and errs[2] < 0.15, errs
    one = compile_model(g, {"length": 64, "defaults": {"bn_steps": "last"}, **FAST}, calibration=x)
    assert one.info["batchnorm"]["gru0"]["bn_h"]["realized"] == "single (last row)"
    assert one.netlist.node("gru0.n_s").arrays["wq"].ndim == 2


# ------------------------------------------------------------------------ GRU linear_before_reset=0
def test_gru_reset_first_converges():
    """r*h by XNOR of r's and h's streams, then XNOR+APC with W_hn: 2 layers, 1/sqrt(L).  The
    output error's fall from L = 64 to 1024 is averaged over three compile seeds (one seed's
    ratio scatters by +-15%)."""
    x = np.random.default_rng(13).uniform(-1, 1, (6, 5, 4))
    out_err = np.zeros(len(LENGTHS))
    for seed in (1, 2, 3):
        d = compile_model(_gru_reset_first(), {"length": 256, "seed": seed, **FAST}, calibration=x)
        assert d.netlist.node("gru0.rh").op == "xnor"
        assert d.netlist.node("gru0.ph").shape == (12,)             # h rows only for r, z
        assert d.netlist.node("gru0.ph_n").inputs == ("gru0.rh",)
        traces = {L: d.trace(x, length=L) for L in LENGTHS}
        for lay in ("gru0", "gru1"):
            _ratio_ok([np.abs(tr[lay]["sc"][f"{lay}.h"] - tr[lay]["teacher_forced"]["h"]).mean()
                       for tr in traces.values()])
        out_err += [np.abs(tr["output"] - tr["gru1"]["reference"]["h"]).mean() for tr in traces.values()]
    assert out_err[0] > out_err[2] * 2.5, out_err


def test_gru_reset_first_binary_inputs(binary_inputs):
    """Exact inputs + hidden=sign would pick table gates; linear_before_reset=0 needs the stream
    product r*h, so auto picks integral_wfsm and an explicit 'table' is a clear error.  Integral
    WFSM gates on deterministic +-1 operands have an approximation floor (their input is not the
    binomial the FSMs are synthesized for; measured 0.08 at L=4096 for linear_before_reset=1 too):
    the new datapath must be no worse than the existing one there."""
    def h_pre_error(model, L):
        d = compile_model(model, {"length": 256, "defaults": {"hidden": "sign", "gate_input": "integral_wfsm"},
                                  **FAST}, calibration=binary_inputs)
        tr = d.trace(binary_inputs, length=L)["gru0"]
        return np.abs(2 * tr["sc"]["gru0.h_cnt"] / L - 1 - tr["teacher_forced"]["h_pre"]).mean()

    g = _gru_reset_first()
    d = compile_model(g, {"length": 64, "defaults": SIGN_OUT, **FAST}, calibration=binary_inputs)
    assert d.netlist.plan("gru0").options.gate_input == "integral_wfsm"
    lbr = g.with_layers([la.replace(linear_before_reset=True) for la in g.layers])
    errs = [h_pre_error(g, L) for L in (64, 1024)]
    assert errs[1] < errs[0] and errs[1] <= 1.25 * h_pre_error(lbr, 1024), errs
    with pytest.raises(ConfigError, match=r"layers.gru0.gate_input.*linear_before_reset=0"):
        compile_model(g, {"defaults": {"gate_input": "table", "hidden": "sign"}, **FAST}, calibration=binary_inputs)


def test_bn_steps_config_value():
    from sccompiler.config import config_from_dict

    with pytest.raises(ConfigError, match="bn_steps"):
        config_from_dict({"defaults": {"bn_steps": "first"}})


def test_bank_design_round_trips(bn_c_sign, binary_inputs, tmp_path):
    from sccompiler.design import CompiledDesign

    a = bn_c_sign.simulate(binary_inputs[:2], length=64)
    bn_c_sign.save(tmp_path / "d")
    assert "| lstm0 | bn_c | 3 | per-step tables |" in (tmp_path / "d" / "report.md").read_text()
    back = CompiledDesign.load(tmp_path / "d")
    assert back.info["batchnorm"] == bn_c_sign.info["batchnorm"]
    np.testing.assert_array_equal(back.netlist.node("lstm0.tanh_c").arrays["wq"],
                                  bn_c_sign.netlist.node("lstm0.tanh_c").arrays["wq"])
    np.testing.assert_array_equal(back.simulate(binary_inputs[:2], length=64), a)


# ---------------------------------------------------------------------- trained model end to end
def _trained_lstm(task: str, samples: int, steps: int, hidden: int, outputs: int, seed: int):
    """(IR, first 6 input sequences) of a tiny LSTM trained 2 epochs by sccompiler.train: binary
    weights and head, recurrent batch norm (per-step bn_x/bn_h/bn_c), recalibrated."""
    from sccompiler.testing import require_torch

    torch = require_torch()
    torch.set_num_threads(1)
    import sccompiler.train as tr

    x, y = tr.synthetic_task(task, samples, steps, seed=seed)
    model = tr.QuantSequenceModel("lstm", 1, hidden, outputs, quant=tr.QuantConfig("binary"),
                                  head_quant=tr.QuantConfig("binary"), batch_norm=tr.BatchNormConfig(), seed=seed)
    tr.fit(model, x, y, tr.TrainConfig(epochs=2, batch_size=16, lr=1e-2, seed=seed))
    tr.recalibrate_batchnorm(model, x)
    return tr.to_ir(model), x.double().numpy()[:6]


def test_trained_model_compiles_and_converges():
    """A tiny LSTM trained by sccompiler.train (binary weights and head, recurrent batch norm
    with per-step bn_x/bn_h/bn_c, +-1 inputs) compiles with per-step tables, simulates, and its
    per-step stream error falls as 1/sqrt(L)."""
    ir, xs = _trained_lstm("delay", 48, 8, hidden=6, outputs=2, seed=0)
    lay = ir.layers[0]
    assert lay.bn_c is not None and lay.bn_c.per_step and lay.bn_x.per_step
    d = compile_model(ir, {"length": 256, "defaults": SIGN_OUT,
                           "disable": ["correlation_report", "accuracy_report"]}, calibration=xs)
    assert d.netlist.plan("lstm0").options.gate_input == "table"
    assert d.netlist.node("lstm0.tanh_c").arrays["wq"].shape[0] == lay.bn_c.mean.shape[0]
    out = d.simulate(xs, length=64)
    assert out.shape == (6, 8, 2) and np.all(np.isfinite(out))
    errs = []
    for L in (64, 1024):
        trc = d.trace(xs, length=L)["lstm0"]
        errs.append(np.abs(2 * trc["sc"]["lstm0.h_cnt"] / L - 1 - trc["teacher_forced"]["h_pre"]).mean())
    assert errs[0] <= 3 / 8 and errs[1] < errs[0] / 2.5, errs


def test_trained_model_real_inputs_integral_gates():
    """A trained LSTM with real inputs (sine task): integral WFSM gates with the trainer's
    independent per-step bn_x/bn_h (per-row x streams, per-step table banks) and per-step bn_c,
    compiled and simulated; the per-step stream error falls as 1/sqrt(L)."""
    ir, xs = _trained_lstm("sine", 32, 4, hidden=4, outputs=1, seed=1)
    d = compile_model(ir, {"length": 256, "disable": ["correlation_report", "accuracy_report"]}, calibration=xs)
    opts = d.netlist.plan("lstm0").options
    assert opts.gate_input == "integral_wfsm" and opts.x_streams == "per_row"
    assert opts.bn_gate_tables == opts.bn_c_tables == ir.layers[0].bn_c.mean.shape[0]
    errs = []
    for L in LENGTHS:
        trc = d.trace(xs, length=L)["lstm0"]
        errs.append(np.abs(trc["sc"]["lstm0.h"] - trc["teacher_forced"]["h"]).mean())
    _ratio_ok(errs)
    assert "weight_memory" in d.info["cost"]["reference_comparison"]["netlist"]


# ------------------------------------------------------------- runtime semantics of the new banks
def test_wfsm_table_bank_reads_table_of_step():
    """Exact oracle: table 0 all-zero weights, table 1 all-one (2^b): step 0 outputs only zeros,
    step 1 only ones, step 5 (beyond the last row) uses table 1; the FSM state carries."""
    from sccompiler.ir.sc import SCNode
    from sccompiler.runtime.engine import Runtime

    N, b, L, B, R = 8, 4, 32, 2, 3
    wq = np.stack([np.zeros((1, N)), np.full((1, N), 1 << b)]).astype(np.int64)       # (T=2, G=1, N)
    node = SCNode("f", "wfsm", ("d",), (R,), "l", "bipolar", params={"states": N, "weight_bits": b},
                  arrays={"wq": wq, "group": np.zeros(R, dtype=np.int64)})
    d = np.random.default_rng(0).integers(-2, 3, size=(B, R, L)).astype(np.int32)
    lfsr = {"f": np.random.default_rng(1).integers(0, 1 << b, size=(L, R)).astype(np.uint64)}   # b-bit R_t
    state = {"f": np.full(B * R, N // 2, dtype=np.int64)}
    outs = [Runtime._wfsm(None, node, d, lfsr, state, L, B, t) for t in (0, 1, 5)]
    assert not outs[0].any() and outs[1].all() and outs[2].all()
    assert not np.all(state["f"] == N // 2)                   # the state moved and was kept


def test_per_row_xnor_apc_and_stepped_sng_match_sim_primitives():
    """The per-row XNOR+APC bank (each row its own streams) equals sim's XNOR + bipolar APC; the
    stepped-gain SNG compares R_t with the threshold of x * gain_t (per row for a (R, I) bank)."""
    from sccompiler.ir.sc import SCNode
    from sccompiler.runtime.engine import Runtime
    from sccompiler.sim.encoding import threshold
    from sccompiler.sim.primitives import bipolar_apc, xnor_

    rng = np.random.default_rng(5)
    w = rng.choice([-1, 1], size=(4, 3)).astype(np.int8)
    bits = rng.random((2, 4, 3, 30)) < 0.5
    node = SCNode("p", "xnor_apc", ("b",), (4,), "l", arrays={"weights": w})
    got = Runtime._eval(None, node, {"b": bits}, {}, {}, {}, 30, 2, 0)
    for bb in range(2):
        for r in range(4):
            wbits = np.broadcast_to((w[r] > 0)[:, None], (3, 30))
            np.testing.assert_array_equal(got[bb, r], bipolar_apc(*[xnor_(wbits[j], bits[bb, r, j]) for j in range(3)]))
    gain = np.array([[0.5, -0.25, 1.0, 0.1], [0.2, 0.3, -0.4, 0.9]])                   # (T=2, R=4)
    sng = SCNode("s", "sng", ("x",), (4, 3), "l", "bipolar", params={"bits": 8}, arrays={"gain": gain})
    x = rng.uniform(-1, 1, (2, 3))
    r = rng.integers(0, 1 << 8, size=(30, 12)).astype(np.uint64)
    for t in (0, 1, 3):
        out = Runtime._sng(None, sng, {"x": x}, {"s": r}, 30, 2, t)
        g = gain[min(t, 1)]
        thr = threshold(x[:, None, :] * g[None, :, None], 8, "bipolar", "s")
        np.testing.assert_array_equal(out, r.T.reshape(4, 3, 30)[None] < thr[..., None])


def test_zero_bn_h_scale_is_a_clear_error(real_inputs):
    rng = np.random.default_rng(8)
    m = lstm_model(H=4)
    bh = _bn(rng, (3, 16))
    bh = BatchNormParams(gamma=np.where(np.arange(16) == 5, 0.0, bh.gamma), beta=bh.beta, mean=bh.mean, var=bh.var)
    m = m.replace_layer("lstm0", m.layers[0].replace(bn_h=bh))
    with pytest.raises(UnsupportedOpError, match=r"lstm0.*zero or non-finite bn_h scale"):
        compile_model(m, FAST, calibration=real_inputs)
