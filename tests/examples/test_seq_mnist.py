"""Sequential Fashion-MNIST (#15 tracker): ternary within one point of float on the whole test
split, the GRU variants committed and evaluated, the quantized variants fine-tuned from the float
model (``train.py`` fine-tuning with the least-squares gain fit)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sccompiler.frontends import load_model
from sccompiler.ir.model import GRU, Linear
from sccompiler.testing import require_torch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
HERE = EXAMPLES / "seq_mnist"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _require_fashion() -> None:
    if not (FASHION / "t10k-images-idx3-ubyte.gz").is_file():
        import os  # noqa: PLC0415

        if os.environ.get("SCC_REQUIRE_DATA") == "1":
            pytest.fail("Fashion-MNIST is required in CI (SCC_REQUIRE_DATA=1) but not installed")
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


def _evaluate(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(HERE / "evaluate.py"), "--json", str(out), *args], cwd=ROOT,
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert proc.returncode == 0, proc.stdout
    return json.loads(out.read_text())


def test_ternary_within_one_point_of_float_on_the_whole_test_split(tmp_path: Path) -> None:
    _require_fashion()
    r = _evaluate(tmp_path, "--variants", "float", "ternary", "gru-float", "gru-ternary", "--lengths")
    assert r["test_sequences"] == 10000
    acc = {v: r["variants"][v]["value"] for v in r["variants"]}
    assert acc["float"] - acc["ternary"] <= 0.01, acc
    assert acc["gru-float"] > 0.85 and acc["gru-ternary"] > 0.85, acc
    for v in ("ternary", "gru-ternary"):
        rec = load_model(HERE / "model" / v).metadata["example"]["training_record"]
        assert rec["init"] == ("gru-float" if v.startswith("gru-") else "float")
        assert rec["lr_schedule"] == "cosine"


@pytest.mark.parametrize("variant", ["gru-float", "gru-ternary"])
def test_gru_variants_committed(variant: str) -> None:
    model = load_model(HERE / "model" / variant)
    assert [type(lay) for lay in model.layers] == [GRU, Linear]
    rec = model.metadata["example"]["training_record"]
    assert rec["architecture"]["cell"] == "gru" and rec["architecture"]["hidden_size"] == 64
    if variant == "gru-ternary":
        for t in (model.layers[0].w_ih, model.layers[0].w_hh, model.layers[1].weight):
            assert np.unique(t.data).size <= 3


def test_gru_ternary_evaluated_by_default_and_simulated(tmp_path: Path) -> None:
    _require_fashion()
    r = _evaluate(tmp_path, "--reduced", "--lengths", "256", "--sc-variant", "gru-ternary")
    assert {"float", "ternary", "gru-float", "gru-ternary"} <= set(r["variants"])
    assert r["sc"]["variant"] == "gru-ternary" and r["sc"]["samples"] == 64
    # 64 images, chance 0.1: P(>= 0.5) < 1e-15
    assert r["sc"]["lengths"]["256"] >= 0.5


def _shared():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _shared  # noqa: PLC0415
    finally:
        sys.path.remove(str(EXAMPLES))
    return _shared


def test_init_variant_fits_the_least_squares_gain() -> None:
    """init_variant: each quantized matrix's gain g is the grid point of least squared error
    ||g·Q(W/g) - W||² against the float source's W (better than g = 1, the ICLR scale W0 alone),
    and the exported ternary matrix is exactly g·Q(W/g)."""
    require_torch()
    import torch  # noqa: PLC0415

    from sccompiler.train.quantizers import quantize_values  # noqa: PLC0415

    sh = _shared()
    spec = sh.ModelSpec("lstm", 5, 6, 3)
    src = sh.build_model(spec, "float", seed=0)
    with torch.no_grad():                              # weights far larger than W0, as after training
        for p in src.parameters():
            p.mul_(4.0)
    src_ir = sh.export_ir(src, "src")
    dst = sh.build_model(spec, "ternary", seed=1)
    sh.init_variant(dst, src_ir)
    dst.eval()
    ir = sh.export_ir(dst, "dst")
    lay = dst.rnn.layers[0]
    step = math.log(1024) / 240                        # the grid of _fit_gain: 1/16 .. 64, 241 points
    for name, scale, got in (("ih", lay.scale_ih, ir.layers[0].w_ih), ("hh", lay.scale_hh, ir.layers[0].w_hh)):
        w = torch.as_tensor(getattr(src_ir.layers[0], f"w_{name}").data)
        log_g = float(getattr(lay, f"log_gain_{name}").detach())

        def sq(lg: float, w=w, scale=scale) -> float:
            g = math.exp(lg)
            return float(((g * quantize_values(w / g, lay.quant, scale) - w) ** 2).sum())

        assert sq(log_g) < sq(0.0)
        assert sq(log_g) <= min(sq(log_g - step), sq(log_g + step))
        expect = math.exp(log_g) * quantize_values(w / math.exp(log_g), lay.quant, scale).numpy()
        np.testing.assert_allclose(got.data, expect, rtol=1e-6, atol=0)
        assert np.unique(got.data).size <= 3


def test_quick_mode_fine_tunes_from_the_float_model(tmp_path: Path) -> None:
    require_torch()
    _require_fashion()
    proc = subprocess.run([sys.executable, str(HERE / "train.py"), "--quick", "--out", str(tmp_path / "m"),
                           "--variants", "float", "ternary", "gru-float", "gru-ternary"], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert proc.returncode == 0, proc.stdout
    assert f"[ternary] initialised from {tmp_path / 'm' / 'float'}" in proc.stdout
    assert f"[gru-ternary] initialised from {tmp_path / 'm' / 'gru-float'}" in proc.stdout
    rec = load_model(tmp_path / "m" / "gru-ternary").metadata["example"]["training_record"]
    assert rec["init"] == "gru-float" and rec["lr_schedule"] == "cosine"
    assert load_model(tmp_path / "m" / "float").metadata["example"]["training_record"]["init"] is None


@pytest.mark.parametrize("init,msg", [("examples/seq_mnist/model", "does not fit"), ("tests", "neither a model")])
def test_bad_init_is_one_error_line(init: str, msg: str, tmp_path: Path) -> None:
    require_torch()
    _require_fashion()
    proc = subprocess.run([sys.executable, str(HERE / "train.py"), "--quick", "--out", str(tmp_path / "m"),
                           "--variants", "ternary", "--init", init], cwd=ROOT, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and msg in proc.stderr and len(proc.stderr.splitlines()) == 1
