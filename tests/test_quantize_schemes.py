"""Exact definitions of the docs/background.md §4 quantizers, their statistics, and model-level quantization."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sccompiler.errors import ConfigError, InvalidWeightsError, SCValueError
from sccompiler.ir import GRU, LSTM, Embedding, InputSpec, Linear, Model, Tensor
from sccompiler.quantize import (
    SCHEMES,
    binary,
    exponential,
    iclr_scale,
    ott_scale,
    ott_ternary,
    parse_scheme,
    pow2_ternary,
    quantization_summary,
    quantize_model,
    scheme_names,
    ternary,
    uniform_int,
)

weights = hnp.arrays(np.float64, st.integers(1, 40),
                     elements=st.floats(-4, 4, allow_nan=False, allow_subnormal=False))
#: binomial tolerance: k standard deviations of a mean of n Bernoulli draws
K_SIGMA = 5.0


def binomial_tol(p: np.ndarray, n: int, span: float) -> np.ndarray:
    """Tolerance of the sample mean of a two-valued variable whose levels are ``span`` apart."""
    return K_SIGMA * span * np.sqrt(p * (1 - p) / n) + 1e-12


# ------------------------------------------------------------------------------------- scales
def test_scales_match_the_papers():
    assert iclr_scale(10, 40) == pytest.approx(0.5 * math.sqrt(6 / 50), rel=0, abs=0)
    assert ott_scale(10, 40) == math.sqrt(6 / 50)
    # LSTM 3 -> 2 hidden: input weights fan 3 -> 8, recurrent 2 -> 8
    assert iclr_scale(3, 8) == 0.5 * math.sqrt(6 / 11)


@pytest.mark.parametrize("fan", [0, -3, 2.5, True])
def test_bad_fan_is_rejected(fan):
    with pytest.raises(SCValueError, match="fan_in"):
        binary(np.ones(3), fan, 4)


def test_missing_fan_and_w0_is_rejected():
    with pytest.raises(SCValueError):
        ternary(np.ones(3))
    with pytest.raises(SCValueError, match="w0"):
        ternary(np.ones(3), w0=-1.0)


def test_nan_weights_are_rejected():
    with pytest.raises(InvalidWeightsError):
        binary(np.array([0.1, np.nan]), w0=1.0)


def test_stochastic_without_seed_is_rejected():
    with pytest.raises(SCValueError, match="seed"):
        binary(np.ones(3), w0=1.0, stochastic=True)


# --------------------------------------------------------------------------- hand-computed
def test_deterministic_binary_hand_cases():
    w0 = 0.25
    w = np.array([-1.0, -w0, -1e-12, 0.0, 1e-12, w0, 3.0])
    q, spec = binary(w, w0=w0)
    np.testing.assert_array_equal(q, [-w0, -w0, -w0, w0, w0, w0, w0])
    assert (spec.scheme, spec.levels, spec.scale, spec.bits) == ("binary", (-w0, w0), w0, 1)
    assert not spec.stochastic and spec.seed is None


def test_binary_uses_iclr_scale_from_fans():
    q, spec = binary(np.array([0.3, -0.3]), 3, 8)
    w0 = 0.5 * math.sqrt(6 / 11)
    assert spec.scale == w0
    np.testing.assert_array_equal(q, [w0, -w0])


def test_stochastic_binary_saturates_at_plus_minus_w0():
    w0 = 0.5
    w = np.array([-2.0, -w0, w0, 2.0] * 50)
    q, spec = binary(w, w0=w0, stochastic=True, seed=3)
    np.testing.assert_array_equal(q, np.where(w > 0, w0, -w0))
    assert spec.stochastic and spec.seed == 3


def test_iclr_ternary_thresholds():
    w0 = 0.75  # thresholds at ±0.25 are exact in binary floating point
    w = np.array([-1.0, -w0, -0.2500001, -0.25, 0.0, 0.25, 0.2500001, w0, 1.0])
    q, spec = ternary(w, w0=w0)
    # the authors' [W > -W0/3] + [W > W0/3] - 1: -W0/3 itself maps to -W0, +W0/3 to 0
    np.testing.assert_array_equal(q, [-w0, -w0, -w0, -w0, 0, 0, w0, w0, w0])
    assert spec.levels == (-w0, 0.0, w0) and spec.bits == 2 and spec.scheme == "ternary"
    assert not np.any(np.signbit(q[q == 0]))  # no -0.0


def test_ott_ternary_thresholds_follow_their_code():
    w0 = 0.5  # thresholds ±0.25; their code: W > -W0/2 and W > W0/2
    w = np.array([-1.0, -0.2500001, -0.25, -0.2499999, 0.0, 0.25, 0.2500001, 1.0])
    q, spec = ott_ternary(w, w0=w0)
    np.testing.assert_array_equal(q, [-w0, -w0, -w0, 0, 0, 0, w0, w0])
    assert spec.scheme == "ott-ternary" and spec.scale == w0
    assert ott_ternary(np.zeros(1), 10, 14)[1].scale == math.sqrt(6 / 24)


def test_stochastic_ternary_zero_and_saturation():
    w0 = 0.5
    w = np.array([0.0, w0, -w0, 1.0, -1.0] * 40)
    for fn in (ternary, ott_ternary):
        q, _ = fn(w, w0=w0, stochastic=True, seed=11)
        np.testing.assert_array_equal(q, np.sign(w) * w0)


def test_pow2_ternary_defaults_and_rounding():
    w = np.array([-3.0, -0.75, -0.25, -0.2499, 0.0, 0.2499, 0.25, 0.7499, 0.75, 3.0])
    q, spec = pow2_ternary(w)
    # round(2W) half away from zero, clipped to [-1, 1], / 2
    np.testing.assert_array_equal(q, [-0.5, -0.5, -0.5, 0, 0, 0, 0.5, 0.5, 0.5, 0.5])
    assert spec.levels == (-0.5, 0.0, 0.5) and spec.scale == 0.5 and spec.bits == 2


def test_pow2_ternary_more_bits():
    # f=2, i=1: round(4W) clipped to ±7, / 4
    q, spec = pow2_ternary(np.array([0.1, 0.125, 0.3, -1.0, 5.0]), fractional_bits=2, integer_bits=1)
    np.testing.assert_array_equal(q, [0.0, 0.25, 0.25, -1.0, 1.75])
    assert len(spec.levels) == 15 and spec.bits == 4


def test_exponential_hand_cases():
    w = np.array([0.0, 1.0, 1.5, 1.5000001, -1.4, 0.75, 3.0, 2.0 ** -30, 5000.0, -0.1])
    q, spec = exponential(w)
    # k = floor(log2|W|); up iff p = |W|/2^k - 1 > 0.5 (tie rounds down, their strict >)
    np.testing.assert_array_equal(
        q, [0.0, 1.0, 1.0, 2.0, -1.0, 0.5, 2.0, 2.0 ** -22, 1024.0, -0.125])
    assert spec.scheme == "exp" and spec.scale == 2.0 ** -22
    assert len(spec.levels) == 2 * 33 + 1 and spec.bits == 7


def test_exponential_exact_at_powers_below_one():
    # 2^k*(1-eps) must use k-1 (log2 rounding would say k and give p < 0)
    w = np.nextafter(2.0 ** np.arange(-5, 5), 0)
    q, _ = exponential(w)
    np.testing.assert_array_equal(q, 2.0 ** np.arange(-5, 5))


def test_int_k_hand_cases():
    w = np.array([-1.0, -0.3, 0.0, 0.25, 0.5, 2.0])
    q, spec = uniform_int(w, 3)  # scale = 2/3, codes round(w*1.5) half away from zero
    np.testing.assert_allclose(q, np.array([-2, 0, 0, 0, 1, 3]) * (2 / 3), rtol=0, atol=0)
    assert spec.scheme == "int" and spec.bits == 3 and spec.scale == 2 / 3 and len(spec.levels) == 7
    q8, spec8 = uniform_int(w, 8)
    # -1/scale = -63.5 rounds away from 0
    assert spec8.scale == 2.0 / 127 and q8[-1] == 2.0 and q8[0] == -64 * (2.0 / 127)


def test_int_all_zero_tensor():
    q, spec = uniform_int(np.zeros(4), 4)
    np.testing.assert_array_equal(q, 0.0)
    assert spec.scale == 1.0


@pytest.mark.parametrize("bits", [0, 1, 17, 2.0])
def test_int_bad_bits(bits):
    with pytest.raises(ConfigError):
        uniform_int(np.ones(2), bits)


# ------------------------------------------------------------------------------- properties
@given(weights, st.floats(0.01, 2.0), st.integers(0, 2 ** 32))
def test_outputs_lie_in_levels_and_seed_is_deterministic(w, w0, seed):
    cases = [
        lambda s: binary(w, w0=w0, stochastic=s is not None, seed=s),
        lambda s: ternary(w, w0=w0, stochastic=s is not None, seed=s),
        lambda s: ott_ternary(w, w0=w0, stochastic=s is not None, seed=s),
        lambda s: exponential(w, stochastic=s is not None, seed=s),
        lambda s: uniform_int(w, 4, stochastic=s is not None, seed=s),
    ]
    for fn in cases:
        for s in (None, seed):
            q, spec = fn(s)
            assert q.shape == w.shape and q.dtype == np.float64
            assert set(q.tolist()) <= set(spec.levels)
            q2, _ = fn(s)
            np.testing.assert_array_equal(q, q2)
    q, spec = pow2_ternary(w)
    assert set(q.tolist()) <= set(spec.levels)


@given(weights, st.floats(0.01, 2.0))
def test_deterministic_quantizers_keep_sign_and_zero(w, w0):
    for q in (ternary(w, w0=w0)[0], ott_ternary(w, w0=w0)[0], exponential(w)[0],
              uniform_int(w, 5)[0], pow2_ternary(w)[0]):
        assert np.all(q * w >= 0)
        assert np.all(q[w == 0] == 0)
    qb = binary(w, w0=w0)[0]
    assert np.all(np.where(w >= 0, qb > 0, qb < 0))


@given(weights)
def test_exponential_deterministic_is_nearest_of_the_two_powers(w):
    w = w[(np.abs(w) > 2.0 ** -20) & (np.abs(w) < 2.0 ** 9)]
    q, _ = exponential(w)
    mag = np.abs(w)
    low = 2.0 ** np.floor(np.log2(mag))
    low = np.where(low > mag, low / 2, low)  # guard log2 rounding
    # |q| is one of the two bracketing powers and no farther from |W| than the other
    assert np.all((np.abs(q) == low) | (np.abs(q) == 2 * low))
    other = np.where(np.abs(q) == low, 2 * low, low)
    assert np.all(np.abs(np.abs(q) - mag) <= np.abs(other - mag))


@given(weights, st.integers(2, 12))
def test_int_error_is_at_most_half_a_step(w, bits):
    q, spec = uniform_int(w, bits)
    assert np.all(np.abs(q - w) <= spec.scale / 2 * (1 + 1e-12))
    assert np.max(np.abs(q)) <= np.max(np.abs(w)) * (1 + 1e-12)


# -------------------------------------------------------------------------------- statistics
N_DRAWS = 20000


def test_stochastic_binary_is_unbiased_inside_w0():
    w0 = 0.4
    w = np.array([-0.4, -0.3, -0.1, 0.0, 0.05, 0.2, 0.39])
    q, _ = binary(np.repeat(w[None], N_DRAWS, axis=0), w0=w0, stochastic=True, seed=123)
    p = (w / w0 + 1) / 2
    assert np.all(np.abs(q.mean(axis=0) - w) <= binomial_tol(p, N_DRAWS, 2 * w0))
    # and it is not the deterministic quantizer (the test can fail)
    assert np.any(q[:, 3] < 0)


@pytest.mark.parametrize("fn", [ternary, ott_ternary])
def test_stochastic_ternary_is_unbiased_inside_w0(fn):
    w0 = 0.6
    w = np.array([-0.59, -0.3, -0.01, 0.0, 0.12, 0.45])
    q, _ = fn(np.repeat(w[None], N_DRAWS, axis=0), w0=w0, stochastic=True, seed=7)
    p = np.abs(w) / w0
    assert np.all(np.abs(q.mean(axis=0) - w) <= binomial_tol(p, N_DRAWS, w0))
    assert np.all(np.isin(q[:, 2], [-w0, 0.0]))  # only sign(W) or 0
    assert np.all(q[:, 3] == 0)


def test_stochastic_exponential_is_unbiased():
    w = np.array([0.1, -0.7, 3.3, 1.0])
    q, _ = exponential(np.repeat(w[None], N_DRAWS, axis=0), stochastic=True, seed=5)
    low = 2.0 ** np.floor(np.log2(np.abs(w)))
    p = np.abs(w) / low - 1
    assert np.all(np.abs(q.mean(axis=0) - w) <= binomial_tol(p, N_DRAWS, low))
    assert np.all(q[:, 3] == 1.0)


def test_stochastic_int_is_unbiased():
    w = np.array([1.0, 0.33, -0.71, 0.5])
    q, spec = uniform_int(np.repeat(w[None], N_DRAWS, axis=0), 3, stochastic=True, seed=9)
    frac = np.abs(w / spec.scale) % 1
    assert np.all(np.abs(q.mean(axis=0) - w) <= binomial_tol(frac, N_DRAWS, spec.scale))


def test_generator_seed_is_accepted_and_consumed():
    rng = np.random.default_rng(1)
    a, spec = binary(np.zeros(64), w0=1.0, stochastic=True, seed=rng)
    b, _ = binary(np.zeros(64), w0=1.0, stochastic=True, seed=rng)
    assert spec.seed is None and not np.array_equal(a, b)


# ------------------------------------------------------------------------------- registry
def test_registry_and_parse():
    assert set(SCHEMES) == {"binary", "ternary", "ott-ternary", "pow2-ternary", "exp", "int"}
    assert "int:K" in scheme_names()
    assert parse_scheme("int:8")[1] == 8 and parse_scheme("exp")[0].name == "exp"


@pytest.mark.parametrize("bad", ["quaternary", "int", "int:1", "int:17", "int:x", "", "Binary"])
def test_parse_bad_scheme(bad):
    with pytest.raises(ConfigError):
        parse_scheme(bad)


# -------------------------------------------------------------------------------- model level
def _model(rng) -> Model:
    lstm = LSTM("lstm", input_size=3, hidden_size=2,
                w_ih=Tensor(rng.normal(size=(8, 3))), w_hh=Tensor(rng.normal(size=(8, 2))),
                b_ih=Tensor(rng.normal(size=8)), b_hh=Tensor(rng.normal(size=8)))
    gru = GRU("gru", input_size=2, hidden_size=4,
              w_ih=Tensor(rng.normal(size=(12, 2))), w_hh=Tensor(rng.normal(size=(12, 4))))
    lin = Linear("fc", in_size=4, out_size=5, weight=Tensor(rng.normal(size=(5, 4))),
                 bias=Tensor(rng.normal(size=5)))
    emb = Embedding("emb", num_embeddings=6, embedding_dim=3, weight=Tensor(rng.normal(size=(6, 3))))
    return Model((emb, lstm, gru, lin), InputSpec("tokens", 6), name="m").validate()


def test_quantize_model_uses_per_tensor_fans():
    model = _model(np.random.default_rng(0))
    q = quantize_model(model, "binary")
    assert q is not model and model.layer("lstm").w_ih.quant.scheme == "float"
    expect = {("lstm", "w_ih"): (3, 8), ("lstm", "w_hh"): (2, 8), ("gru", "w_ih"): (2, 12),
              ("gru", "w_hh"): (4, 12), ("fc", "weight"): (4, 5)}
    for (lay, field), (fi, fo) in expect.items():
        t = getattr(q.layer(lay), field)
        w0 = iclr_scale(fi, fo)
        assert t.quant.scale == w0 and t.quant.scheme == "binary"
        np.testing.assert_array_equal(t.data, binary(getattr(model.layer(lay), field).data, fi, fo)[0])
    # biases and embeddings stay float by default
    assert q.layer("lstm").b_ih.quant.scheme == "float"
    np.testing.assert_array_equal(q.layer("lstm").b_ih.data, model.layer("lstm").b_ih.data)
    assert q.layer("emb").weight.quant.scheme == "float"
    assert q.metadata["quantization"]["scheme"] == "binary"
    q.validate()


def test_quantize_model_ott_ternary_and_embeddings():
    model = _model(np.random.default_rng(1))
    q = quantize_model(model, "ott-ternary", which=("weights", "embeddings"))
    assert q.layer("emb").weight.quant.scale == ott_scale(6, 3)
    # Ott et al. scale each gate matrix by its own fan: (inputs, H) and (H, H), not the stack
    assert q.layer("gru").w_hh.quant.scale == ott_scale(4, 4)
    assert q.layer("gru").w_ih.quant.scale == ott_scale(2, 4)
    assert q.layer("lstm").w_ih.quant.scale == ott_scale(3, 2)
    assert q.metadata["quantization"]["scheme"] == "ott-ternary"


def test_quantize_model_stochastic_seeded():
    model = _model(np.random.default_rng(2))
    a = quantize_model(model, "ternary", stochastic=True, seed=42)
    b = quantize_model(model, "ternary", stochastic=True, seed=42)
    c = quantize_model(model, "ternary", stochastic=True, seed=43)
    wa, wb, wc = (m.layer("lstm").w_hh.data for m in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert a.layer("lstm").w_hh.quant.seed == 42 and a.layer("lstm").w_hh.quant.stochastic
    assert any(not np.array_equal(getattr(x.layer(n), "w_ih").data, getattr(y.layer(n), "w_ih").data)
               for x, y in [(a, c)] for n in ("lstm", "gru"))
    drawn = quantize_model(model, "binary", stochastic=True)
    assert isinstance(drawn.metadata["quantization"]["seed"], int)
    again = quantize_model(model, "binary", stochastic=True, seed=drawn.metadata["quantization"]["seed"])
    np.testing.assert_array_equal(drawn.layer("fc").weight.data, again.layer("fc").weight.data)


def test_quantize_model_biases_and_errors():
    model = _model(np.random.default_rng(3))
    q = quantize_model(model, "int:4", which=("weights", "biases"))
    assert q.layer("lstm").b_hh.quant.scheme == "int" and q.layer("fc").bias.quant.bits == 4
    with pytest.raises(ConfigError, match="fan"):
        quantize_model(model, "binary", which=("biases",))
    with pytest.raises(ConfigError, match="stochastic"):
        quantize_model(model, "pow2-ternary", stochastic=True, seed=1)
    with pytest.raises(ConfigError):
        quantize_model(model, "int:0")
    with pytest.raises(ConfigError):
        quantize_model(model, "binary", which=("gates",))
    with pytest.raises(SCValueError):
        quantize_model(model, "binary", stochastic=True, seed=-1)


def test_quantization_summary_rows():
    q = quantize_model(_model(np.random.default_rng(4)), "exp")
    rows = {(r["layer"], r["tensor"]): r for r in quantization_summary(q)}
    assert rows[("lstm", "w_ih")]["scheme"] == "exp" and rows[("lstm", "w_ih")]["levels"] is None
    assert rows[("lstm", "b_ih")]["n_levels"] is None
    assert rows[("fc", "weight")]["shape"] == [5, 4]


def test_quantize_model_refuses_to_requantize_silently():
    model = _model(np.random.default_rng(5))
    once = quantize_model(model, "ternary")
    with pytest.raises(ConfigError, match=r"nothing to quantize: .*lstm.w_ih \(ternary\)"):
        quantize_model(once, "binary")
    twice = quantize_model(once, "binary", requantize=True)
    assert twice.layer("lstm").w_ih.quant.scheme == "binary"
    # embeddings were not selected the first time, so selecting only them is fine
    assert quantize_model(once, "int:4", which=("embeddings",)).layer("emb").weight.quant.bits == 4


def test_quantize_model_quantizes_only_what_is_still_float_and_selected_layers():
    model = _model(np.random.default_rng(6))
    core = quantize_model(model, "binary", layers=["lstm", "gru"])        # the ICLR authors' layout
    assert core.layer("fc").weight.quant.scheme == "float"
    assert core.metadata["quantization"]["layers"] == ["gru", "lstm"]
    # a float head next to a binary core: only the head is quantized, the core kept bit for bit
    full = quantize_model(core, "int:8")
    assert full.layer("fc").weight.quant.scheme == "int" and full.layer("fc").weight.quant.bits == 8
    for name in ("lstm", "gru"):
        for field in ("w_ih", "w_hh"):
            np.testing.assert_array_equal(getattr(full.layer(name), field).data, getattr(core.layer(name), field).data)
            assert getattr(full.layer(name), field).quant == getattr(core.layer(name), field).quant
    assert full.metadata["quantization"]["kept"] == ["lstm.w_ih", "lstm.w_hh", "gru.w_ih", "gru.w_hh"]
    with pytest.raises(ConfigError, match="unknown layer.*'nope'.*emb, lstm, gru, fc"):
        quantize_model(model, "binary", layers=["nope"])
def test_non_numeric_weights_are_rejected():
    with pytest.raises(InvalidWeightsError):
        binary(["a", "b"], w0=1.0)


# ------------------------------------------------------------------ ports of the authors' code
def iclr_port(w: np.ndarray, n_inputs: int, n_units: int, ternary_mode: bool, gates: int = 4) -> np.ndarray:
    """arashardakani/Learning-Recurrent-Binary-Ternary-Weights sMNIST/layer.py, deterministic
    binarize_weights_x / _a, transcribed to numpy float32 (Theano floatX)."""
    high = np.float32(np.sqrt(6.0 / (n_inputs + gates * n_units)))
    w0 = np.float32(high / 2)
    w = w.astype(np.float32)
    if not ternary_mode:
        return np.where(w >= 0, w0, -w0)
    val = (w > -w0 / 3) * 1 + (w > w0 / 3) * 1 - 1
    return val * w0


def ott_port(w: np.ndarray, num_inputs: int, num_units: int, hid: bool) -> np.ndarray:
    """ottj/QuantizedRNN rounding_rnn.py (W0 per gate matrix) + regularization.ternarize_weights
    (deterministic), in numpy float32."""
    high, high_hid = np.float32(np.sqrt(6.0 / (num_inputs + num_units))), np.float32(np.sqrt(6.0 / (2 * num_units)))
    w0 = high_hid if hid else high
    w = w.astype(np.float32)
    val = (w > -w0 / 2.0) * 1 + (w > w0 / 2.0) * 1 - 1
    return val * w0


def _with_thresholds(rng, shape, w0: float, divisor: int) -> np.ndarray:
    """Random weights with some entries exactly on (and one float32 ulp around) the thresholds."""
    w = rng.uniform(-1.5 * w0, 1.5 * w0, shape)
    t = np.float32(np.float32(w0) / np.float32(divisor))
    flat = w.reshape(-1)
    specials = [t, -t, np.nextafter(t, np.float32(1)), np.nextafter(-t, np.float32(-1)),
                np.nextafter(t, np.float32(0)), np.nextafter(-t, np.float32(0)), 0.0]
    flat[:len(specials)] = np.array(specials, dtype=np.float64)
    return w


@pytest.mark.parametrize("scheme", ["binary", "ternary"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iclr_quantizers_match_a_port_of_the_authors_code(scheme, seed):
    rng = np.random.default_rng(seed)
    I, H = 5, 7
    w0 = iclr_scale(I, 4 * H)
    lstm = LSTM("lstm", input_size=I, hidden_size=H, w_ih=Tensor(_with_thresholds(rng, (4 * H, I), w0, 3)),
                w_hh=Tensor(_with_thresholds(rng, (4 * H, H), iclr_scale(H, 4 * H), 3)))
    q = quantize_model(Model((lstm,), InputSpec("features", I), name="m").validate(), scheme).layer("lstm")
    for field, fan_in in (("w_ih", I), ("w_hh", H)):
        ours = getattr(q, field)
        theirs = iclr_port(getattr(lstm, field).data, fan_in, H, scheme == "ternary")
        # the same level for every weight (threshold values included), the level values to float32
        np.testing.assert_array_equal(np.sign(ours.data), np.sign(theirs))
        np.testing.assert_allclose(ours.data, theirs, rtol=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ott_ternary_matches_a_port_of_their_code_per_gate(seed):
    rng = np.random.default_rng(seed)
    I, H = 6, 5
    w_ih = _with_thresholds(rng, (3 * H, I), ott_scale(I, H), 2)
    w_hh = _with_thresholds(rng, (3 * H, H), ott_scale(H, H), 2)
    gru = GRU("gru", input_size=I, hidden_size=H, w_ih=Tensor(w_ih), w_hh=Tensor(w_hh))
    q = quantize_model(Model((gru,), InputSpec("features", I), name="m").validate(), "ott-ternary").layer("gru")
    for g in range(3):     # every gate matrix (I, H) / (H, H) on its own, as in their Lasagne layer
        rows = slice(g * H, (g + 1) * H)
        for ours, real, hid in ((q.w_ih, w_ih, False), (q.w_hh, w_hh, True)):
            theirs = ott_port(real[rows].T, I, H, hid).T
            np.testing.assert_array_equal(np.sign(ours.data[rows]), np.sign(theirs))
            np.testing.assert_allclose(ours.data[rows], theirs, rtol=1e-7)
    # with the stack's fan (the former rule) a visible share of the entries gets another level
    stacked = ott_ternary(w_ih, I, 3 * H)[0]
    assert np.mean(np.sign(stacked) != np.sign(q.w_ih.data)) > 0.05


@given(hnp.arrays(np.float32, st.integers(1, 60), elements=st.floats(-1, 1, width=32, allow_subnormal=False)),
       st.integers(1, 64), st.integers(1, 64))
def test_ternary_codes_equal_the_ports_on_float32_weights(w, fan_in, hidden):
    w = w.astype(np.float64)
    ours = ternary(w, fan_in, 4 * hidden)[0]
    np.testing.assert_array_equal(np.sign(ours), np.sign(iclr_port(w, fan_in, hidden, True)))
    ours = ott_ternary(w, fan_in, hidden)[0]
    np.testing.assert_array_equal(np.sign(ours), np.sign(ott_port(w, fan_in, hidden, False)))
