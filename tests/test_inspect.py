"""inspect_model: shapes, parameter counts, quantization levels and memory accounting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sccompiler.cli.common import to_jsonable
from sccompiler.frontends import load_model
from sccompiler.inspect import inspect_model
from sccompiler.ir import LSTM, BatchNorm, BatchNormParams, InputSpec, Linear, Model, QuantSpec, Tensor
from sccompiler.quantize import detect_quant

FIXTURES = Path(__file__).parent / "fixtures"
I, H = 3, 4


def _binary_lstm_model() -> Model:
    rng = np.random.default_rng(0)
    w_ih = 0.3 * np.where(rng.normal(size=(4 * H, I)) >= 0, 1.0, -1.0)
    w_hh = 0.2 * rng.integers(-1, 2, size=(4 * H, H)).astype(np.float64)
    w_fc = 0.125 * rng.integers(-8, 8, size=(2, H)).astype(np.float64)
    lstm = LSTM("lstm", input_size=I, hidden_size=H, w_ih=Tensor(w_ih, detect_quant(w_ih)),
                w_hh=Tensor(w_hh, detect_quant(w_hh)), b_ih=Tensor(rng.normal(size=4 * H)),
                bn_c=BatchNormParams(np.ones((5, H)), np.zeros((5, H)), np.zeros((5, H)), np.ones((5, H))))
    fc = Linear("fc", in_size=H, out_size=2,
                weight=Tensor(w_fc, QuantSpec("int", tuple(np.arange(-8, 8) / 8), 0.125, 4)))
    bn = BatchNorm("bn", params=BatchNormParams(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2)))
    return Model((lstm, fc, bn), InputSpec("features", I), name="tiny").validate()


def test_memory_accounting_by_hand():
    info = inspect_model(_binary_lstm_model())
    lstm, fc, bn = info["layers"]
    t = {row["name"]: row for row in lstm["tensors"]}
    assert (t["w_ih"]["scheme"], t["w_ih"]["bits"], t["w_ih"]["levels"]) == ("binary", 1, [-0.3, 0.3])
    assert t["w_hh"]["scheme"] == "ternary" and t["w_hh"]["levels"] == [-0.2, 0.0, 0.2]
    assert t["b_ih"]["scheme"] == "float" and t["b_ih"]["levels_count"] is None
    # 48 one-bit weights + scale, 64 two-bit weights + scale, 16 float biases
    assert t["w_ih"]["memory_bits"] == 48 * 1 + 32
    assert t["w_hh"]["memory_bits"] == 64 * 2 + 32
    assert t["b_ih"]["memory_bits"] == 16 * 32
    assert lstm["batchnorms"][0] == {"name": "bn_c", "features": H, "per_step": True, "steps": 5, "params": 80,
                                     "memory_bits": 80 * 32, "float32_bits": 80 * 32}
    assert lstm["params"] == 48 + 64 + 16 + 80
    assert lstm["memory_bits"] == 80 + 160 + 512 + 80 * 32
    # 16 levels are counted but not listed
    (w,) = fc["tensors"]
    assert (w["levels_count"], w["levels"], w["bits"], w["memory_bits"]) == (16, None, 4, 8 * 4 + 32)
    assert bn["params"] == 8 and bn["tensors"] == []
    totals = info["totals"]
    assert totals["params"] == lstm["params"] + 8 + 8
    assert totals["quantized_params"] == 48 + 64 + 8
    assert totals["float32_bits"] == 32 * totals["params"]
    assert totals["memory_bits"] == lstm["memory_bits"] + 64 + 8 * 32
    assert totals["memory_ratio"] == pytest.approx(totals["float32_bits"] / totals["memory_bits"])
    assert totals["memory_bytes"] == (totals["memory_bits"] + 7) // 8
    json.dumps(to_jsonable(info))  # JSON-ready


def test_binary_lstm_at_paper_size_saves_about_12x():
    """A 1x1000 binary-weight LSTM with float biases and per-step recurrent batch norm (ICLR 2019's
    PTB-char setting): weights shrink 32x, the float parameters keep the total saving near 12-30x."""
    i, h = 50, 1000
    ones = lambda *s: np.ones(s)  # noqa: E731
    binary = QuantSpec("binary", (-1.0, 1.0), 1.0, 1)
    bn = BatchNormParams(ones(4 * h), ones(4 * h), ones(4 * h), ones(4 * h))
    lstm = LSTM("lstm", input_size=i, hidden_size=h, w_ih=Tensor(ones(4 * h, i), binary),
                w_hh=Tensor(ones(4 * h, h), binary), b_ih=Tensor(ones(4 * h)), bn_x=bn, bn_h=bn,
                bn_c=BatchNormParams(ones(h), ones(h), ones(h), ones(h)))
    ratio = inspect_model(Model((lstm,), InputSpec("features", i)))["totals"]["memory_ratio"]
    weights = 4 * h * (i + h)
    floats = 4 * h + 2 * 4 * 4 * h + 4 * h
    assert ratio == pytest.approx(32 * (weights + floats) / (weights + 32 * floats + 64))
    assert 12 < ratio < 32


def test_inspect_fixture_levels_and_metadata():
    info = inspect_model(load_model(FIXTURES / "quant_weights.onnx"))
    rows = {(lay["name"], t["name"]): t for lay in info["layers"] for t in lay["tensors"]}
    assert rows[("lstm", "w_ih")]["levels"] == [-0.25, 0.25]
    assert rows[("lstm", "w_hh")]["levels"] == [-0.5, 0.0, 0.5]
    assert rows[("fc_matmul", "weight")]["levels_count"] == 16
    assert rows[("fc_matmul", "weight")]["shape"] == [2, 4]
    assert info["metadata"]["source"] == "onnx"
    assert info["input"] == {"kind": "features", "size": 3}
