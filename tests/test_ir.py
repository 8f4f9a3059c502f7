"""Model IR: validation of shapes, finiteness and layer chaining; graph view; level detection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.errors import InvalidWeightsError, UnsupportedOpError
from sccompiler.ir import (
    GRU,
    LSTM,
    Activation,
    BatchNormParams,
    Embedding,
    InputSpec,
    Linear,
    Model,
    Tensor,
)
from sccompiler.quantize import detect_quant


def _lstm(name="lstm0", i=3, h=4, rng=None):
    rng = rng or np.random.default_rng(0)
    return LSTM(name=name, input_size=i, hidden_size=h,
                w_ih=Tensor(rng.normal(size=(4 * h, i))), w_hh=Tensor(rng.normal(size=(4 * h, h))),
                b_ih=Tensor(np.zeros(4 * h)))


def test_valid_chain_and_graph():
    m = Model(layers=(_lstm(), Linear(name="fc", in_size=4, out_size=2, weight=Tensor(np.ones((2, 4)))),
                      Activation(name="sm", function="softmax")),
              input=InputSpec("features", 3)).validate()
    g = m.graph()
    assert list(g.nodes) == ["input", "lstm0", "fc", "sm"]
    assert list(g.edges) == [("input", "lstm0"), ("lstm0", "fc"), ("fc", "sm")]
    assert m.param_count() == 16 * 3 + 16 * 4 + 16 + 8


def test_shape_mismatch_named():
    bad = _lstm().replace(w_hh=Tensor(np.zeros((16, 5))))
    with pytest.raises(InvalidWeightsError, match=r"w_hh has shape \(16, 5\), expected \(16, 4\)"):
        bad.validate()


def test_chain_width_mismatch():
    m = Model(layers=(_lstm(), Linear(name="fc", in_size=5, out_size=2, weight=Tensor(np.ones((2, 5))))),
              input=InputSpec("features", 3))
    with pytest.raises(InvalidWeightsError, match="expects 5 input features but receives 4"):
        m.validate()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_rejected(value):
    w = np.ones((12, 2))
    w[3, 1] = value
    g = GRU(name="g", input_size=2, hidden_size=4, w_ih=Tensor(w), w_hh=Tensor(np.ones((12, 4))))
    with pytest.raises(InvalidWeightsError, match="1 NaN/inf"):
        g.validate()


def test_token_model_needs_embedding_first():
    emb = Embedding(name="emb", num_embeddings=10, embedding_dim=3, weight=Tensor(np.zeros((10, 3))))
    Model(layers=(emb, _lstm()), input=InputSpec("tokens", 10)).validate()
    with pytest.raises(InvalidWeightsError, match="must start with an Embedding"):
        Model(layers=(_lstm(),), input=InputSpec("tokens", 10)).validate()
    with pytest.raises(InvalidWeightsError, match="vocabulary"):
        Model(layers=(emb, _lstm()), input=InputSpec("tokens", 11)).validate()


def test_unknown_activation():
    with pytest.raises(UnsupportedOpError, match="'gelu'"):
        Activation(name="a", function="gelu").validate()


def test_batchnorm_per_step_rows():
    bn = BatchNormParams(gamma=np.array([[1.0, 2.0], [3.0, 4.0]]), beta=np.zeros((2, 2)),
                         mean=np.ones((2, 2)), var=np.full((2, 2), 3.0), eps=1.0)
    s0, b0 = bn.at(0)
    s9, b9 = bn.at(9)  # beyond the last step: last row
    np.testing.assert_allclose(s0, [0.5, 1.0])
    np.testing.assert_allclose(s9, [1.5, 2.0])
    np.testing.assert_allclose(b9, -s9)


@given(st.floats(min_value=1e-3, max_value=1e3), st.integers(1, 200), st.integers(0, 2**31 - 1))
def test_detect_binary_and_ternary(scale, n, seed):
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=n)
    spec = detect_quant(scale * np.concatenate([signs, [-1.0, 1.0]]))
    assert spec.scheme == "binary" and spec.bits == 1
    assert spec.scale == pytest.approx(scale)
    tern = scale * np.concatenate([rng.choice([-1.0, 0.0, 1.0], size=n), [-1.0, 0.0, 1.0]])
    spec = detect_quant(tern.astype(np.float32))  # float32 round-off must not matter
    assert spec.scheme == "ternary" and spec.levels is not None and len(spec.levels) == 3
    assert spec.scale == pytest.approx(scale, rel=1e-6)


def test_detect_int_exp_float():
    spec = detect_quant(0.25 * np.array([-3, -1, 0, 2, 3]))
    assert (spec.scheme, spec.scale, spec.bits) == ("int", 0.25, 3)
    spec = detect_quant(np.array([-0.5, -0.125, 0.0, 0.25, 1.0, 2.0]))
    assert spec.scheme in ("int", "exp")  # powers of two are also integer multiples of the smallest
    spec = detect_quant(np.array([-1.0, 1.0 / 64, 8.0, 1024.0, 2.0 ** -20]))
    assert spec.scheme == "exp"
    assert detect_quant(np.random.default_rng(1).normal(size=1000)).scheme == "float"
