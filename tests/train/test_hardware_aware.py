"""Hardware-aware fine-tuning (:mod:`sccompiler.train.hardware`): the WFSM transfer curves against
exact oracles (Brown-Card closed form for a Stanh table on a binary input; an independent dense
stationary solve for Stanh tables on integral inputs; the synthesis' own analytic output and
reported max error for synthesized tables), the per-gate averaging, fine-tuning determinism, and
the export (nominal σ/tanh in the IR, curves in the metadata)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from sccompiler.errors import ConfigError, SCValueError
from sccompiler.testing import require_torch

NO_REPORTS = ["accuracy_report", "correlation_report", "cost"]


@pytest.fixture(scope="module")
def tr():
    torch = require_torch()
    torch.set_num_threads(1)
    import sccompiler.train as train  # noqa: PLC0415

    return train


@pytest.fixture(scope="module")
def hw(tr):
    import sccompiler.train.hardware as hardware  # noqa: PLC0415

    return hardware


def _tiny(tr, cell: str, epochs: int = 2):
    x, y = tr.synthetic_task("sine", 48, 8, seed=0)
    model = tr.QuantSequenceModel(cell, 1, 3, 1, quant=tr.QuantConfig("ternary"),
                                  head_quant=tr.QuantConfig("ternary"), seed=0)
    tr.fit(model, x, y, tr.TrainConfig(epochs=epochs, batch_size=16, lr=1e-2, seed=0))
    return model, x, y


@pytest.fixture(scope="module")
def lstm(tr):
    return _tiny(tr, "lstm")


@pytest.fixture(scope="module")
def designs(tr, lstm):
    """(binomial-synthesized, Stanh) designs of the tiny ternary LSTM."""
    from sccompiler.design import compile_model  # noqa: PLC0415

    ir = tr.to_ir(lstm[0])
    synth = compile_model(ir, {"length": 64, "defaults": {"fsm_input_model": "binomial"}, "disable": NO_REPORTS})
    stanh = compile_model(ir, {"length": 64, "disable": ["synthesize_fsms", *NO_REPORTS]})
    return synth, stanh


# ------------------------------------------------------------------------------- exact oracles
def _brown_card(x: np.ndarray, states: int) -> np.ndarray:
    """Stanh on a bipolar binary input: P = sum_{i >= N/2} t^i (1-t)/(1-t^N), t = p/(1-p)."""
    out = []
    for v in x:
        p = (1.0 + v) / 2.0
        t = p / (1.0 - p)
        i = np.arange(states)
        pi = np.full(states, 1.0 / states) if abs(t - 1.0) < 1e-15 else t ** i * (1 - t) / (1 - t ** states)
        out.append(2.0 * pi[states // 2:].sum() - 1.0)
    return np.array(out)


@given(half=st.integers(1, 24), gain=st.floats(0.1, 5.0), seed=st.integers(0, 2**16))
def test_stanh_binary_input_is_brown_card(hw, half, gain, seed):
    states = 2 * half
    stanh = np.where(np.arange(states) >= half, 256, 0)
    rng = np.random.default_rng(seed)
    x = np.concatenate([[0.0], rng.uniform(-0.98, 0.98, 16)])
    y = hw.wfsm_transfer(stanh, 8, gain * x, gain=gain, operands=1)
    np.testing.assert_allclose(y, _brown_card(x, states), atol=1e-10, rtol=0)
    # odd symmetry of Stanh, exactly 0 at 0, saturation at |z| = 1 and beyond
    np.testing.assert_allclose(hw.wfsm_transfer(stanh, 8, -gain * x, gain=gain, operands=1), -y, atol=1e-12)
    assert hw.wfsm_transfer(stanh, 8, np.array([3.0 * gain, -3.0 * gain]), gain=gain,
                            operands=1).tolist() == [1.0, -1.0]


def _dense_stationary(wq: np.ndarray, bits: int, z: np.ndarray, m: int, output: str) -> np.ndarray:
    """Independent oracle: P(s' | s) of s -> clamp(s + 2k - M, 0, N-1), k ~ Binomial(M, (1+z/M)/2),
    stationary vector by least squares on [P^T - I; 1^T] pi = [0; 1]."""
    n = wq.size
    out = []
    for v in z:
        pk = stats.binom.pmf(np.arange(m + 1), m, (1.0 + v / m) / 2.0)
        p = np.zeros((n, n))
        for s in range(n):
            for k, q in enumerate(pk):
                p[s, min(max(s + 2 * k - m, 0), n - 1)] += q
        a = np.vstack([p.T - np.eye(n), np.ones((1, n))])
        pi = np.linalg.lstsq(a, np.r_[np.zeros(n), 1.0], rcond=None)[0]
        prob = pi @ (wq / (1 << bits))
        out.append(2 * prob - 1 if output == "bipolar" else prob)
    return np.array(out)


def test_stanh_design_curves_equal_dense_stationary_mean(hw, designs):
    _, design = designs
    curves = hw.wfsm_curves(design, "lstm0", points=9)
    assert sorted(curves) == ["cell", "f", "g", "i", "o"]
    H = 3
    for gate, curve in curves.items():
        node = design.netlist.node("lstm0.tanh_c" if gate == "cell" else "lstm0.gates_s")
        rows = np.arange(H) + (0 if gate == "cell" else "ifgo".index(gate) * H)
        pre = curve.grid.numpy()
        expect = np.zeros_like(pre)
        for r in rows:
            g = int(node.arrays["group"][r])
            gain = float(np.atleast_1d(node.arrays["target_gain"])[g])
            m = int(node.arrays["operands"][r])
            expect += _dense_stationary(np.asarray(node.arrays["wq"][g]), 8, np.clip(pre / gain, -m, m), m, "bipolar")
        np.testing.assert_allclose(curve.values.numpy(), expect / H, atol=1e-9, rtol=0)
        assert curve.describe()["synthesized"] is False


def test_synthesized_curves_within_reported_max_error(hw, designs):
    """Every synthesized group: the same synthesis call reproduces the node's table (we read the
    right table and input model), wfsm_transfer equals the synthesis' analytic output at its fit
    points, and is within the reported analytic max error of the target there."""
    from sccompiler.fsm import BinomialInput, synthesize_fsm  # noqa: PLC0415

    design, _ = designs
    checked = 0
    for entry in design.info["fsms"]:
        node = design.netlist.node(entry["node"])
        g, gain, m = entry["group"], entry["gain"], int(entry["input_model"].split(":")[1])
        act = (lambda v: np.tanh(v)) if entry["target"] == "tanh" else (lambda v: 1.0 / (1.0 + np.exp(-v)))
        # the domain rule of passes/core.py synthesize_fsms (uncalibrated models)
        zmax = min(float(m), max(1.0, 8.0 / abs(gain)))
        d = synthesize_fsm(lambda z: act(gain * np.asarray(z)), states=node.params["states"], input=BinomialInput(m),
                           weight_bits=node.params["weight_bits"], grid=401, output=node.encoding, domain=(-zmax, zmax))
        table = np.asarray(node.arrays["wq"][g])
        assert tuple(table.tolist()) == d.quantized_weights
        z = d.evaluation_points()
        y = hw.wfsm_transfer(table, node.params["weight_bits"], gain * z, gain=gain, operands=m, output=node.encoding)
        np.testing.assert_allclose(y, d.output_value(), atol=1e-12, rtol=0)
        assert np.abs(y - act(gain * z)).max() <= entry["analytic_max_error"] + 1e-12
        checked += 1
    assert checked == len(design.info["fsms"]) >= 3


def test_majority_uses_one_table(hw, designs):
    design, _ = designs
    node = design.netlist.node("lstm0.gates_s")
    rows = np.arange(3)                              # gate i
    groups, counts = np.unique(node.arrays["group"][rows], return_counts=True)
    g = int(groups[np.argmax(counts)])
    m = int(np.median(node.arrays["operands"][rows][node.arrays["group"][rows] == g]))
    curve = hw.wfsm_curves(design, 0, points=33, reduce="majority")["i"]
    gain = float(node.arrays["target_gain"][g])
    expect = hw.wfsm_transfer(node.arrays["wq"][g], 8, curve.grid.numpy(), gain=gain, operands=m)
    np.testing.assert_allclose(curve.values.numpy(), expect, atol=1e-12)


def test_calibrated_tables_default_to_their_target(tr, hw, lstm):
    """Tables fitted to calibration samples: their rows contribute the target (module docstring)."""
    from sccompiler.design import compile_model  # noqa: PLC0415

    model, x, _ = lstm
    design = compile_model(tr.to_ir(model), {"length": 64, "disable": NO_REPORTS}, calibration=x.numpy()[:16])
    node = design.netlist.node("lstm0.tanh_c")
    if str(node.params["input_model"][0]).startswith("integral:"):
        pytest.skip("the compiler did not use a calibrated model for tanh(c)")
    cell = hw.wfsm_curves(design, "lstm0", points=65)["cell"]
    pre = cell.grid.numpy()
    m = int(node.arrays["operands"][0])
    np.testing.assert_allclose(cell.values.numpy(), np.tanh(np.clip(pre, -m, m)), atol=1e-12)
    assert cell.describe()["binomial_fraction"] == 0.0
    raw = hw.wfsm_curves(design, "lstm0", points=65, calibrated="binomial")["cell"]
    assert raw.describe()["binomial_fraction"] == 1.0


def test_gru_curves_and_unipolar_z(tr, hw):
    from sccompiler.design import compile_model  # noqa: PLC0415

    model, _, _ = _tiny(tr, "gru", epochs=1)
    design = compile_model(tr.to_ir(model), {"length": 64, "disable": ["synthesize_fsms", *NO_REPORTS]})
    curves = hw.wfsm_curves(design, "gru0", points=17)
    assert sorted(curves) == ["n", "r", "z"]
    # Stanh tables: bipolar curves span [-1, 1], the unipolar z curve [0, 1] (P itself)
    assert curves["r"].values.min() < -0.9 and curves["z"].values.min() >= 0.0
    node = design.netlist.node("gru0.z_s")
    g, m = int(node.arrays["group"][0]), int(node.arrays["operands"][0])
    gain = float(node.arrays["target_gain"][g])
    one = hw.wfsm_transfer(node.arrays["wq"][g], 8, np.array([0.5 * gain]), gain=gain, operands=m, output="unipolar")
    bip = hw.wfsm_transfer(node.arrays["wq"][g], 8, np.array([0.5 * gain]), gain=gain, operands=m)
    np.testing.assert_allclose(2 * one - 1, bip, atol=1e-12)


# ------------------------------------------------------------------------------- training side
def test_gate_activations_average_by_rows(tr, hw):
    a = hw.WFSMCurve([-2.0, 0.0, 2.0], [0.0, 0.5, 1.0], name="a", source={"rows": 1})
    b = hw.WFSMCurve([-1.0, 1.0], [0.2, 0.6], name="b", source={"rows": 3})
    acts = hw.gate_activations({"i": a, "f": b, "g": a})
    import torch  # noqa: PLC0415

    pts = torch.tensor([-3.0, -1.5, -0.5, 0.0, 0.7, 1.5, 4.0], dtype=torch.float64)
    expect = (a(pts) + 3 * b(pts)) / 4
    torch.testing.assert_close(acts.sigmoid(pts), expect, atol=1e-12, rtol=0)
    assert acts.tanh is a and acts.cell_tanh(pts).equal(torch.tanh(pts))  # no curve: nominal
    with pytest.raises(SCValueError, match="unknown gate"):
        hw.gate_activations({"q": a})


def test_finetune_is_deterministic_and_uses_the_curves(tr, hw, lstm, designs):
    import copy  # noqa: PLC0415

    import torch  # noqa: PLC0415

    model, x, y = lstm
    curves = hw.wfsm_curves(designs[1], "lstm0")          # Stanh: far from σ/tanh
    runs = []
    for _ in range(2):
        m = copy.deepcopy(model)
        res = hw.finetune_hardware_aware(m, x, y, curves, epochs=2, config=tr.TrainConfig(lr=1e-3, seed=3))
        runs.append((m, res))
    (m1, r1), (m2, r2) = runs
    assert r1.losses == r2.losses and len(r1.losses) == 2
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    assert not torch.equal(m1.rnn.layers[0].weight_ih, model.rnn.layers[0].weight_ih)
    layer = m1.rnn.layers[0]
    assert isinstance(layer.activations.cell_tanh, hw.WFSMCurve)
    with torch.no_grad():
        hw_out = m1(x)
        hw.nominal_activations(m1)
        nominal = m1(x)
    assert (hw_out - nominal).abs().max() > 1e-2      # the Stanh curves change the forward pass


def test_export_keeps_nominal_ir_and_records_curves(tr, hw, lstm, designs):
    import copy  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from sccompiler.reference import forward  # noqa: PLC0415

    model, x, _ = lstm
    m = copy.deepcopy(model).eval()
    hw.install_curves(m, {"lstm0": hw.wfsm_curves(designs[0], "lstm0")})
    ir = tr.to_ir(m)
    rec = ir.metadata["training"]["layers"][0]["activations"]
    assert rec["cell_tanh"]["source"] == "wfsm" and rec["cell_tanh"]["node"] == "lstm0.tanh_c"
    assert rec["sigmoid"]["mean_of"] == ["lstm0.i", "lstm0.f", "lstm0.o"]
    hw.nominal_activations(m)
    with torch.no_grad():
        nominal = m(x).double().numpy()
    np.testing.assert_allclose(forward(ir, x.double().numpy()), nominal, atol=2e-5)


def test_bad_arguments(tr, hw, lstm, designs):
    model, x, y = lstm
    design = designs[0]
    with pytest.raises(SCValueError, match="layer"):
        hw.wfsm_curves(design, "gru7")
    with pytest.raises(SCValueError, match="index"):
        hw.wfsm_curves(design, 3)
    with pytest.raises(SCValueError, match="reduce"):
        hw.wfsm_curves(design, 0, reduce="median")
    with pytest.raises(SCValueError, match="calibrated"):
        hw.wfsm_curves(design, 0, calibrated="ignore")
    with pytest.raises(SCValueError, match="quantized_weights"):
        hw.wfsm_transfer(np.array([0, 300]), 8, np.zeros(2), gain=1.0, operands=1)
    with pytest.raises(SCValueError, match="gain"):
        hw.wfsm_transfer(np.array([0, 256]), 8, np.zeros(2), gain=0.0, operands=1)
    curves = hw.wfsm_curves(design, 0)
    with pytest.raises(ConfigError, match="GRU"):
        hw.install_curves(tr.QuantGRU(1, 3), {"i": curves["i"]})
    with pytest.raises(ConfigError, match="does not have"):
        hw.install_curves(model, {"lstm5": curves})
    with pytest.raises(ConfigError, match="epochs"):
        hw.finetune_hardware_aware(model, x, y, curves, epochs=0)


def test_cli_train_hardware_aware(tr, designs, tmp_path):
    import json  # noqa: PLC0415

    from click.testing import CliRunner  # noqa: PLC0415

    from sccompiler.cli import cli  # noqa: PLC0415
    from sccompiler.frontends import load_model  # noqa: PLC0415

    designs[1].save(tmp_path / "design")
    args = ["train", "--task", "sine", "--samples", "32", "--steps", "6", "--hidden", "3", "--scheme", "ternary",
            "--no-batch-norm", "--epochs", "1", "--hardware-aware", str(tmp_path / "design"),
            "--hardware-epochs", "2", "-o", str(tmp_path / "model"), "--json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["hardware_aware"]["design"] == str(tmp_path / "design") and len(out["hardware_aware"]["losses"]) == 2
    rec = load_model(tmp_path / "model").metadata["training"]["layers"][0]["activations"]
    assert rec["cell_tanh"]["source"] == "wfsm"
    # a GRU cannot take an LSTM design's curves: a clear error, non-zero exit
    bad = CliRunner().invoke(cli, [*args[:-3], "--cell", "gru", "-o", str(tmp_path / "gru"), "--json"])
    # under --json the error is a JSON object (one per failure), never a traceback
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert "the model does not have" in json.loads(bad.output)["error"]["message"]
