"""``scc fsm``: JSON fields, plot output, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sccompiler.cli import cli


def _run(args):
    return CliRunner().invoke(cli, ["fsm", *args], catch_exceptions=False)


def test_json_report_fields():
    res = _run(["tanh(2*x)", "--states", "8", "--length", "1024", "--repeats", "2", "--points", "5", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    for key in ("expression", "states", "input", "weights", "weight_bits", "analytic_rmse", "analytic_max_error",
                "simulated", "baseline", "solver", "seconds"):
        assert key in rep
    assert rep["states"] == 8 and rep["input"] == "binary" and rep["weight_bits"] == 8
    assert set(rep["simulated"]) >= {"length", "rmse", "max_error"} and rep["simulated"]["length"] == 1024
    assert rep["simulated"]["source"] == "lfsr"
    assert set(rep["baseline"]) >= {"name", "analytic_rmse", "analytic_max_error"}
    assert rep["baseline"]["name"] == "Stanh"
    assert all(0 <= q <= 256 for q in rep["quantized_weights"])


def test_integral_max_error_and_text_output():
    res = _run(["tanh(x)", "--input", "integral:2", "--max-error", "0.05", "--length", "0", "--objective", "minimax"])
    assert res.exit_code == 0, res.output
    assert "IStanh" in res.output and "simulated skipped" in res.output


def test_plot_written_atomically_and_not_overwritten(tmp_path):
    out = tmp_path / "fsm.png"
    args = ["(1+tanh(x))/2", "--output", "unipolar", "--states", "6", "--length", "512", "--points", "5",
            "--repeats", "2", "--plot", str(out)]
    assert _run(args).exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = _run(args)
    assert again.exit_code != 0 and "already exists" in again.output
    assert _run([*args, "--force"]).exit_code == 0


@pytest.mark.parametrize("expr, drawn", [("tanh(2*x)", True), ("x**2", False)])
def test_plot_has_an_error_panel_and_the_baseline_only_where_it_applies(tmp_path, expr, drawn):
    """Stanh approximates tanh(2x) (drawn) but not x^2 (its RMSE is near the target's whole range:
    left out, and the text says so); the PNG carries two panels either way."""
    import matplotlib.image as mpimg

    out = tmp_path / "p.png"
    res = _run([expr, "--states", "8", "--length", "256", "--points", "9", "--repeats", "2", "--plot", str(out),
                "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["plot_baseline"] is drawn
    if not drawn:
        assert rep["baseline"]["analytic_rmse"] > 0.2      # the reason, in the target's units (range 1)
    img = mpimg.imread(out)
    assert img.shape[0] > img.shape[1] * 0.8                # the taller two-panel figure (7 x 6 in)
    text = _run([expr, "--states", "8", "--length", "0", "--plot", str(tmp_path / "q.png")]).output
    assert ("not drawn" in text) is (not drawn) and "error panel" in text


@pytest.mark.parametrize("args, fragment", [
    (["__import__('os').system('echo hacked')"], "whitelisted"),
    (["tanh(z)"], "undefined name 'z'"),
    (["2*tanh(x)"], "by up to"),
    (["tanh(x)", "--states", "4", "--max-error", "0.1"], "not both"),
    (["tanh(x)", "--input", "integral:x"], "input"),
    (["tanh(x)", "--domain", "-3", "1"], "domain"),
])
def test_errors_are_one_line(args, fragment):
    res = CliRunner().invoke(cli, ["fsm", *args, "--length", "0"])
    assert res.exit_code != 0
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], res.output
    assert "hacked" not in res.output
