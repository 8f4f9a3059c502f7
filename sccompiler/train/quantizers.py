"""Torch weight quantizers with straight-through gradients (docs/background.md §4).

The forward values are exactly those of :mod:`sccompiler.quantize.schemes` (the numpy definition
of truth; the scales come from its :func:`~sccompiler.quantize.schemes.iclr_scale` /
:func:`~sccompiler.quantize.schemes.ott_scale` and rounding from the same rule): the ternary
rules compare ``float32(W)`` with the float32 thresholds of
:func:`~sccompiler.quantize.schemes.float32_thresholds`, as the authors' code and numpy do.  Stochastic
variants draw ``u ~ U[0, 1)`` per weight and take the upper value when ``u < p``, the rule numpy's
``rng.random(shape) < p`` uses, so the same uniforms give the same weights.

Backward is the straight-through estimator: the gradient with respect to the quantized weight is
passed to the real weight unchanged inside the clip range ``|W| <= bound`` (``W0`` for binary and
ternary, the largest level for pow2-ternary) and is 0 outside it (``ste="clipped"``, the
hard-tanh STE of BinaryConnect/BinaryNet); ``ste="identity"`` passes it everywhere (what the ICLR'19
authors' Theano code does: it applies dE/dW_b to W directly).  Exponential quantization has no
clip range and always uses the identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..quantize.schemes import (
    EXP_MAX_EXPONENT,
    EXP_MIN_EXPONENT,
    POW2_FRACTIONAL_BITS,
    POW2_INTEGER_BITS,
    float32_thresholds,
    iclr_scale,
    ott_scale,
)

#: schemes the training layers support ("float" = no quantization)
TRAIN_SCHEMES = ("float", "binary", "ternary", "ott-ternary", "pow2-ternary", "exp")
#: schemes with a stochastic variant
STOCHASTIC_SCHEMES = ("binary", "ternary", "ott-ternary", "exp")
#: the deterministic ternary thresholds W0/d: ICLR'19 (d = 3) and Ott et al. (d = 2)
TERNARY_DIVISOR = {"ternary": 3, "ott-ternary": 2}


@dataclass(frozen=True)
class QuantConfig:
    """How a layer's weight matrices are quantized during and after training.

    ``scheme``: one of :data:`TRAIN_SCHEMES`.  ``stochastic``: draw fresh stochastic weights at
    every training forward pass.  ``ste``: ``"clipped"`` (gradient 1 inside ``|W| <= bound``, 0
    outside) or ``"identity"``.  ``eval_weights``: what eval mode uses — ``"deterministic"`` (the
    scheme's deterministic rule applied to the real weights) or ``"sample"`` (one stochastic draw,
    frozen by :meth:`QuantLSTMLayer.freeze_sample` and stored with its seed).  ``fractional_bits``/
    ``integer_bits`` parametrize pow2-ternary, ``min_exponent``/``max_exponent`` exponential.
    """

    scheme: str = "binary"
    stochastic: bool = False
    ste: str = "clipped"
    eval_weights: str = "deterministic"
    fractional_bits: int = POW2_FRACTIONAL_BITS
    integer_bits: int = POW2_INTEGER_BITS
    min_exponent: int = EXP_MIN_EXPONENT
    max_exponent: int = EXP_MAX_EXPONENT

    def __post_init__(self) -> None:
        if self.scheme not in TRAIN_SCHEMES:
            raise ConfigError(f"unknown training scheme {self.scheme!r}; choose one of "
                              f"{', '.join(TRAIN_SCHEMES)}")
        if self.stochastic and self.scheme not in STOCHASTIC_SCHEMES:
            raise ConfigError(f"scheme {self.scheme!r} has no stochastic variant")
        if self.ste not in ("clipped", "identity"):
            raise ConfigError(f"ste must be 'clipped' or 'identity', got {self.ste!r}")
        if self.eval_weights not in ("deterministic", "sample"):
            raise ConfigError(f"eval_weights must be 'deterministic' or 'sample', got {self.eval_weights!r}")
        if self.eval_weights == "sample" and not self.stochastic:
            raise ConfigError("eval_weights='sample' needs stochastic=True")
        for name in ("fractional_bits", "integer_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name} must be a non-negative int, got {v!r}")
        if not 1 <= self.fractional_bits + self.integer_bits <= 30:
            raise ConfigError("fractional_bits + integer_bits must be in 1..30")
        if not (isinstance(self.min_exponent, int) and isinstance(self.max_exponent, int)
                and -1000 < self.min_exponent <= self.max_exponent < 1000):
            raise ConfigError("need ints with -1000 < min_exponent <= max_exponent < 1000")

    @property
    def quantized(self) -> bool:
        return self.scheme != "float"


def weight_scale(config: QuantConfig, fan_in: int, fan_out: int) -> float | None:
    """The scheme's scale: ICLR ``W0`` for binary/ternary, Ott's ``W0`` for ott-ternary,
    ``2^-f`` for pow2-ternary; ``None`` for exp and float (no single scale)."""
    if config.scheme in ("binary", "ternary"):
        return iclr_scale(fan_in, fan_out)
    if config.scheme == "ott-ternary":
        return ott_scale(fan_in, fan_out)
    if config.scheme == "pow2-ternary":
        return 2.0 ** -config.fractional_bits
    return None


def weight_bound(config: QuantConfig, scale: float | None) -> float | None:
    """The clip range of the real weights (STE window, weight clipping): ``W0`` for
    binary/ternary/ott-ternary, the largest level for pow2-ternary, ``None`` otherwise."""
    if config.scheme in ("binary", "ternary", "ott-ternary"):
        return scale
    if config.scheme == "pow2-ternary":
        return (2.0 ** (config.fractional_bits + config.integer_bits) - 1) * 2.0 ** -config.fractional_bits
    return None


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    whole = torch.trunc(x)
    return whole + torch.sign(x) * ((x - whole).abs() >= 0.5).to(x.dtype)


def _plus_minus(cond: torch.Tensor, scale: float) -> torch.Tensor:
    """+scale where cond, -scale elsewhere (float64, exact)."""
    return (cond.to(torch.float64) * 2.0 - 1.0) * scale


def _bernoulli_from(noise: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return (noise < p).to(p.dtype)


def quantize_values(w: torch.Tensor, config: QuantConfig, scale: float | None,
                    noise: torch.Tensor | None = None) -> torch.Tensor:
    """The quantized values of ``w`` (no gradient), computed in float64.

    ``noise``: uniforms in [0, 1) of ``w``'s shape for the stochastic rule; ``None`` applies the
    deterministic rule.  Returns float64.
    """
    x = w.detach().to(torch.float64)
    s = config.scheme
    if noise is not None:
        noise = noise.detach().to(torch.float64)
        if noise.shape != x.shape:
            raise ConfigError(f"noise shape {tuple(noise.shape)} != weight shape {tuple(x.shape)}")
        if s not in STOCHASTIC_SCHEMES:
            raise ConfigError(f"scheme {s!r} has no stochastic variant")
    if s == "float":
        return x
    if s == "binary":
        if noise is None:
            return _plus_minus(x >= 0, scale)
        p = ((x / scale + 1.0) / 2.0).clamp(0.0, 1.0)
        return _plus_minus(noise < p, scale)
    if s in ("ternary", "ott-ternary"):
        if noise is not None:
            p = (x.abs() / scale).clamp(0.0, 1.0)
            return scale * torch.sign(x) * _bernoulli_from(noise, p) + 0.0
        # both authors' comparison, asymmetric at the thresholds, in float32
        lo, hi = float32_thresholds(scale, TERNARY_DIVISOR[s])
        w32 = x.to(torch.float32)
        return scale * ((w32 > float(lo)).to(x.dtype) + (w32 > float(hi)).to(x.dtype) - 1.0) + 0.0
    if s == "pow2-ternary":
        power = 2.0 ** config.fractional_bits
        max_code = 2.0 ** (config.fractional_bits + config.integer_bits) - 1
        return _round_half_away(x * power).clamp(-max_code, max_code) / power + 0.0
    # exponential: frexp gives floor(log2|W|) exactly
    mag = x.abs()
    _, e = torch.frexp(mag)
    k = (e.to(torch.int64) - 1).clamp(config.min_exponent, config.max_exponent)
    low = torch.ldexp(torch.ones_like(mag), k)
    p = (mag / low - 1.0).clamp(0.0, 1.0)
    up = (p > 0.5).to(torch.int64) if noise is None else (noise < p).to(torch.int64)
    q = torch.sign(x) * torch.ldexp(torch.ones_like(mag), k + up)
    return torch.where(x == 0, torch.zeros_like(x), q)


def ste_mask(w: torch.Tensor, config: QuantConfig, bound: float | None) -> torch.Tensor:
    """1 where the straight-through gradient passes, 0 where it is blocked."""
    if config.ste == "identity" or bound is None:
        return torch.ones_like(w)
    return (w.detach().abs() <= bound).to(w.dtype)


class QuantizeSTE(torch.autograd.Function):
    """y = Q(w) forward (values of :func:`quantize_values`, cast to ``w``'s dtype);
    dL/dw = dL/dy · [|w| <= bound] backward (or dL/dy with the identity STE)."""

    @staticmethod
    def forward(ctx, w, config, scale, bound, noise):  # noqa: D102
        ctx.save_for_backward(ste_mask(w, config, bound))
        return quantize_values(w, config, scale, noise).to(w.dtype)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        (mask,) = ctx.saved_tensors
        return grad_out * mask, None, None, None, None


def draw_noise(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniforms in [0, 1) (float64) for one stochastic draw."""
    return torch.rand(tuple(shape), generator=generator, dtype=torch.float64)


def quantize_weight(w: torch.Tensor, config: QuantConfig, scale: float | None, *,
                    stochastic: bool | None = None, generator: torch.Generator | None = None,
                    noise: torch.Tensor | None = None) -> torch.Tensor:
    """Quantize ``w`` with a straight-through gradient.

    ``stochastic`` defaults to ``config.stochastic``; a stochastic call draws fresh uniforms from
    ``generator`` (the global torch RNG when ``None``) unless ``noise`` is given.
    """
    if not config.quantized:
        return w
    stochastic = config.stochastic if stochastic is None else stochastic
    if stochastic and noise is None:
        noise = draw_noise(w.shape, generator)
    if not stochastic:
        noise = None
    return QuantizeSTE.apply(w, config, scale, weight_bound(config, scale), noise)


def levels_per_code(config: QuantConfig, scale: float | None) -> float:
    """Factor that turns a stored integer code back into a value (``scale``, or 1 for exp)."""
    if config.scheme in ("binary", "ternary", "ott-ternary", "pow2-ternary"):
        return float(scale)
    return 1.0


def glorot_bound(fan_in: int, fan_out: int) -> float:
    """Uniform init bound ``sqrt(6/(fan_in+fan_out))`` (= 2·W0 of ICLR'19), the authors' init."""
    return math.sqrt(6.0 / (fan_in + fan_out))
