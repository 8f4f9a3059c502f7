"""Task metrics end to end (``--targets``/``--metric`` on quantize, compile and simulate): the
float, quantized and SC columns against the reference forward and :mod:`sccompiler.metrics`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler.cli import cli
from sccompiler.evaluation import infer_metric, quantization_effect
from sccompiler.frontends.native import load_native, save_model
from sccompiler.ir.model import LSTM, InputSpec, Linear, Model, Tensor
from sccompiler.metrics import evaluate_metric
from sccompiler.quantize import quantize_model
from sccompiler.reference import forward

FAST = ["--disable", "correlation_report", "--disable", "cost", "--disable", "accuracy_report"]


def float_model(seed=0, H=8, I=3, C=3) -> Model:
    rng = np.random.default_rng(seed)
    return Model((LSTM("lstm0", input_size=I, hidden_size=H, w_ih=Tensor(rng.normal(0, 0.8, (4 * H, I))),
                       w_hh=Tensor(rng.normal(0, 0.5, (4 * H, H))), b_ih=Tensor(rng.normal(0, 0.3, 4 * H))),
                  Linear("head", in_size=H, out_size=C, weight=Tensor(rng.normal(0, 1, (C, H))))),
                 InputSpec("features", I), "f")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    m = float_model()
    save_model(m, root / "float")
    x = np.random.default_rng(1).uniform(-1, 1, (40, 6, 3))
    np.save(root / "x.npy", x)
    np.save(root / "y.npy", forward(m, x)[:, -1].argmax(-1))   # the float model is right by construction
    return root


def _run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_quantize_reports_effect_and_warns_on_collapse(files, tmp_path):
    x, y = np.load(files / "x.npy"), np.load(files / "y.npy")
    res = _run("quantize", files / "float", "--scheme", "binary", "-o", tmp_path / "q", "--calibration",
               files / "x.npy", "--targets", files / "y.npy", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    eff = doc["effect"]
    q = forward(load_native(tmp_path / "q"), x)
    f = forward(float_model(), x)
    assert eff["metric"] == "accuracy" and eff["float"]["value"] == 1.0
    assert eff["quantized"] == evaluate_metric("accuracy", q, y).to_json()
    assert eff["error"]["mean_abs"] == pytest.approx(np.abs(q - f).mean())
    assert eff["collapsed"] and "QUANTIZATION COLLAPSED" in res.stderr and "scc train" in res.stderr
    # int:8 keeps the model: no warning
    res = _run("quantize", files / "float", "--scheme", "int:8", "-o", tmp_path / "q8", "--calibration",
               files / "x.npy", "--targets", files / "y.npy")
    assert res.exit_code == 0, res.output
    assert "accuracy (95% interval): float 1 " in res.stdout and "warning" not in res.stderr
    # without targets: the output error alone decides
    e = quantization_effect(float_model(), quantize_model(float_model(), "binary"), x)
    assert e["metric"] is None and e["collapsed"] == (e["error"]["relative"] >= 0.5)


@pytest.fixture(scope="module")
def design(files):
    out = files / "out"
    res = _run("quantize", files / "float", "--scheme", "binary", "-o", files / "q")
    assert res.exit_code == 0, res.output
    res = _run("compile", files / "q", "--calibration", files / "x.npy", "--targets", files / "y.npy",
               "--length", 64, *FAST, "-o", out)
    assert res.exit_code == 0, res.output
    assert "accuracy on 40 sequence(s)" in res.stdout
    return out


def test_compile_report_task_metric(files, design):
    rep = json.loads((design / "report.json").read_text())
    task = rep["accuracy"]["task"]
    q = forward(load_native(files / "q"), np.load(files / "x.npy"))
    assert task["quantized"] == evaluate_metric("accuracy", q, np.load(files / "y.npy")).to_json()
    assert task["sc"][0]["length"] is None and 0 <= task["sc"][0]["value"] <= 1
    assert "## Task metric" in (design / "report.md").read_text()


def test_simulate_targets_side_by_side(files, design):
    x, y = np.load(files / "x.npy"), np.load(files / "y.npy")
    res = _run("simulate", design, "--inputs", files / "x.npy", "--targets", files / "y.npy", "--float-model",
               files / "float", "--length", 32, "--length", 128, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    q = forward(load_native(files / "q"), x)
    np.testing.assert_allclose(doc["reference_outputs"]["quantized"], q)
    np.testing.assert_allclose(doc["reference_outputs"]["float"], forward(float_model(), x))
    assert doc["float"]["value"] == 1.0 and doc["metric"] == "accuracy"
    assert [r["length"] for r in doc["sc"]] == [32, 128]
    for r, out in zip(doc["sc"], doc["outputs_per_length"]):
        want = evaluate_metric("accuracy", np.asarray(out), y).to_json()
        assert {k: r[k] for k in want} == want
        assert r["error_vs_quantized"]["mean_abs"] == pytest.approx(np.abs(np.asarray(out) - q).mean())
    np.testing.assert_array_equal(doc["output"], doc["outputs_per_length"][0])
    # the text form: one row per model
    res = _run("simulate", design, "--inputs", files / "x.npy", "--targets", files / "y.npy", "--metric", "mse")
    assert res.exit_code != 0 and res.output.startswith("error: ") and "mse needs targets" in res.output
    res = _run("simulate", design, "--inputs", files / "x.npy", "--targets", files / "y.npy")
    assert res.exit_code == 0 and "  quantized  " in res.stdout and "  SC  " in res.stdout


def test_metric_errors(files, design, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((7, 2)))
    for args in (["--metric", "accuracy"], ["--targets", tmp_path / "bad.npy"]):
        res = _run("simulate", design, "--inputs", files / "x.npy", *args)
        assert res.exit_code != 0 and res.output.startswith("error: ") and "Traceback" not in res.output
    res = _run("quantize", files / "float", "--scheme", "binary", "-o", tmp_path / "q", "--targets", files / "y.npy")
    assert res.exit_code != 0 and "--targets needs --calibration" in res.output


def test_infer_metric():
    assert infer_metric(np.zeros(4, int), (4, 5, 3), False) == "accuracy"
    assert infer_metric(np.zeros((4, 5), int), (4, 5, 3), False) == "step_accuracy"
    assert infer_metric(np.zeros((4, 5), int), (4, 5, 3), True) == "bpc"
    assert infer_metric(np.zeros((4, 5, 3)), (4, 5, 3), False) == "mse"
