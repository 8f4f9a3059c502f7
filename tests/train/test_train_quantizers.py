"""Training quantizers: forward values equal the numpy schemes (the definition of truth) and hand
cases, straight-through gradients, stochastic means within binomial tolerance, GXNOR ternary
activation, tabulated activations, and the import guard without torch."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sccompiler.errors import ConfigError, SCValueError
from sccompiler.quantize import schemes
from sccompiler.testing import require_torch

K_SIGMA = 5.0


@pytest.fixture(scope="module")
def tr():
    torch = require_torch()
    torch.set_num_threads(1)
    import sccompiler.train as train  # noqa: PLC0415

    return train


def _numpy(scheme: str, w: np.ndarray, fan_in: int, fan_out: int, **kw):
    fn = {"binary": schemes.binary, "ternary": schemes.ternary, "ott-ternary": schemes.ott_ternary}
    if scheme in fn:
        return fn[scheme](w, fan_in, fan_out, **kw)
    if scheme == "pow2-ternary":
        return schemes.pow2_ternary(w)
    return schemes.exponential(w, **kw)


ALL = ("binary", "ternary", "ott-ternary", "pow2-ternary", "exp")
STOCH = ("binary", "ternary", "ott-ternary", "exp")
weights = hnp.arrays(np.float64, st.integers(1, 30),
                     elements=st.floats(-3, 3, allow_nan=False, allow_subnormal=False))


@pytest.mark.parametrize("scheme", ALL)
@given(w=weights, fan_in=st.integers(1, 50), fan_out=st.integers(1, 200))
def test_deterministic_values_equal_numpy_schemes(tr, scheme, w, fan_in, fan_out):
    import torch  # noqa: PLC0415

    cfg = tr.QuantConfig(scheme)
    scale = tr.weight_scale(cfg, fan_in, fan_out)
    q_np, _ = _numpy(scheme, w, fan_in, fan_out)
    q = tr.quantizers.quantize_values(torch.from_numpy(w), cfg, scale).numpy()
    np.testing.assert_array_equal(q, q_np)


@pytest.mark.parametrize("scheme", STOCH)
@given(w=weights, fan_in=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_stochastic_values_equal_numpy_schemes_for_the_same_uniforms(tr, scheme, w, fan_in, seed):
    """numpy draws u = rng.random(shape) and keeps the upper value when u < p: the torch rule fed
    the same uniforms must give the same weights."""
    import torch  # noqa: PLC0415

    cfg = tr.QuantConfig(scheme, stochastic=True)
    scale = tr.weight_scale(cfg, fan_in, 4 * fan_in)
    q_np, _ = _numpy(scheme, w, fan_in, 4 * fan_in, stochastic=True, seed=seed)
    u = torch.from_numpy(np.random.default_rng(seed).random(w.shape))
    q = tr.quantizers.quantize_values(torch.from_numpy(w), cfg, scale, noise=u).numpy()
    np.testing.assert_array_equal(q, q_np)


def test_hand_cases(tr):
    import torch  # noqa: PLC0415

    qv = tr.quantizers.quantize_values
    w0 = 0.5 * math.sqrt(6 / (3 + 8))
    w = torch.tensor([-1.0, -w0 / 2, -1e-9, 0.0, 1e-9, w0 / 2, w0 / 3 * 1.01, 1.0], dtype=torch.float64)
    binary = qv(w, tr.QuantConfig("binary"), w0).tolist()
    assert binary == [-w0, -w0, -w0, w0, w0, w0, w0, w0]  # sign(0) = +1
    tern = qv(w, tr.QuantConfig("ternary"), w0).tolist()
    assert tern == [-w0, -w0, 0.0, 0.0, 0.0, w0, w0, w0]
    ott = 2 * w0
    w_ott = torch.tensor([-ott / 2, -ott / 2 * 0.99, ott / 2, ott / 2 * 1.01], dtype=torch.float64)
    # Ott's asymmetric comparison: -W0/2 itself maps to -W0, +W0/2 to 0
    assert qv(w_ott, tr.QuantConfig("ott-ternary"), ott).tolist() == [-ott, 0.0, 0.0, ott]
    p2 = torch.tensor([-0.75, -0.25, -0.2499, 0.0, 0.2499, 0.25, 0.3, 7.0], dtype=torch.float64)
    assert qv(p2, tr.QuantConfig("pow2-ternary"), 0.5).tolist() == [-0.5, -0.5, 0, 0, 0, 0.5, 0.5, 0.5]
    ex = torch.tensor([0.0, 0.75, 0.76, -0.76, 3.0, 3.1, 1e-9, 5000.0], dtype=torch.float64)
    # 0.75 = 0.5*(1+0.5) and 3 = 2*(1+0.5): p = 0.5 is not > 0.5, round down; 1e-9 < 2^-22
    # becomes 2^-22; 5000 > 2^10 caps at 2^10
    assert qv(ex, tr.QuantConfig("exp"), None).tolist() == [0.0, 0.5, 1.0, -1.0, 2.0, 4.0, 2.0 ** -22,
                                                             1024.0]


@pytest.mark.parametrize("scheme", ["binary", "ternary", "ott-ternary", "pow2-ternary"])
def test_straight_through_gradient_clipped_window(tr, scheme):
    import torch  # noqa: PLC0415

    cfg = tr.QuantConfig(scheme)
    scale = tr.weight_scale(cfg, 4, 16)
    bound = tr.weight_bound(cfg, scale)
    w = torch.tensor([-2 * bound, -bound * 1.001, -bound, -0.3 * bound, 0.0, 0.7 * bound, bound,
                      bound * 1.001, 3 * bound], dtype=torch.float64, requires_grad=True)
    upstream = torch.arange(1.0, 10.0, dtype=torch.float64)
    (tr.quantize_weight(w, cfg, scale) * upstream).sum().backward()
    inside = (w.detach().abs() <= bound).double()
    np.testing.assert_array_equal(w.grad.numpy(), (upstream * inside).numpy())
    assert inside.tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0]


def test_straight_through_identity_and_exp(tr):
    import torch  # noqa: PLC0415

    for cfg in (tr.QuantConfig("binary", ste="identity"), tr.QuantConfig("exp")):
        w = torch.tensor([-5.0, -0.01, 0.0, 0.2, 9.0], dtype=torch.float64, requires_grad=True)
        tr.quantize_weight(w, cfg, tr.weight_scale(cfg, 2, 8)).sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), np.ones(5))


def test_float_scheme_is_identity(tr):
    import torch  # noqa: PLC0415

    w = torch.randn(5, requires_grad=True)
    assert tr.quantize_weight(w, tr.QuantConfig("float"), None) is w


@pytest.mark.parametrize("scheme", STOCH)
def test_stochastic_means_are_unbiased_within_binomial_tolerance(tr, scheme):
    """E[Q(w)] = w inside the clip range (and inside one octave for exp); each weight's mean over
    n fresh draws lies within K sigma of the binomial spread of its two levels."""
    import torch  # noqa: PLC0415

    cfg = tr.QuantConfig(scheme, stochastic=True)
    scale = tr.weight_scale(cfg, 8, 32)
    if scheme == "exp":
        w = torch.tensor([0.3, -0.3, 0.55, -0.9, 0.126, 1.0], dtype=torch.float64)
        low = 2.0 ** torch.floor(torch.log2(w.abs()))
        p = w.abs() / low - 1.0
        span = low
    else:
        w = torch.linspace(-scale, scale, 9, dtype=torch.float64)
        if scheme == "binary":
            p = (w / scale + 1) / 2
            span = torch.full_like(w, 2 * scale)
        else:
            p = w.abs() / scale
            span = torch.full_like(w, scale)
    n = 20000
    g = torch.Generator().manual_seed(7)
    draws = tr.quantize_weight(w.expand(n, -1).contiguous(), cfg, scale, generator=g)  # n fresh draws
    mean = draws.mean(0)
    tol = K_SIGMA * span * torch.sqrt(p * (1 - p) / n) + 1e-12
    assert torch.all((mean - w).abs() <= tol), (mean - w, tol)
    # and the draws are not all equal where 0 < p < 1 (a deterministic rule would fail this)
    mixed = (p > 0.05) & (p < 0.95)
    assert torch.all(draws[:, mixed].std(0) > 0)


def test_stochastic_draws_are_seeded(tr):
    import torch  # noqa: PLC0415

    cfg = tr.QuantConfig("ternary", stochastic=True)
    w = torch.rand(50, dtype=torch.float64) * 0.2 - 0.1
    a = tr.quantize_weight(w, cfg, 0.1, generator=torch.Generator().manual_seed(3))
    b = tr.quantize_weight(w, cfg, 0.1, generator=torch.Generator().manual_seed(3))
    c = tr.quantize_weight(w, cfg, 0.1, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_config_errors(tr):
    with pytest.raises(ConfigError, match="unknown training scheme"):
        tr.QuantConfig("quaternary")
    with pytest.raises(ConfigError, match="no stochastic"):
        tr.QuantConfig("pow2-ternary", stochastic=True)
    with pytest.raises(ConfigError, match="sample"):
        tr.QuantConfig("binary", eval_weights="sample")
    with pytest.raises(ConfigError, match="ste"):
        tr.QuantConfig("binary", ste="smooth")


# ------------------------------------------------------------------------- GXNOR activation
def test_gxnor_ternary_activation_values_and_window(tr):
    import torch  # noqa: PLC0415

    x = torch.tensor([-2.0, -1.5, -1.2, -1.0, -0.7, -0.5, -0.2, 0.0, 0.5, 0.99, 1.0, 1.49, 1.5, 3.0],
                     dtype=torch.float64, requires_grad=True)
    y = tr.ternary_activation(x)  # r = 1, a = 0.5
    assert y.tolist() == [-1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    y.sum().backward()
    # gradient 1/(2a) = 1 strictly inside 0.5 < |x| < 1.5
    assert x.grad.tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    x2 = torch.tensor([0.2, 0.6, 0.8], requires_grad=True)
    tr.TernaryActivation(threshold=0.5, half_width=0.25)(x2).sum().backward()
    assert x2.grad.tolist() == [0.0, 2.0, 0.0]
    with pytest.raises(SCValueError, match="threshold"):
        tr.TernaryActivation(threshold=0.0)


# ------------------------------------------------------------------------ tabulated curves
def test_tabulated_activation_interpolates_like_numpy(tr):
    import torch  # noqa: PLC0415

    grid = np.array([-2.0, -0.5, 0.0, 0.25, 3.0])
    vals = np.array([-0.9, -0.4, 0.1, 0.2, 0.95])
    act = tr.TabulatedActivation(grid, vals)
    x = np.linspace(-4, 4, 401)
    xt = torch.tensor(x, requires_grad=True)
    y = act(xt)
    np.testing.assert_allclose(y.detach().numpy(), np.interp(x, grid, vals), rtol=0, atol=1e-15)
    y.sum().backward()
    slopes = np.diff(vals) / np.diff(grid)
    seg = np.clip(np.searchsorted(grid, x, side="right"), 1, len(grid) - 1) - 1
    expect = np.where((x < grid[0]) | (x > grid[-1]), 0.0, slopes[seg])
    interior = ~np.isin(x, grid)  # at a knot the one-sided slope is implementation-defined
    np.testing.assert_allclose(xt.grad.numpy()[interior], expect[interior], rtol=1e-12)


def test_tabulated_from_function_and_errors(tr):
    import torch  # noqa: PLC0415

    act = tr.TabulatedActivation.from_function(np.tanh, -4, 4, 801)
    x = torch.linspace(-3.9, 3.9, 50, dtype=torch.float64)
    # linear interpolation error <= h^2/8 * max|tanh''| (max|tanh''| < 0.77, h = 0.01)
    assert float((act(x) - torch.tanh(x)).abs().max()) <= 0.01 ** 2 / 8 * 0.77 + 1e-15
    with pytest.raises(SCValueError, match="strictly increasing"):
        tr.TabulatedActivation([0.0, 0.0, 1.0], [0, 1, 2])
    with pytest.raises(SCValueError, match="values"):
        tr.TabulatedActivation([0.0, 1.0], [0.0])


def test_import_without_torch_raises_missing_dependency():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from sccompiler.errors import MissingDependencyError\n"
            "try:\n    import sccompiler.train\nexcept MissingDependencyError as e:\n"
            "    print('OK', e.package, '|', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("OK torch |"), out.stdout + out.stderr
    assert "sccompiler[torch]" in out.stdout and "training" in out.stdout
