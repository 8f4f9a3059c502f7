"""`scc inspect` and `scc convert`: output, JSON mirror of the API, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

from sccompiler.cli import cli
from sccompiler.cli.common import to_jsonable
from sccompiler.frontends import load_model
from sccompiler.inspect import inspect_model

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_clean_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for frag in fragments:
        assert frag in lines[0]


def test_inspect_table():
    result = run("inspect", FIXTURES / "quant_weights.onnx")
    assert result.exit_code == 0, result.output
    for text in ("(lstm)", "fc_matmul", "w_ih", "binary", "ternary", "{-1,0,1}", "{-1,1}", "16 levels", "saving"):
        assert text in result.output


def test_inspect_json_mirrors_api():
    path = FIXTURES / "embed_lstm_gemm_softmax.onnx"
    result = run("inspect", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == to_jsonable(inspect_model(load_model(path)))


def test_convert_then_inspect_without_onnx(tmp_path, monkeypatch):
    src = FIXTURES / "lstm_ternary.onnx"
    out = tmp_path / "native"
    result = run("convert", src, "-o", out)
    assert result.exit_code == 0, result.output
    assert "1 layers (lstm)" in result.output
    expected = json.loads(run("inspect", src, "--json").output)
    monkeypatch.setitem(sys.modules, "onnx", None)  # the native model must not need onnx
    got = json.loads(run("inspect", out, "--json").output)
    assert got["layers"] == expected["layers"] and got["totals"] == expected["totals"]


def test_convert_refuses_existing_output_without_force(tmp_path):
    out = tmp_path / "native"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_clean_error(run("convert", FIXTURES / "gru_lbr0.onnx", "-o", out), "already exists", "--force")
    assert (out / "keep.txt").read_text() == "mine"
    result = run("convert", FIXTURES / "gru_lbr0.onnx", "-o", out, "--force", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["layers"] == [{"name": "gru0", "kind": "gru"}]
    assert not (out / "keep.txt").exists()


def test_convert_input_override_is_validated(tmp_path):
    result = run("convert", FIXTURES / "lstm_ternary.onnx", "-o", tmp_path / "o", "--input-size", "7")
    assert_clean_error(result, "expects 3 input features but receives 7")
    assert not (tmp_path / "o").exists()


def test_cli_errors_are_one_line(tmp_path):
    assert_clean_error(run("inspect", FIXTURES / "truncated.onnx"), "truncated.onnx", "not a readable ONNX model")
    assert_clean_error(run("inspect", FIXTURES / "bad_conv.onnx"), "'Conv'", "conv_layer")
    assert_clean_error(run("inspect", tmp_path / "missing.onnx"), "file not found")
    (tmp_path / "model.xyz").write_text("?")
    assert_clean_error(run("inspect", tmp_path / "model.xyz"), "unknown model format")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text("{not json")
    assert_clean_error(run("convert", bad, "-o", tmp_path / "out"), "model.json", "malformed JSON")
    assert not (tmp_path / "out").exists()
