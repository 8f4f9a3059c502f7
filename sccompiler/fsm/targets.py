"""Target functions for FSM synthesis: safely parsed expressions in x, or Python callables.

An expression string is never passed to ``eval``/``sympify``.  It is parsed by Python's ``ast``
module and the tree is translated node by node into a sympy expression; only these nodes exist:
numbers, the symbol ``x``, the constants ``pi``/``E``/``e``, ``+ - * / ** ^`` (``^`` means
power), unary minus, calls of whitelisted functions (:data:`FUNCTIONS`), comparisons and
``(value, condition)`` pairs inside ``Piecewise``, and ``True``.  Anything else (attributes,
subscripts, strings, keywords, lambdas, other names such as ``__import__``) is an
:class:`~sccompiler.errors.ExpressionError` naming the offending part.
"""

from __future__ import annotations

import ast
import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp

from ..errors import ExpressionError

X = sp.Symbol("x", real=True)


def _sigmoid(a: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-a))


def _log(arg: sp.Expr, base: sp.Expr | None = None) -> sp.Expr:
    if base is None:
        return sp.log(arg)
    if base.is_Number and (base.is_nonpositive or base == 1 or base.is_real is False):
        raise ExpressionError(f"log base must be a positive number other than 1, got {base}")
    return sp.log(arg, base)


#: whitelisted function names -> (sympy constructor, allowed argument counts)
FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], tuple[int, ...]]] = {
    "tanh": (sp.tanh, (1,)),
    "sigmoid": (_sigmoid, (1,)),
    "exp": (sp.exp, (1,)),
    "log": (_log, (1, 2)),
    "sqrt": (sp.sqrt, (1,)),
    "abs": (sp.Abs, (1,)),
    "Abs": (sp.Abs, (1,)),
    "sin": (sp.sin, (1,)),
    "cos": (sp.cos, (1,)),
    "erf": (sp.erf, (1,)),
    "atanh": (sp.atanh, (1,)),
    "Min": (sp.Min, tuple(range(2, 9))),
    "Max": (sp.Max, tuple(range(2, 9))),
    "min": (sp.Min, tuple(range(2, 9))),
    "max": (sp.Max, tuple(range(2, 9))),
}
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E, "e": sp.E}
MAX_CONSTANT_EXPONENT = 1000
#: the most decimal digits a constant may have (sympy computes exact integers and rationals)
MAX_CONSTANT_DIGITS = 1000


def _digits(value: sp.Expr) -> float:
    """About log10 |value| of a sympy number (exact integers and rationals without float overflow)."""
    if value.is_Rational:
        return max(math.log10(abs(int(value.p))) if value.p else 0.0, math.log10(int(value.q)))
    try:
        v = abs(complex(value))
        return abs(math.log10(v)) if v > 0 else 0.0
    except (TypeError, ValueError, OverflowError):
        return float("inf")


def _check_size(value: sp.Expr) -> sp.Expr:
    if isinstance(value, sp.Expr) and value.is_Number and _digits(value) > MAX_CONSTANT_DIGITS:
        raise ExpressionError(f"constant with more than {MAX_CONSTANT_DIGITS} digits (limit {MAX_CONSTANT_DIGITS})")
    return value


def _power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    # sympy evaluates integer powers exactly: 9**9**9 would run for hours, so the size of the
    # result is estimated (exponent x digits of the base) before sympy computes it
    if exponent.is_Number and abs(float(exponent)) > MAX_CONSTANT_EXPONENT:
        raise ExpressionError(f"constant exponent {float(exponent):.4g} is too large (limit {MAX_CONSTANT_EXPONENT})")
    if exponent.is_Number and base.is_Number and abs(float(exponent)) * _digits(base) > MAX_CONSTANT_DIGITS:
        raise ExpressionError(f"constant power with about {abs(float(exponent)) * _digits(base):.4g} digits is "
                              f"too large (limit {MAX_CONSTANT_DIGITS} digits)")
    return base ** exponent



_BINOPS = {ast.Add: lambda a, b: _check_size(a + b), ast.Sub: lambda a, b: _check_size(a - b),
           ast.Mult: lambda a, b: _check_size(a * b), ast.Div: lambda a, b: _check_size(a / b),
           ast.Pow: lambda a, b: _check_size(_power(a, b)), ast.BitXor: lambda a, b: _check_size(_power(a, b))}
_COMPARE = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan,
            ast.GtE: sp.GreaterThan}
MAX_EXPRESSION_LENGTH = 2000


def parse_expression(text: str) -> sp.Expr:
    """Parse ``text`` into a sympy expression in x, accepting only the whitelisted grammar."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty target expression")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"target expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        raise ExpressionError(f"cannot parse target expression {text!r}: {getattr(exc, 'msg', exc)} "
                              f"(write products explicitly, e.g. 2*x)") from None
    try:
        expr = _build(tree.body, text)
    except RecursionError:
        raise ExpressionError("target expression is nested too deeply") from None
    if not isinstance(expr, sp.Expr):
        raise ExpressionError(f"target {text!r} is not a numeric expression")
    if expr.has(sp.I) or expr.has(sp.zoo) or expr.has(sp.nan) or expr.has(sp.oo) or expr.has(-sp.oo):
        raise ExpressionError(f"target {text!r} is not a finite real expression (it simplifies to {expr}); "
                              "complex and infinite values are refused")
    extra = expr.free_symbols - {X}
    if extra:  # cannot happen through _build, kept as a second line of defence
        raise ExpressionError(f"unknown names {sorted(map(str, extra))} in {text!r}; only x is allowed")
    return expr


def _build(node: ast.AST, text: str):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            if node.value:
                return sp.true
            raise ExpressionError("'False' is not allowed in a target expression")
        if isinstance(node.value, int):
            if node.value.bit_length() > MAX_CONSTANT_DIGITS * 3.33:
                raise ExpressionError(f"integer literal with more than {MAX_CONSTANT_DIGITS} digits")
            return sp.Integer(node.value)
        if isinstance(node.value, float):
            return sp.Float(node.value)
        raise ExpressionError(f"literal {node.value!r} is not allowed in a target expression")
    if isinstance(node, ast.Name):
        if node.id == "x":
            return X
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise ExpressionError(f"function {node.id!r} must be called, e.g. {node.id}(x)")
        raise ExpressionError(
            f"undefined name {node.id!r} in target expression; allowed: x, {', '.join(CONSTANTS)} and "
            f"functions {', '.join(sorted(set(FUNCTIONS) | {'Piecewise'}))}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_num(node.left, text), _num(node.right, text))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        val = _num(node.operand, text)
        return -val if isinstance(node.op, ast.USub) else val
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise ExpressionError("only single comparisons <, <=, >, >= are allowed (inside Piecewise)")
        return _COMPARE[type(node.ops[0])](_num(node.left, text), _num(node.comparators[0], text))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(f"only calls of whitelisted functions are allowed, not "
                                  f"{ast.get_source_segment(text, node.func) or 'this call'}")
        name = node.func.id
        if node.keywords:
            raise ExpressionError(f"keyword arguments are not allowed (in {name}(...))")
        if name == "Piecewise":
            return _piecewise(node, text)
        if name not in FUNCTIONS:
            raise ExpressionError(
                f"function {name!r} is not allowed in a target expression; allowed: "
                f"{', '.join(sorted(set(FUNCTIONS) | {'Piecewise'}))}")
        ctor, arities = FUNCTIONS[name]
        if len(node.args) not in arities:
            raise ExpressionError(f"{name} takes {' or '.join(map(str, arities[:2]))} argument(s), "
                                  f"got {len(node.args)}")
        return ctor(*[_num(a, text) for a in node.args])
    segment = ast.get_source_segment(text, node) or type(node).__name__
    raise ExpressionError(f"{segment!r} is not allowed in a target expression")


def _num(node: ast.AST, text: str) -> sp.Expr:
    val = _build(node, text)
    if not isinstance(val, sp.Expr):
        raise ExpressionError(f"{ast.get_source_segment(text, node)!r} is not a number")
    return val


def _piecewise(node: ast.Call, text: str) -> sp.Expr:
    pieces = []
    for arg in node.args:
        if not isinstance(arg, ast.Tuple) or len(arg.elts) != 2:
            raise ExpressionError("Piecewise takes (value, condition) pairs, e.g. "
                                  "Piecewise((0, x < 0), (x, True))")
        cond = _build(arg.elts[1], text)
        if not isinstance(cond, sp.logic.boolalg.Boolean):
            raise ExpressionError("a Piecewise condition must be a comparison or True")
        pieces.append((_num(arg.elts[0], text), cond))
    if not pieces:
        raise ExpressionError("Piecewise needs at least one (value, condition) pair")
    return sp.Piecewise(*pieces)


@dataclass(frozen=True)
class Target:
    """A vectorized target y = f(x) plus a stable description and cache key."""

    description: str
    function: Callable[[np.ndarray], np.ndarray] = field(compare=False, repr=False)
    expression: sp.Expr | None = field(default=None, compare=False, repr=False)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(all="ignore"):
            try:
                y = self.function(x)
            except Exception as exc:  # noqa: BLE001 - a user callable may fail in any way: report, do not trace
                raise ExpressionError(f"target {self.description!r} failed to evaluate: {exc}") from None
            y = np.asarray(y)
            if np.iscomplexobj(y):
                if np.any(np.imag(y) != 0):
                    raise ExpressionError(f"target {self.description!r} takes complex values on the domain; "
                                          "only real targets can be synthesized")
                y = np.real(y)
            if y.dtype.kind not in "biuf":
                raise ExpressionError(f"target {self.description!r} returned {y.dtype} values, not numbers")
            y = np.broadcast_to(y.astype(float), x.shape).copy()
        return y

    def key(self, x: np.ndarray) -> str:
        """Cache key: the symbolic form for expressions, the sampled values for callables."""
        if self.expression is not None:
            return "expr:" + sp.srepr(self.expression)
        return "fn:" + hashlib.sha256(self(x).tobytes()).hexdigest()


def make_target(target: "str | sp.Expr | Callable[[np.ndarray], np.ndarray] | Target") -> Target:
    """A string (parsed safely), a sympy expression in x, or a vectorized callable -> Target."""
    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        expr = parse_expression(target)
        return Target(target.strip(), _lambdify(expr), expr)
    if isinstance(target, sp.Expr):
        names = {s.name for s in target.free_symbols}
        if names - {"x"}:
            raise ExpressionError(f"unknown symbols {sorted(names - {'x'})}; only x is allowed")
        expr = target.subs({s: X for s in target.free_symbols})
        return Target(str(expr), _lambdify(expr), expr)
    if callable(target):
        return Target(getattr(target, "__name__", "callable"), target)
    raise ExpressionError(f"target must be an expression string, a sympy expression or a callable, "
                          f"got {type(target).__name__}")


def _lambdify(expr: sp.Expr) -> Callable[[np.ndarray], np.ndarray]:
    # lambdify prints the (already whitelisted) sympy tree; no user text reaches exec
    fn = sp.lambdify(X, expr, modules=[{"erf": _erf}, "numpy"])
    return lambda x: fn(x)


def _erf(x):
    from scipy.special import erf  # noqa: PLC0415

    return erf(x)
