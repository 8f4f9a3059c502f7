"""Activation-side pieces of quantization-aware training.

* :class:`TernaryActivation` — GXNOR's ternary activation ``φ(x) = sign(x)·[|x| >= r]``
  (:func:`sccompiler.sim.rules.ternary_state`, the rule the reference and the runtimes use) with the
  windowed gradient ``1/(2a)·[r-a < |x| < r+a]`` (Deng et al.; r = 1, a = 0.5 gives gradient 1 for
  0.5 < |x| < 1.5).
* :class:`BinaryActivation` — the XNOR-LSTM's binary hidden state ``sign(x)`` (sign(0) = +1, the
  IR's convention) with BinaryNet's clipped straight-through gradient ``1[|x| <= clip]``.
* :class:`StatePruning` — learned thresholding of the hidden/cell state after Ardakani et al.
  (DATE 2019): states with ``|s| < θ`` become exactly 0, so hardware can skip the matching columns
  of ``W_hh``; it records the fraction of zero states it produced.
* :class:`TabulatedActivation` — a curve given on a grid, evaluated by linear interpolation: the
  pluggable σ/tanh for hardware-aware fine-tuning against synthesized WFSM transfer curves.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import SCValueError
from ..sim.rules import ternary_state


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise SCValueError(name, f"must be a positive finite number, got {value!r}")
    return float(value)


class _TernaryActivationFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, half_width):  # noqa: D102
        ctx.save_for_backward(x)
        ctx.threshold, ctx.half_width = threshold, half_width
        return ternary_state(x, threshold).to(x.dtype)   # the one rule (sim.rules), no -0.0

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        (x,) = ctx.saved_tensors
        r, a = ctx.threshold, ctx.half_width
        mag = x.abs()
        window = ((mag > r - a) & (mag < r + a)).to(grad_out.dtype) / (2.0 * a)
        return grad_out * window, None, None


def ternary_activation(x: torch.Tensor, threshold: float = 1.0, half_width: float = 0.5) -> torch.Tensor:
    """GXNOR ternary activation ``sign(x)·[|x| >= threshold]`` with the windowed STE."""
    return _TernaryActivationFn.apply(x, _positive("threshold", threshold), _positive("half_width", half_width))


class TernaryActivation(nn.Module):
    """Module form of :func:`ternary_activation`.

    GXNOR's defaults are ``threshold = 1``, ``half_width = 0.5``.  Applied to an LSTM/GRU hidden
    state (which lies in (-1, 1)) a smaller threshold such as 0.5 is needed, or every state is 0.
    """

    def __init__(self, threshold: float = 1.0, half_width: float = 0.5) -> None:
        super().__init__()
        self.threshold = _positive("threshold", threshold)
        self.half_width = _positive("half_width", half_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ternary_activation(x, self.threshold, self.half_width)

    def describe(self) -> dict:
        return {"kind": "gxnor-ternary", "threshold": self.threshold, "half_width": self.half_width}


class _BinaryActivationFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, clip):  # noqa: D102
        ctx.save_for_backward(x)
        ctx.clip = clip
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        (x,) = ctx.saved_tensors
        return grad_out * (x.abs() <= ctx.clip).to(grad_out.dtype), None


def binary_activation(x: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
    """``sign(x)`` in {-1, +1} (sign(0) = +1) with the clipped straight-through gradient
    ``grad * 1[|x| <= clip]`` (BinaryNet, Courbariaux et al. 2016)."""
    return _BinaryActivationFn.apply(x, _positive("clip", clip))


class BinaryActivation(nn.Module):
    """Module form of :func:`binary_activation`: the binary hidden state of the XNOR-LSTM.

    Applied to an LSTM's ``h = o·tanh(c)`` (always in (-1, 1)) the clip at 1 never cuts: the
    gradient is the identity's, the STE's bias is the whole gap between ``h`` and ``sign(h)``.
    A GRU's ``h = (1-z) n + z h_{t-1}`` also stays in [-1, 1].  The gradient does not vanish
    when states saturate (|h| -> 1), unlike tanh's, so training does not stall at saturated
    units; what it cannot see is a sign flip's full effect, which is why the learning rate is
    lower than for real-valued h (docs/training.md, "binary hidden states").  ``clip < 1`` cuts
    the gradient of confident units and trains them less (tested; default 1)."""

    def __init__(self, clip: float = 1.0) -> None:
        super().__init__()
        self.clip = _positive("clip", clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return binary_activation(x, self.clip)

    def describe(self) -> dict:
        return {"kind": "binary-sign", "clip": self.clip}


class _PruneFn(torch.autograd.Function):
    """Forward ``x·[|x| >= θ]``; backward: straight-through for ``x`` (the pruned entries keep
    receiving gradient so they can grow back) and a sigmoid surrogate for ``θ``."""

    @staticmethod
    def forward(ctx, x, theta, temperature):  # noqa: D102
        ctx.save_for_backward(x, theta)
        ctx.temperature = temperature
        return x * (x.abs() >= theta).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        x, theta = ctx.saved_tensors
        tau = ctx.temperature
        s = torch.sigmoid((x.abs() - theta) / tau)
        # d/dθ of x·σ((|x|-θ)/τ)
        d_theta = grad_out * x * (-(s * (1 - s)) / tau)
        if theta.numel() == 1:
            d_theta = d_theta.sum()
        else:
            d_theta = d_theta.reshape(-1, theta.numel()).sum(0)
        return grad_out, d_theta.reshape(theta.shape), None


class StatePruning(nn.Module):
    """Learned thresholding of a state vector: ``s ← s·[|s| >= θ]`` (Ardakani et al., DATE 2019).

    ``θ`` is one learnable value per unit (``per_unit=True``) or one per layer, kept >= 0.  Its
    gradient comes from a sigmoid surrogate of the step with temperature ``temperature``;
    :meth:`sparsity_loss` (``weight · mean σ((|s|-θ)/τ)``, the soft fraction of kept states) is
    added to the training loss by :func:`~sccompiler.train.fit` and pushes θ up, the task loss
    pushes it down.  ``zero_fraction`` is the fraction of exactly-zero states in the last forward
    pass; ``counts`` accumulates (zeros, total) until :meth:`reset_counts`.
    """

    def __init__(self, size: int, init_threshold: float = 0.05, *, learnable: bool = True,
                 per_unit: bool = False, temperature: float = 0.02, weight: float = 1e-2) -> None:
        super().__init__()
        if init_threshold < 0 or not np.isfinite(init_threshold):
            raise SCValueError("init_threshold", f"must be a finite number >= 0, got {init_threshold!r}")
        self.temperature = _positive("temperature", temperature)
        if weight < 0:
            raise SCValueError("weight", f"must be >= 0, got {weight!r}")
        self.weight = float(weight)
        theta = torch.full((size,) if per_unit else (1,), float(init_threshold))
        if learnable:
            self.theta = nn.Parameter(theta)
        else:
            self.register_buffer("theta", theta)
        self._soft_kept: list[torch.Tensor] = []
        self.zero_fraction: float = 0.0
        self.counts = [0, 0]

    def threshold(self) -> torch.Tensor:
        return self.theta.abs()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.threshold()
        y = _PruneFn.apply(x, theta, self.temperature)
        if not torch.jit.is_tracing():
            zeros = int((y == 0).sum())
            self.counts[0] += zeros
            self.counts[1] += y.numel()
            self.zero_fraction = zeros / max(1, y.numel())
        if self.training and self.weight > 0 and torch.is_grad_enabled():
            self._soft_kept.append(torch.sigmoid((x.detach().abs() - theta) / self.temperature).mean())
        return y

    def sparsity_loss(self) -> torch.Tensor | None:
        """Weighted soft fraction of kept states since the last call (then cleared)."""
        if not self._soft_kept:
            return None
        loss = self.weight * torch.stack(self._soft_kept).mean()
        self._soft_kept = []
        return loss

    def reset_counts(self) -> None:
        self.counts = [0, 0]
        self._soft_kept = []

    def accumulated_zero_fraction(self) -> float:
        return self.counts[0] / self.counts[1] if self.counts[1] else 0.0

    def describe(self) -> dict:
        th = self.threshold().detach().cpu().numpy().astype(float)
        return {"kind": "state-pruning", "threshold": th.tolist() if th.size > 1 else float(th[0])}


class TabulatedActivation(nn.Module):
    """A transfer curve ``y(x)`` tabulated on a strictly increasing grid, evaluated by linear
    interpolation (differentiable: the gradient is the segment's slope).  Outside the grid the end
    values are held (gradient 0) — a WFSM's output saturates too.

    Plug the WFSM engineer's curves in with ``TabulatedActivation(grid, values)`` (e.g. the
    bipolar output 2P-1 of a synthesized tanh, or P for a sigmoid, as a function of the input) and
    pass it to a layer's :class:`~sccompiler.train.GateActivations`.
    """

    def __init__(self, grid, values, name: str = "tabulated") -> None:
        super().__init__()
        g = np.asarray(grid, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if g.ndim != 1 or g.size < 2:
            raise SCValueError("grid", f"must be a 1-D array of at least 2 points, got shape {g.shape}")
        if v.shape != g.shape:
            raise SCValueError("values", f"shape {v.shape} != grid shape {g.shape}")
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(v))):
            raise SCValueError("grid", "grid and values must be finite")
        if np.any(np.diff(g) <= 0):
            raise SCValueError("grid", "must be strictly increasing")
        self.name = name
        self.register_buffer("grid", torch.from_numpy(g))
        self.register_buffer("values", torch.from_numpy(v))

    @classmethod
    def from_function(cls, fn: Callable[[np.ndarray], np.ndarray], lo: float, hi: float,
                      points: int = 257, name: str = "tabulated") -> "TabulatedActivation":
        """Tabulate a numpy function on ``points`` equally spaced points of [lo, hi]."""
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise SCValueError("lo", f"need finite lo < hi, got {lo!r}, {hi!r}")
        if isinstance(points, bool) or not isinstance(points, int) or points < 2:
            raise SCValueError("points", f"must be an int >= 2, got {points!r}")
        grid = np.linspace(lo, hi, points)
        return cls(grid, np.asarray(fn(grid), dtype=np.float64), name=name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = self.grid.to(x.dtype)
        values = self.values.to(x.dtype)
        xc = x.clamp(grid[0], grid[-1])
        idx = torch.bucketize(xc.detach(), grid, right=True).clamp(1, grid.numel() - 1)
        x0, x1 = grid[idx - 1], grid[idx]
        y0, y1 = values[idx - 1], values[idx]
        return y0 + (y1 - y0) * (xc - x0) / (x1 - x0)

    def describe(self) -> dict:
        return {"kind": "tabulated", "name": self.name, "points": int(self.grid.numel()),
                "range": [float(self.grid[0]), float(self.grid[-1])]}
