"""``scc quantize``: writes a native model, prints a summary, fails in one line on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler.cli import cli
from sccompiler.frontends import native
from sccompiler.ir import LSTM, Embedding, InputSpec, Linear, Model, Tensor
from sccompiler.quantize import iclr_scale, quantize_model


@pytest.fixture
def model_dir(tmp_path):
    rng = np.random.default_rng(0)
    model = Model((
        Embedding("emb", num_embeddings=5, embedding_dim=3, weight=Tensor(rng.normal(size=(5, 3)))),
        LSTM("lstm", input_size=3, hidden_size=2, w_ih=Tensor(rng.normal(size=(8, 3))),
             w_hh=Tensor(rng.normal(size=(8, 2))), b_ih=Tensor(rng.normal(size=8))),
        Linear("fc", in_size=2, out_size=5, weight=Tensor(rng.normal(size=(5, 2)))),
    ), InputSpec("tokens", 5), name="tiny")
    path = tmp_path / "tiny"
    native.save_model(model, path)
    return path


def _run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_quantize_writes_native_model(model_dir, tmp_path):
    out = tmp_path / "q"
    res = _run("quantize", model_dir, "--scheme", "ternary", "-o", out)
    assert res.exit_code == 0, res.output
    assert "lstm.w_ih" in res.output and "ternary" in res.output
    q = native.load_native(out)
    w_ih = q.layer("lstm").w_ih
    assert w_ih.quant.scheme == "ternary" and w_ih.quant.scale == iclr_scale(3, 8)
    assert set(np.unique(w_ih.data)) <= {-w_ih.quant.scale, 0.0, w_ih.quant.scale}
    assert q.layer("emb").weight.quant.scheme == "float"
    # the same as the API
    want = quantize_model(native.load_native(model_dir), "ternary")
    np.testing.assert_array_equal(q.layer("fc").weight.data, want.layer("fc").weight.data)


def test_quantize_json_stochastic_embeddings(model_dir, tmp_path):
    out = tmp_path / "q"
    res = _run("quantize", model_dir, "--scheme", "binary", "--stochastic", "--seed", 7,
               "--include-embeddings", "-o", out, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["seed"] == 7 and data["stochastic"] and data["scheme"] == "binary"
    rows = {(r["layer"], r["tensor"]): r for r in data["tensors"]}
    assert rows[("emb", "weight")]["scheme"] == "binary" and rows[("emb", "weight")]["seed"] == 7
    assert rows[("lstm", "b_ih")]["scheme"] == "float"
    # reproducible from the recorded seed; existing output needs --force
    res2 = _run("quantize", model_dir, "--scheme", "binary", "--stochastic", "--seed", 7,
                "--include-embeddings", "-o", out, "--json")
    assert res2.exit_code != 0 and "already exists" in res2.output
    res3 = _run("quantize", model_dir, "--scheme", "binary", "--stochastic", "--seed", 7,
                "--include-embeddings", "-o", out, "--force")
    assert res3.exit_code == 0
    np.testing.assert_array_equal(native.load_native(out).layer("emb").weight.data,
                                  quantize_model(native.load_native(model_dir), "binary", stochastic=True,
                                                 seed=7, which=("weights", "embeddings"))
                                  .layer("emb").weight.data)


@pytest.mark.parametrize("args, match", [
    (["--scheme", "quaternary"], "unknown quantization scheme"),
    (["--scheme", "int:99"], "int:K"),
    (["--scheme", "pow2-ternary", "--stochastic"], "no stochastic variant"),
    (["--scheme", "binary", "--seed", "3"], "--stochastic"),
])
def test_quantize_bad_arguments_one_line(model_dir, tmp_path, args, match):
    out = tmp_path / "q"
    res = _run("quantize", model_dir, *args, "-o", out)
    assert res.exit_code != 0
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and match in lines[0], res.output
    assert "Traceback" not in res.output and not out.exists()


def test_quantize_twice_needs_requantize(model_dir, tmp_path):
    assert _run("quantize", model_dir, "--scheme", "ternary", "-o", tmp_path / "q1").exit_code == 0
    res = _run("quantize", tmp_path / "q1", "--scheme", "binary", "-o", tmp_path / "q2")
    assert res.exit_code != 0 and "already quantized" in res.output and len(res.output.splitlines()) == 1
    res = _run("quantize", tmp_path / "q1", "--scheme", "binary", "--requantize", "-o", tmp_path / "q2")
    assert res.exit_code == 0, res.output
    assert native.load_native(tmp_path / "q2").layer("fc").weight.quant.scheme == "binary"


def test_quantize_layers_then_the_float_rest(model_dir, tmp_path):
    """--layers quantizes only the named layers; a second run quantizes only what is still float
    (the float head next to a binary core) and keeps the rest bit for bit."""
    src = native.load_native(model_dir)
    rec = [lay.name for lay in src.layers if lay.kind in ("lstm", "gru")]
    res = _run("quantize", model_dir, "--scheme", "binary", "--layers", ",".join(rec), "-o", tmp_path / "core")
    assert res.exit_code == 0, res.output
    core = native.load_native(tmp_path / "core")
    assert core.layer("fc").weight.quant.scheme == "float" and core.layer(rec[0]).w_ih.quant.scheme == "binary"
    res = _run("quantize", tmp_path / "core", "--scheme", "int:8", "-o", tmp_path / "all")
    assert res.exit_code == 0 and "kept as quantized before" in res.output, res.output
    full = native.load_native(tmp_path / "all")
    assert full.layer("fc").weight.quant.scheme == "int"
    np.testing.assert_array_equal(full.layer(rec[0]).w_ih.data, core.layer(rec[0]).w_ih.data)
    res = _run("quantize", model_dir, "--scheme", "binary", "--layers", "nope", "-o", tmp_path / "x")
    assert res.exit_code != 0 and "unknown layer" in res.output and not (tmp_path / "x").exists()


def test_quantize_missing_model_one_line(tmp_path):
    res = _run("quantize", tmp_path / "nope.onnx", "--scheme", "binary", "-o", tmp_path / "q")
    assert res.exit_code != 0 and res.output.startswith("error:") and len(res.output.splitlines()) == 1


def test_search_scale_picks_the_best_factor_and_records_it(model_dir, tmp_path):
    """Post-training scale search: the chosen factor is the best of the grid on the calibration
    inputs (recomputed here), its W0 is the tensor's scale, and misuse is one error line."""
    from sccompiler.evaluation import SCALE_FACTORS, search_scale
    from sccompiler.quantize import iclr_scale, quantize_model
    from sccompiler.reference import forward

    src = native.load_native(model_dir)
    x = np.random.default_rng(3).integers(0, 5, (16, 6))
    res = search_scale(src, "ternary", x)
    f = forward(src, x)
    errs = [float(np.abs(forward(quantize_model(src, "ternary", scale_factor=k), x) - f).mean()) for k in SCALE_FACTORS]
    assert [r["error"] for r in res["rows"]] == pytest.approx(errs, abs=1e-12)
    assert res["best"] == SCALE_FACTORS[int(np.argmin(errs))] and res["criterion"] == "mean_abs_error"
    np.save(tmp_path / "x.npy", x)
    out = _run("quantize", model_dir, "--scheme", "ternary", "--search-scale", "--calibration", tmp_path / "x.npy",
               "-o", tmp_path / "q", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)             # (a collapse warning goes to stderr)
    assert doc["scale_search"]["best"] == res["best"] and doc["scale_factor"] == res["best"]
    q = native.load_native(tmp_path / "q")
    assert q.layer("lstm").w_ih.quant.scale == pytest.approx(res["best"] * iclr_scale(3, 8))
    for args, match in ((["--scheme", "ternary", "--search-scale"], "needs --calibration"),
                        (["--scheme", "int:8", "--search-scale", "--calibration", tmp_path / "x.npy"], "no fan-based")):
        bad = _run("quantize", model_dir, *args, "-o", tmp_path / "bad")
        assert bad.exit_code != 0 and match in bad.output and len(bad.output.splitlines()) == 1, bad.output
