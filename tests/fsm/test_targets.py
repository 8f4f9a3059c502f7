"""Safe target parsing: the whitelist grammar, values, and clear rejection of anything else."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.errors import ExpressionError
from sccompiler.fsm import make_target, parse_expression, synthesize_fsm

X = np.linspace(-1, 1, 41)


@pytest.mark.parametrize("text, ref", [
    ("tanh(2*x)", lambda x: np.tanh(2 * x)),
    ("(1+tanh(x))/2", lambda x: (1 + np.tanh(x)) / 2),
    ("sigmoid(4*x - 0.5)", lambda x: 1 / (1 + np.exp(-(4 * x - 0.5)))),
    ("x^3", lambda x: x ** 3),
    ("-abs(x) + Max(x, 0)", lambda x: -np.abs(x) + np.maximum(x, 0)),
    ("min(x, 0.5, 2*x)", lambda x: np.minimum(np.minimum(x, 0.5), 2 * x)),
    ("erf(x) * cos(pi*x) + sin(x) - exp(x)/E", lambda x: __import__("scipy.special").special.erf(x)
     * np.cos(np.pi * x) + np.sin(x) - np.exp(x) / np.e),
    ("sqrt(x + 1) + log(x + 2) + log(8, 2)", lambda x: np.sqrt(x + 1) + np.log(x + 2) + 3),
    ("Piecewise((0, x < 0), (x, x <= 0.5), (0.5, True))", lambda x: np.clip(x, 0, 0.5)),
    ("0.5", lambda x: np.full_like(x, 0.5)),
])
def test_whitelisted_expressions_evaluate(text, ref):
    np.testing.assert_allclose(make_target(text)(X), ref(X), atol=1e-12)


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os')", "'__import__' is not allowed"),
    ("__import__('os').system('true')", "only calls of whitelisted functions"),
    ("x.__class__", "not allowed"),
    ("(lambda: 1)()", "only calls of whitelisted functions"),
    ("lambda: 1", "not allowed"),
    ("open('/etc/passwd')", "'open' is not allowed"),
    ("tanh(y)", "undefined name 'y'"),
    ("x + foo", "undefined name 'foo'"),
    ("tanh", "must be called"),
    ("tanh(x, 2)", "takes 1"),
    ("tanh(x=1)", "keyword"),
    ("'abc'", "literal"),
    ("[x, 1]", "not allowed"),
    ("x if x > 0 else 0", "not allowed"),
    ("2x", "cannot parse"),
    ("", "empty"),
    ("x < 1", "not a numeric"),
    ("Piecewise(x)", "pairs"),
    ("9**9**9**9", "too large"),
    ("x**(10**7)", "too large"),
    ("-" * 5000 + "x", "longer than"),
])
def test_rejected_expressions(text, fragment):
    with pytest.raises(ExpressionError, match=fragment):
        parse_expression(text)


def test_deep_nesting_is_an_expression_error_not_a_crash():
    with pytest.raises(ExpressionError):
        parse_expression("-" * 1900 + "x")


def test_out_of_range_target_says_by_how_much_and_clips_only_on_request():
    with pytest.raises(ExpressionError, match=r"by up to 0\.49.*clip=True"):
        synthesize_fsm("1.5*tanh(3*x)", states=8)
    with pytest.raises(ExpressionError, match=r"unipolar output range \[0, 1\] by up to 1"):
        synthesize_fsm("tanh(x)/tanh(1)", states=8, output="unipolar")
    d = synthesize_fsm("1.5*tanh(3*x)", states=8, clip=True)
    assert d.clip and d.target_value(np.array([1.0]))[0] == 1.0


def test_non_finite_target_rejected():
    with pytest.raises(ExpressionError, match="not finite at x = 0"):
        synthesize_fsm("log(abs(x))/10", states=8, domain=(-0.5, 0.5))


def test_callable_targets():
    d = synthesize_fsm(lambda x: 0.5 * np.tanh(3 * x), states=8)
    assert d.analytic_rmse < 0.01

    def broken(x):
        raise RuntimeError("boom")

    with pytest.raises(ExpressionError, match="boom"):
        synthesize_fsm(broken, states=8)
    with pytest.raises(ExpressionError, match="must be an expression"):
        make_target(42)
