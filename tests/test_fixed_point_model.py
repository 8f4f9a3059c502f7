"""The k-bit fixed-point integer model (sccompiler.quantize.fixed_point): exact oracles (rounding,
saturation, LUT entries, a hand-computed bias-only LSTM), weight formats, convergence to the float
reference as k grows, batch vectorization, and refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sccompiler.errors import InvalidWeightsError, SCValueError, UnsupportedOpError
from sccompiler.ir.model import GRU, LSTM, BatchNormParams, Embedding, InputSpec, Linear, Model, Tensor
from sccompiler.quantize.fixed_point import (
    FixedPointModel,
    activation_lut,
    quantize_activation,
    requantize,
    round_shift,
)
from sccompiler.reference import forward


def rnn(kind: str, I: int = 3, H: int = 5, layers: int = 1, seed: int = 0, lbr: bool = True,
        scale: float = 0.5) -> Model:
    rng = np.random.default_rng(seed)
    lays, fin = [], I
    for k in range(layers):
        G = 4 if kind == "lstm" else 3
        args = dict(input_size=fin, hidden_size=H, w_ih=Tensor(rng.normal(0, scale, (G * H, fin))),
                    w_hh=Tensor(rng.normal(0, scale, (G * H, H))), b_ih=Tensor(rng.normal(0, 0.3, G * H)),
                    b_hh=Tensor(rng.normal(0, 0.3, G * H)))
        lays.append(LSTM(f"lstm{k}", **args) if kind == "lstm" else
                    GRU(f"gru{k}", linear_before_reset=lbr, **args))
        fin = H
    return Model(tuple(lays), InputSpec("features", I), f"toy-{kind}")


# ------------------------------------------------------------------ exact oracles
def test_round_half_up_and_saturation():
    v = np.array([-5, -3, -2, -1, 0, 1, 2, 3, 5])
    # floor(v/2 + 1/2): ties go up (-1.5 -> -1, 1.5 -> 2)
    assert round_shift(v, 1).tolist() == [-2, -1, -1, 0, 0, 1, 1, 2, 3]
    assert round_shift(v, 0).tolist() == v.tolist()
    assert round_shift(v, -2).tolist() == (v * 4).tolist()
    assert requantize(np.array([-1000, -129, 127, 1000]), 0, 8).tolist() == [-128, -128, 127, 127]
    assert requantize(np.array([255, 257]), 1, 8).tolist() == [127, 127]  # 127.5 -> 128 saturates


def test_lut_entries_at_known_points():
    # k = 8: LUT inputs Q4 (code 16 = 1.0), outputs Q7 (x 128), round half up
    sig, tanh = activation_lut("sigmoid", 8, 4), activation_lut("tanh", 8, 4)
    at = lambda table, code: int(table[code + 128])  # noqa: E731
    assert at(sig, 0) == 64                       # sigmoid(0) = 0.5
    assert at(sig, 16) == 94                      # 0.7311 * 128 = 93.58
    assert at(sig, -16) == 34                     # 0.2689 * 128 = 34.42
    assert at(sig, 127) == 127                    # sigmoid(7.94) * 128 = 127.96 -> 128 saturates
    assert at(sig, -128) == 0                     # sigmoid(-8) * 128 = 0.043
    assert at(tanh, 0) == 0 and at(tanh, 8) == 59     # tanh(0.5) * 128 = 59.15
    assert at(tanh, -128) == -128 and at(tanh, 127) == 127
    assert len(sig) == 256 and sig.min() >= 0     # sigmoid codes are never negative
    # cell-state LUT (c in Q5): tanh(1.0) * 128 = 97.48
    assert int(activation_lut("tanh", 8, 5)[32 + 128]) == 97


def test_bias_only_lstm_hand_computed():
    """Zero weights, every pre-activation 1.0: i = f = o = 94, g = 97 (Q7) at k = 8.
    c1 = round(94*97 / 2^9) = round(17.81) = 18 (Q5); h1 = round(94 * tanh_c(18) / 128) with
    tanh(0.5625)*128 = 65.26 -> 65: round(47.73) = 48.  c2 = round((94*18*4 + 94*97) / 512) =
    round(31.03) = 31; tanh(0.96875)*128 = 95.89 -> 96; h2 = 94*96/128 = 70.5 -> 71 (tie up)."""
    H = 2
    lay = LSTM("l", input_size=1, hidden_size=H, w_ih=Tensor(np.zeros((4 * H, 1))),
               w_hh=Tensor(np.zeros((4 * H, H))), b_ih=Tensor(np.full(4 * H, 0.75)),
               b_hh=Tensor(np.full(4 * H, 0.25)))
    fpm = FixedPointModel.from_model(Model((lay,), InputSpec("features", 1)), bits=8)
    res = fpm.forward(np.zeros((1, 2, 1), dtype=np.int64))["l"]
    assert res["c"][0].tolist() == [[18, 18], [31, 31]]
    assert res["h"][0].tolist() == [[48, 48], [71, 71]]


def test_linear_head_hand_computed():
    """The bias-only LSTM above (h = 48, 71 per step, Q7) with a head W = [[0.5, -0.25], [1, 0]],
    b = [0.1, -1]: max|W| = 1 -> f_w = 6 (1 * 2^7 = 128 overflows), W_int = [[32, -16], [64, 0]],
    accumulator Q13, b_int = [floor(819.2 + 0.5), -8192] = [819, -8192].
    y1 = [48*32 - 48*16 + 819, 48*64 - 8192] = [1587, -5120]; y2 = [71*16 + 819, 71*64 - 8192] =
    [1955, -3648]: exact, not requantized."""
    H = 2
    lay = LSTM("l", input_size=1, hidden_size=H, w_ih=Tensor(np.zeros((4 * H, 1))),
               w_hh=Tensor(np.zeros((4 * H, H))), b_ih=Tensor(np.full(4 * H, 0.75)),
               b_hh=Tensor(np.full(4 * H, 0.25)))
    head = Linear("head", in_size=2, out_size=2, weight=Tensor(np.array([[0.5, -0.25], [1.0, 0.0]])),
                  bias=Tensor(np.array([0.1, -1.0])))
    fpm = FixedPointModel.from_model(Model((lay, head), InputSpec("features", 1)), bits=8)
    assert fpm.head.f_w == 6 and fpm.head.acc_frac == 13
    assert fpm.head.weight.tolist() == [[32, -16], [64, 0]] and fpm.head.bias.tolist() == [819, -8192]
    res = fpm.forward(np.zeros((1, 2, 1), dtype=np.int64))
    assert list(res) == ["l", "head"]
    assert res["l"]["h"][0].tolist() == [[48, 48], [71, 71]]
    assert res["head"]["y"].dtype == np.int64
    assert res["head"]["y"][0].tolist() == [[1587, -5120], [1955, -3648]]
    y = fpm.forward_float(np.zeros((1, 2, 1)))
    assert np.array_equal(y[0], np.array([[1587, -5120], [1955, -3648]]) / 2.0 ** 13)
    # worst case: 2 products of -128 * -128 plus the largest bias of head_bias_bits
    bb = fpm.head_bias_bits()
    assert fpm.head_range() == (2 * -128 * 127 - (1 << (bb - 1)), 2 * 128 * 128 + (1 << (bb - 1)) - 1)
    assert fpm.head_bits() == max(bb, 17) + 1


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_head_error_shrinks_with_bits(kind):
    m = rnn(kind, I=3, H=6, layers=1, seed=8)
    rng = np.random.default_rng(9)
    head = Linear("head", in_size=6, out_size=3, weight=Tensor(rng.normal(0, 0.7, (3, 6))),
                  bias=Tensor(rng.normal(0, 0.3, 3)))
    m = m.with_layers([*m.layers, head])
    x = rng.uniform(-1, 1, (16, 8, 3))
    ref = forward(m, x)
    err = {b: float(np.abs(FixedPointModel.from_model(m, b).forward_float(x) - ref).max()) for b in (6, 12)}
    assert ref.shape == (16, 8, 3)
    assert err[12] < 0.02 and err[12] * 8 < err[6]


def test_zero_gru_keeps_zero_state_and_halves():
    """Zero weights/biases: z = 0.5, n = 0, so h_t = round(h_{t-1} / 2) -> 0 from zero state."""
    H = 3
    lay = GRU("g", input_size=2, hidden_size=H, w_ih=Tensor(np.zeros((3 * H, 2))), w_hh=Tensor(np.zeros((3 * H, H))))
    fpm = FixedPointModel.from_model(Model((lay,), InputSpec("features", 2)), bits=6)
    x = fpm.quantize_input(np.random.default_rng(0).uniform(-1, 1, (2, 3, 2)))
    assert not fpm.forward(x)["g"]["h"].any()


def test_weight_format_is_the_finest_that_fits():
    m = rnn("lstm", seed=3)
    for bits in (4, 8, 12):
        fpm = FixedPointModel.from_model(m, bits)
        hi = (1 << (bits - 1)) - 1
        for src, lay in zip(m.layers, fpm.layers):
            for w, wi, f in ((src.w_ih.data, lay.w_ih, lay.f_ih), (src.w_hh.data, lay.w_hh, lay.f_hh)):
                assert np.abs(wi).max() <= hi
                assert np.abs(np.floor(w * 2.0 ** (f + 1) + 0.5)).max() > hi    # one more bit overflows
                assert np.array_equal(wi, np.floor(w * 2.0 ** f + 0.5))
                assert wi.dtype == np.int64


def test_quantize_input():
    q = quantize_activation(np.array([[[-2.0, -1.0, 0.0, 0.5, 0.99, 1.0]]]), 8)
    assert q.tolist() == [[[-128, -128, 0, 64, 127, 127]]]
    with pytest.raises(SCValueError, match="NaN"):
        quantize_activation(np.array([[[np.nan]]]), 8)
    with pytest.raises(SCValueError):
        quantize_activation(np.zeros((2, 3)), 8)


# ------------------------------------------------------------------ closeness to the float model
@pytest.mark.parametrize("kind,lbr", [("lstm", True), ("gru", True), ("gru", False)])
def test_error_shrinks_with_bits(kind, lbr):
    m = rnn(kind, I=3, H=6, layers=2, seed=1, lbr=lbr)
    x = np.random.default_rng(2).uniform(-1, 1, (16, 8, 3))
    ref = forward(m, x)
    err = {b: float(np.abs(FixedPointModel.from_model(m, b).forward_float(x) - ref).max()) for b in (6, 8, 12)}
    assert err[12] < 0.01
    assert err[12] < err[8] < err[6]
    assert err[12] * 8 < err[6]


def test_forward_is_vectorized_over_batch():
    m = rnn("gru", I=2, H=4, layers=2, seed=4, lbr=False)
    fpm = FixedPointModel.from_model(m, 7)
    x = fpm.quantize_input(np.random.default_rng(5).uniform(-1, 1, (5, 4, 2)))
    full = fpm.forward(x)
    for b in range(5):
        one = fpm.forward(x[b:b + 1])
        for name in full:
            assert np.array_equal(one[name]["h"][0], full[name]["h"][b])


def test_saturation_is_exercised_and_bounded():
    """Gates pushed to +-1 by big biases: c grows by ~1 per step and saturates at 31/8 (Q3, k=6);
    big weights saturate the pre-activations."""
    m = rnn("lstm", I=3, H=4, seed=6, scale=3.0)
    lay = m.layers[0]
    m = m.replace_layer(lay.name, lay.replace(b_ih=Tensor(np.full(16, 6.0)), b_hh=None))
    fpm = FixedPointModel.from_model(m, 6)
    res = fpm.forward(fpm.quantize_input(np.random.default_rng(7).uniform(-1, 1, (8, 8, 3))))["lstm0"]
    assert res["c"].min() >= -32 and res["c"].max() <= 31
    assert res["h"].min() >= -32 and res["h"].max() <= 31
    assert (res["c"][:, -1] == 31).any()


def test_frozen():
    fpm = FixedPointModel.from_model(rnn("lstm"), 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fpm.name = "x"  # type: ignore[misc]


# ------------------------------------------------------------------ refusals
def test_refuses_unsupported_layers():
    base = rnn("lstm", I=3, H=4)
    lay = base.layers[0]
    mid = Linear("mid", in_size=4, out_size=4, weight=Tensor(np.ones((4, 4))))
    head = Linear("head", in_size=4, out_size=2, weight=Tensor(np.ones((2, 4))))
    assert FixedPointModel.from_model(base.with_layers([lay, head]), 8).head.name == "head"   # one head is fine
    with pytest.raises(UnsupportedOpError, match="mid"):
        FixedPointModel.from_model(base.with_layers([lay, mid, head]), 8)       # only ONE trailing head
    with pytest.raises(UnsupportedOpError, match="head"):
        FixedPointModel.from_model(Model((head,), InputSpec("features", 4)), 8)  # no recurrent layer
    bn = BatchNormParams(np.ones(16), np.zeros(16), np.zeros(16), np.ones(16))
    with pytest.raises(UnsupportedOpError, match="batch"):
        FixedPointModel.from_model(base.replace_layer(lay.name, lay.replace(bn_x=bn)), 8)
    emb = Embedding("emb", num_embeddings=5, embedding_dim=3, weight=Tensor(np.ones((5, 3))))
    with pytest.raises(UnsupportedOpError):
        FixedPointModel.from_model(Model((emb, lay), InputSpec("tokens", 5)), 8)


def test_refuses_bad_values():
    m = rnn("lstm", I=3, H=4)
    for bits in (3, 17, 8.0, True):
        with pytest.raises(SCValueError):
            FixedPointModel.from_model(m, bits)
    lay = m.layers[0]
    w = lay.w_ih.data.copy()
    w[0, 0] = np.nan
    with pytest.raises(InvalidWeightsError):
        FixedPointModel.from_model(m.replace_layer(lay.name, lay.replace(w_ih=Tensor(w))), 8)
    fpm = FixedPointModel.from_model(m, 8)
    with pytest.raises(SCValueError):
        fpm.forward(np.zeros((1, 2, 4), dtype=np.int64))       # wrong feature count
    with pytest.raises(SCValueError):
        fpm.forward(np.full((1, 2, 3), 200, dtype=np.int64))   # outside Q7
    with pytest.raises(SCValueError):
        fpm.forward(np.zeros((1, 2, 3)))                       # floats, not codes
