"""The user's journey of issue #20, end to end through the CLI only, on a model trained in the
test: train a float LSTM in torch, export ONNX, quantize with a report, compile with
``--set``/``--input-range``, simulate with ``--targets``, cost, emit and verify -- and every metric
the CLI prints is checked against the reference forward computed here."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler.cli import cli
from sccompiler.frontends import load_model
from sccompiler.metrics import evaluate_metric
from sccompiler.reference import forward
from sccompiler.tasks import synthetic_task_arrays
from sccompiler.testing import require_tool, require_torch

H, STEPS = 16, 12


def _scc(*args) -> dict:
    res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _train(torch, x: np.ndarray, y: np.ndarray):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(1, H, batch_first=True)
            self.fc = torch.nn.Linear(H, 2)

        def forward(self, x):
            return self.fc(self.rnn(x)[0])

    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt).reshape(-1, 2), yt.reshape(-1))
        loss.backward()
        opt.step()
    return net.eval()


def test_cli_journey_train_export_quantize_compile_simulate_cost_verify(tmp_path):
    torch = require_torch()
    simulator = "verilator" if shutil.which("verilator") else "icarus"
    require_tool("verilator" if simulator == "verilator" else "iverilog")
    x, y = synthetic_task_arrays("delay", 256, STEPS, seed=0)
    xv, yv = synthetic_task_arrays("delay", 48, STEPS, seed=1)
    net = _train(torch, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.tensor(x[:2], dtype=torch.float32),), str(tmp_path / "m.onnx"), dynamo=False,
                          opset_version=17, input_names=["x"], dynamic_axes={"x": {0: "b", 1: "t"}})
    for name, arr in (("x", x[:64]), ("y", y[:64]), ("xv", xv), ("yv", yv)):
        np.save(tmp_path / f"{name}.npy", arr)

    # quantize with a report: Ott et al.'s per-gate ternary keeps this model (ICLR's collapses it)
    q = _scc("quantize", tmp_path / "m.onnx", "--scheme", "ott-ternary", "--calibration", tmp_path / "x.npy",
             "--targets", tmp_path / "y.npy", "-o", tmp_path / "q", "--json")
    float_model, quant_model = load_model(tmp_path / "m.onnx"), load_model(tmp_path / "q")
    want_f = evaluate_metric("step_accuracy", forward(float_model, x[:64]), y[:64])
    want_q = evaluate_metric("step_accuracy", forward(quant_model, x[:64]), y[:64])
    assert q["effect"]["float"]["value"] == pytest.approx(want_f.value, abs=1e-12) and want_f.value == 1.0
    assert q["effect"]["quantized"]["value"] == pytest.approx(want_q.value, abs=1e-12) and want_q.value > 0.95
    assert not q["effect"]["collapsed"]

    # compile with overrides from the command line (a per-layer one on the exported name), emit the RTL
    _scc("compile", tmp_path / "q", "-o", tmp_path / "d", "--calibration", tmp_path / "x.npy", "--length", 128,
         "--set", "gate_fsm_states=auto", "--set", "rnn.LSTM.cell_fsm_states=8", "--input-range", 1.5,
         "--emit", "verilog", "--quiet", "--json")
    cfg = json.loads((tmp_path / "d" / "design.json").read_text())["config"]
    assert cfg["input_range"] == 1.5 and cfg["defaults"]["gate_fsm_states"] == "auto"
    assert cfg["layers"]["rnn.LSTM"]["cell_fsm_states"] == 8

    # simulate with targets: every printed metric is the one computed here from the outputs
    s = _scc("simulate", tmp_path / "d", "--inputs", tmp_path / "xv.npy", "--targets", tmp_path / "yv.npy",
             "--float-model", tmp_path / "m.onnx", "--quiet", "--json")
    assert s["metric"] == "step_accuracy" and s["sequences"] == len(xv)
    ref_q, ref_f = forward(quant_model, xv), forward(float_model, xv)
    np.testing.assert_allclose(np.asarray(s["reference_outputs"]["quantized"]), ref_q, atol=1e-9)
    for key, outs in (("quantized", ref_q), ("float", ref_f)):
        want = evaluate_metric("step_accuracy", outs, yv)
        assert s[key]["value"] == pytest.approx(want.value, abs=1e-12)
        assert s[key]["ci"] == pytest.approx([want.low, want.high], abs=1e-12)
    sc = evaluate_metric("step_accuracy", np.asarray(s["output"]), yv)
    assert s["sc"][0]["value"] == pytest.approx(sc.value, abs=1e-12)
    # 48 x 12 decisions at L = 128 (measured 0.87 [0.84, 0.90]): far above chance (0.5)
    assert sc.value > 0.75

    # cost of the compiled design, then the RTL against the simulator
    k = _scc("cost", tmp_path / "d", "--steps", STEPS, "--json")
    assert k["steps"] == STEPS and k["designs"][k["sc"]]["cost"]["energy_per_inference_j"] > 0
    v = _scc("verify", tmp_path / "d", "--simulator", simulator, "--json")
    assert v["passed"] is True
    # the user's own vectors: re-emitted into a temporary directory, all of them checked
    np.save(tmp_path / "mine.npy", xv[:3, :7])
    before = sorted(p.name for p in (tmp_path / "d" / "tb").iterdir())
    v = _scc("verify", tmp_path / "d", "--inputs", tmp_path / "mine.npy", "--simulator", simulator, "--json")
    assert v["passed"] is True and (v["sequences"], v["steps"]) == (3, 7)
    assert sorted(p.name for p in (tmp_path / "d" / "tb").iterdir()) == before
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 5)))
    res = CliRunner().invoke(cli, ["verify", str(tmp_path / "d"), "--inputs", str(tmp_path / "bad.npy")])
    assert res.exit_code != 0 and res.output.startswith("error:") and len(res.output.splitlines()) == 1, res.output
