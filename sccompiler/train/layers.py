"""Quantized recurrent layers for training: :class:`QuantLSTM`, :class:`QuantGRU` (stacks of
:class:`QuantLSTMLayer` / :class:`QuantGRULayer`, batch-first, one direction) and
:class:`QuantSequenceModel` (optional embedding, recurrent stack, per-step linear head).

Equations (exactly the IR's, :mod:`sccompiler.ir.model`; gate rows i, f, g, o / r, z, n)::

    a_t = BNx(Q(W_ih) x_t) + b_ih          b_t = BNh(Q(W_hh) h_{t-1}) + b_hh
    LSTM: [i f g o] = [σ σ tanh σ](a_t + b_t);  c_t = f c_{t-1} + i g;  h_t = o tanh(BNc(c_t))
    GRU:  r = σ(a_r + b_r), z = σ(a_z + b_z), n = tanh(a_n + r b_n), h_t = (1-z) n + z h_{t-1}

with zero initial states.  Recurrent batch norm follows Ardakani et al. (ICLR 2019, after
Cooijmans et al.): separate statistics per time step, γ initialized to 0.1, BNx without β, BNh's β
acting as the gate bias (the forget-gate block initialized to 1), BNc on the cell state before the
tanh (the stored c_t stays unnormalized).  With batch norm an LSTM has no other bias; a GRU keeps a
learnable ``b_ih`` (zero-initialized).  Without batch norm both ``b_ih`` and ``b_hh`` are used.

Weights are quantized at every forward pass in training mode (fresh uniforms for stochastic
schemes); eval mode uses the deterministic rule or a frozen stochastic sample
(:meth:`QuantLSTMLayer.freeze_sample`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, SCValueError
from ..quantize.schemes import recurrent_fan_out
from .activations import StatePruning, TernaryActivation
from .quantizers import (
    QuantConfig,
    draw_noise,
    glorot_bound,
    quantize_values,
    quantize_weight,
    weight_bound,
    weight_scale,
)


@dataclass(frozen=True)
class BatchNormConfig:
    """Recurrent batch norm: γ init (paper 0.1), ε (the authors' code: 1e-4) and the running
    statistics' momentum (the authors' α = 0.05; ``None`` = cumulative average)."""

    gamma_init: float = 0.1
    eps: float = 1e-4
    momentum: float | None = 0.05

    def __post_init__(self) -> None:
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"batch-norm eps must be > 0, got {self.eps!r}")
        if self.momentum is not None and not 0 < self.momentum <= 1:
            raise ConfigError(f"batch-norm momentum must be in (0, 1] or None, got {self.momentum!r}")


@dataclass(frozen=True)
class PruningConfig:
    """State pruning (DATE 2019): which states (``"h"``, ``"c"``), the initial threshold, whether it
    is learned (per unit or per layer), the surrogate temperature and the sparsity-loss weight."""

    targets: tuple[str, ...] = ("h",)
    init_threshold: float = 0.05
    learnable: bool = True
    per_unit: bool = False
    temperature: float = 0.02
    weight: float = 1e-2

    def __post_init__(self) -> None:
        bad = [t for t in self.targets if t not in ("h", "c")]
        if bad or not self.targets:
            raise ConfigError(f"pruning targets must be a non-empty subset of ('h', 'c'), got {self.targets!r}")


def _default_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def _default_tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)


@dataclass(frozen=True)
class GateActivations:
    """The nonlinearities of a layer: ``sigmoid`` (gates), ``tanh`` (LSTM g / GRU n) and
    ``cell_tanh`` (LSTM tanh(c_t)).  Replace them with
    :class:`~sccompiler.train.TabulatedActivation` curves for hardware-aware fine-tuning."""

    sigmoid: Callable[[torch.Tensor], torch.Tensor] = _default_sigmoid
    tanh: Callable[[torch.Tensor], torch.Tensor] = _default_tanh
    cell_tanh: Callable[[torch.Tensor], torch.Tensor] = _default_tanh

    @property
    def is_default(self) -> bool:
        return (self.sigmoid is _default_sigmoid and self.tanh is _default_tanh
                and self.cell_tanh is _default_tanh)

    def describe(self) -> dict:
        def one(fn) -> object:
            if fn in (_default_sigmoid, _default_tanh):
                return "exact"
            return fn.describe() if hasattr(fn, "describe") else getattr(fn, "__name__", repr(fn))
        return {"sigmoid": one(self.sigmoid), "tanh": one(self.tanh), "cell_tanh": one(self.cell_tanh)}


class RecurrentBatchNorm(nn.Module):
    """Batch norm with one row of running statistics per time step.

    Training: normalize with the batch's statistics at step ``t`` (biased variance, as the authors'
    ``T.var``) and update row ``t`` (the first update of a row copies the batch statistics, later
    ones are an exponential average with ``momentum``, or a cumulative average when it is None).
    Eval: use row ``min(t, rows-1)`` — the IR's rule for steps beyond the last.
    """

    def __init__(self, features: int, config: BatchNormConfig, *, learn_beta: bool = True,
                 beta_init: torch.Tensor | None = None) -> None:
        super().__init__()
        self.features = features
        self.eps = config.eps
        self.momentum = config.momentum
        self.gamma = nn.Parameter(torch.full((features,), float(config.gamma_init)))
        beta = torch.zeros(features) if beta_init is None else beta_init.clone().float()
        if learn_beta:
            self.beta = nn.Parameter(beta)
        else:
            self.register_buffer("beta", beta)
        self.register_buffer("running_mean", torch.zeros(1, features))
        self.register_buffer("running_var", torch.ones(1, features))
        self.register_buffer("rows_seen", torch.zeros(1, dtype=torch.long))
        #: True while :func:`recalibrate_batchnorm` runs: batch statistics in eval mode, and
        #: per-step (count, sum, sum of squares) accumulated in ``_calibration``
        self.calibrating = False
        self._calibration: dict[int, list] = {}

    @property
    def steps(self) -> int:
        return int(self.running_mean.shape[0])

    def begin_calibration(self) -> None:
        self.calibrating = True
        self._calibration = {}

    @torch.no_grad()
    def end_calibration(self) -> None:
        """Set the running statistics to the exact population mean/variance accumulated since
        :meth:`begin_calibration` (steps never seen keep their old rows)."""
        self.calibrating = False
        if self._calibration:
            self._grow(max(self._calibration) + 1)
        for t, (n, s, ss) in self._calibration.items():
            mean = s / n
            self.running_mean[t] = mean.to(self.running_mean.dtype)
            self.running_var[t] = (ss / n - mean * mean).clamp_min(0.0).to(self.running_var.dtype)
            self.rows_seen[t] = n
        self._calibration = {}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the number of per-step rows is data-dependent: take the saved one
        key = prefix + "running_mean"
        if key in state_dict:
            rows = int(state_dict[key].shape[0])
            self.running_mean = torch.zeros(rows, self.features, dtype=self.running_mean.dtype)
            self.running_var = torch.ones(rows, self.features, dtype=self.running_var.dtype)
            self.rows_seen = torch.zeros(rows, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _grow(self, rows: int) -> None:
        extra = rows - self.steps
        if extra > 0:
            self.running_mean = torch.cat([self.running_mean, torch.zeros(extra, self.features)])
            self.running_var = torch.cat([self.running_var, torch.ones(extra, self.features)])
            self.rows_seen = torch.cat([self.rows_seen, torch.zeros(extra, dtype=torch.long)])

    def forward(self, x: torch.Tensor, t: int) -> torch.Tensor:
        if self.calibrating:
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            with torch.no_grad():
                xd = x.detach().double()
                acc = self._calibration.setdefault(t, [0, 0.0, 0.0])
                acc[0] += xd.shape[0]
                acc[1] = acc[1] + xd.sum(0)
                acc[2] = acc[2] + (xd * xd).sum(0)
        elif self.training:
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            with torch.no_grad():
                self._grow(t + 1)
                seen = int(self.rows_seen[t])
                if seen == 0 or self.momentum is None:
                    w = 1.0 / (seen + 1)
                else:
                    w = self.momentum
                self.running_mean[t] += w * (mean.detach().float() - self.running_mean[t])
                self.running_var[t] += w * (var.detach().float() - self.running_var[t])
                self.rows_seen[t] += 1
        else:
            row = min(t, self.steps - 1)
            mean = self.running_mean[row].to(x.dtype)
            var = self.running_var[row].to(x.dtype)
        return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta

    def ir_arrays(self) -> dict[str, np.ndarray]:
        """gamma, beta, mean, var as ``(steps, features)`` float64 arrays for the IR."""
        steps = self.steps
        tile = lambda v: np.tile(v.detach().double().numpy(), (steps, 1))  # noqa: E731
        return {"gamma": tile(self.gamma), "beta": tile(self.beta),
                "mean": self.running_mean.detach().double().numpy().copy(),
                "var": self.running_var.detach().double().numpy().copy()}


class QuantRecurrentLayer(nn.Module):
    """Shared machinery of the LSTM and GRU layers (weights, quantization, batch norm)."""

    gates: int = 0
    kind: str = ""

    def __init__(self, input_size: int, hidden_size: int, *, quant: QuantConfig | None = None,
                 batch_norm: BatchNormConfig | None = None, activations: GateActivations | None = None,
                 hidden_quant: TernaryActivation | None = None, pruning: PruningConfig | None = None,
                 init_generator: torch.Generator | None = None) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SCValueError(name, f"must be a positive int, got {v!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.quant = quant if quant is not None else QuantConfig()
        self.bn_config = batch_norm
        self.activations = activations if activations is not None else GateActivations()
        self.hidden_quant = hidden_quant
        rows = self.gates * hidden_size
        self.weight_ih = nn.Parameter(self._init((rows, input_size), input_size, rows, init_generator))
        self.weight_hh = nn.Parameter(self._init((rows, hidden_size), hidden_size, rows, init_generator))
        fan_out = recurrent_fan_out(self.quant.scheme, self.gates, hidden_size)
        self.scale_ih = weight_scale(self.quant, input_size, fan_out)
        self.scale_hh = weight_scale(self.quant, hidden_size, fan_out)
        #: generator for the stochastic weight draws (the global torch RNG when None)
        self.generator: torch.Generator | None = None
        #: the design's stream noise injected in training mode (:mod:`sccompiler.train.noise`)
        self.noise = None
        # a frozen stochastic sample and its seed (empty / -1 when none), buffers so that they are
        # saved in the state_dict
        self.register_buffer("sample_ih", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("sample_hh", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("sample_seed_", torch.tensor(-1, dtype=torch.long))
        self.prune_h = self.prune_c = None
        if pruning is not None:
            kw = dict(init_threshold=pruning.init_threshold, learnable=pruning.learnable,
                      per_unit=pruning.per_unit, temperature=pruning.temperature, weight=pruning.weight)
            if "h" in pruning.targets:
                self.prune_h = StatePruning(hidden_size, **kw)
            if "c" in pruning.targets:
                if self.kind != "lstm":
                    raise ConfigError("cell-state pruning ('c') needs an LSTM")
                self.prune_c = StatePruning(hidden_size, **kw)

    @staticmethod
    def _init(shape, fan_in, fan_out, generator) -> torch.Tensor:
        # the authors' init: uniform in ±sqrt(6/(fan_in+fan_out)) = ±2·W0
        b = glorot_bound(fan_in, fan_out)
        return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * b

    def real_weights(self) -> list[tuple[str, nn.Parameter, float | None]]:
        return [("w_ih", self.weight_ih, self.scale_ih), ("w_hh", self.weight_hh, self.scale_hh)]

    def clip_bounds(self) -> dict[str, float | None]:
        """Real-weight clip range per weight matrix (``None``: unbounded scheme)."""
        return {"w_ih": weight_bound(self.quant, self.scale_ih), "w_hh": weight_bound(self.quant, self.scale_hh)}

    def freeze_sample(self, seed: int) -> None:
        """Draw one stochastic weight sample (from ``seed``) and use it in eval mode from now on."""
        if not self.quant.stochastic:
            raise ConfigError("freeze_sample needs a stochastic quantization scheme")
        g = torch.Generator().manual_seed(int(seed))
        self.sample_ih = quantize_values(self.weight_ih, self.quant, self.scale_ih,
                                         draw_noise(self.weight_ih.shape, g))
        self.sample_hh = quantize_values(self.weight_hh, self.quant, self.scale_hh,
                                         draw_noise(self.weight_hh.shape, g))
        self.sample_seed_ = torch.tensor(int(seed), dtype=torch.long)

    @property
    def sample_seed(self) -> int | None:
        """Seed of the frozen sample (``None`` when no sample was frozen)."""
        seed = int(self.sample_seed_)
        return None if seed < 0 else seed

    @property
    def has_sample(self) -> bool:
        return self.sample_ih.numel() > 0

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a saved sample has the weights' shape, an unsaved one is empty: take the saved shape
        for name in ("sample_ih", "sample_hh"):
            if prefix + name in state_dict:
                setattr(self, name, torch.zeros_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def eval_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The float64 quantized weights eval mode uses (deterministic rule or frozen sample)."""
        if self.quant.eval_weights == "sample":
            if not self.has_sample:
                raise ConfigError("eval_weights='sample' but no sample was frozen; call freeze_sample(seed)")
            return self.sample_ih, self.sample_hh
        return (quantize_values(self.weight_ih, self.quant, self.scale_ih),
                quantize_values(self.weight_hh, self.quant, self.scale_hh))

    def quantized_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training:
            return (quantize_weight(self.weight_ih, self.quant, self.scale_ih, generator=self.generator),
                    quantize_weight(self.weight_hh, self.quant, self.scale_hh, generator=self.generator))
        wx, wh = self.eval_weights()
        return wx.to(self.weight_ih.dtype), wh.to(self.weight_hh.dtype)

    def _post_hidden(self, h: torch.Tensor) -> torch.Tensor:
        if self.hidden_quant is not None:
            h = self.hidden_quant(h)
        if self.prune_h is not None:
            h = self.prune_h(h)
        return h

    def prunings(self) -> dict[str, StatePruning]:
        return {k: m for k, m in (("h", self.prune_h), ("c", self.prune_c)) if m is not None}

    def _make_bns(self, forget_block: int | None) -> None:
        rows = self.gates * self.hidden_size
        cfg = self.bn_config
        self.bias_ih = self.bias_hh = None
        self.bn_x = self.bn_h = self.bn_c = None
        beta = torch.zeros(rows)
        if forget_block is not None:
            beta[forget_block * self.hidden_size:(forget_block + 1) * self.hidden_size] = 1.0
        if cfg is None:
            self.bias_ih = nn.Parameter(torch.zeros(rows))
            self.bias_hh = nn.Parameter(beta)
            return
        self.bn_x = RecurrentBatchNorm(rows, cfg, learn_beta=False)
        self.bn_h = RecurrentBatchNorm(rows, cfg, learn_beta=True, beta_init=beta)

    def batchnorms(self) -> dict[str, RecurrentBatchNorm]:
        return {k: getattr(self, k) for k in ("bn_x", "bn_h", "bn_c") if getattr(self, k, None) is not None}

    def _affine_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise SCValueError("x", f"expected (batch, time, {self.input_size}), got {tuple(x.shape)}")
        wx, wh = self.quantized_weights()
        return x @ wx.t(), wh

    def _pre(self, xw_t, h, wh, t):
        a = xw_t
        b = h @ wh.t()
        if self.bn_x is not None:
            a = self.bn_x(a, t)
            b = self.bn_h(b, t)
        if self.bias_ih is not None:
            a = a + self.bias_ih
        if self.bias_hh is not None:
            b = b + self.bias_hh
        return a, b


class QuantLSTMLayer(QuantRecurrentLayer):
    """One quantized LSTM layer (module docstring has the equations)."""

    gates = 4
    kind = "lstm"

    def __init__(self, input_size: int, hidden_size: int, **kw) -> None:
        super().__init__(input_size, hidden_size, **kw)
        self._make_bns(forget_block=1)
        if self.bn_config is not None:
            self.bn_c = RecurrentBatchNorm(hidden_size, self.bn_config, learn_beta=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xw, wh = self._affine_inputs(x)
        batch, steps = x.shape[0], x.shape[1]
        h = x.new_zeros(batch, self.hidden_size)
        c = x.new_zeros(batch, self.hidden_size)
        act = self.activations
        out = []
        for t in range(steps):
            a, b = self._pre(xw[:, t], h, wh, t)
            i, f, g, o = (a + b).chunk(4, dim=1)
            noise = self.noise if self.training else None
            if noise is None:
                c = act.sigmoid(f) * c + act.sigmoid(i) * act.tanh(g)
            else:
                sf, ig = noise.gate("f", f, act.sigmoid(f)), noise.gate("i", i, act.sigmoid(i)) * noise.gate(
                    "g", g, act.tanh(g))
                c = noise.cell(sf * c + ig, sf * c, ig)
            if self.prune_c is not None:
                c = self.prune_c(c)
            cn = self.bn_c(c, t) if self.bn_c is not None else c
            if noise is None:
                h = self._post_hidden(act.sigmoid(o) * act.cell_tanh(cn))
            else:
                h = noise.hidden(noise.gate("o", o, act.sigmoid(o)) * noise.gate("cell", cn, act.cell_tanh(cn)))
                h = self._post_hidden(h)
            out.append(h)
        return torch.stack(out, dim=1)


class QuantGRULayer(QuantRecurrentLayer):
    """One quantized GRU layer, PyTorch's linear-before-reset form (module docstring)."""

    gates = 3
    kind = "gru"

    def __init__(self, input_size: int, hidden_size: int, **kw) -> None:
        super().__init__(input_size, hidden_size, **kw)
        self._make_bns(forget_block=None)
        if self.bn_config is not None:
            self.bias_ih = nn.Parameter(torch.zeros(3 * hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xw, wh = self._affine_inputs(x)
        batch, steps = x.shape[0], x.shape[1]
        h = x.new_zeros(batch, self.hidden_size)
        act = self.activations
        out = []
        for t in range(steps):
            a, b = self._pre(xw[:, t], h, wh, t)
            ar, az, an = a.chunk(3, dim=1)
            br, bz, bn = b.chunk(3, dim=1)
            noise = self.noise if self.training else None
            r = act.sigmoid(ar + br)
            z = act.sigmoid(az + bz)
            if noise is not None:
                r, z = noise.gate("r", ar + br, r), noise.gate("z", az + bz, z)
            n = act.tanh(an + r * bn)
            if noise is None:
                h = self._post_hidden((1 - z) * n + z * h)
            else:
                n = noise.gate("n", an + r * bn, n)
                h = self._post_hidden(noise.hidden((1 - z) * n + z * h))
            out.append(h)
        return torch.stack(out, dim=1)


class QuantStack(nn.Module):
    layer_cls: type[QuantRecurrentLayer] = QuantRecurrentLayer

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 seed: int | None = None, **layer_kw) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise SCValueError("num_layers", f"must be a positive int, got {num_layers!r}")
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.layers = nn.ModuleList(
            self.layer_cls(input_size if k == 0 else hidden_size, hidden_size, init_generator=gen, **layer_kw)
            for k in range(num_layers))
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class QuantLSTM(QuantStack):
    """A stack of :class:`QuantLSTMLayer` (batch-first, one direction); ``forward(x)`` returns
    the last layer's hidden sequence ``(batch, time, hidden)``.  Keyword arguments go to each
    layer (``quant``, ``batch_norm``, ``activations``, ``hidden_quant``, ``pruning``)."""

    layer_cls = QuantLSTMLayer


class QuantGRU(QuantStack):
    """A stack of :class:`QuantGRULayer` (see :class:`QuantLSTM`)."""

    layer_cls = QuantGRULayer


class QuantSequenceModel(nn.Module):
    """Embedding (token input, float) or feature input → quantized LSTM/GRU stack → per-step
    linear head (float unless ``head_quant`` is given).  ``forward(x)`` returns ``(batch, time,
    output_size)`` (logits for classification)."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int, *,
                 num_layers: int = 1, vocab_size: int | None = None, head_quant: QuantConfig | None = None,
                 seed: int | None = None, **layer_kw) -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ConfigError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        if isinstance(output_size, bool) or not isinstance(output_size, int) or output_size < 1:
            raise SCValueError("output_size", f"must be a positive int, got {output_size!r}")
        self.cell = cell
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.embedding = None
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, input_size)
            with torch.no_grad():
                self.embedding.weight.copy_(torch.randn(vocab_size, input_size, generator=gen))
        stack = QuantLSTM if cell == "lstm" else QuantGRU
        self.rnn = stack(input_size, hidden_size, num_layers,
                         seed=None if gen is None else int(torch.randint(0, 2**62, (1,), generator=gen)),
                         **layer_kw)
        self.head = nn.Linear(hidden_size, output_size)
        with torch.no_grad():
            b = 1.0 / math.sqrt(hidden_size)
            self.head.weight.copy_((torch.rand(output_size, hidden_size, generator=gen) * 2 - 1) * b)
            self.head.bias.zero_()
        self.head_quant = head_quant
        self.head_scale = (weight_scale(head_quant, hidden_size, output_size)
                           if head_quant is not None else None)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.vocab_size = vocab_size
        #: generator of the head's stochastic weight draws (the global torch RNG when None)
        self.generator: torch.Generator | None = None

    def head_weight(self) -> torch.Tensor:
        if self.head_quant is None or not self.head_quant.quantized:
            return self.head.weight
        if self.training:
            return quantize_weight(self.head.weight, self.head_quant, self.head_scale, generator=self.generator)
        return quantize_values(self.head.weight, self.head_quant, self.head_scale).to(self.head.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            if x.dim() != 2:
                raise SCValueError("x", f"token input must be (batch, time) ids, got {tuple(x.shape)}")
            x = self.embedding(x)
        y = self.rnn(x)
        return y @ self.head_weight().t() + self.head.bias


def recurrent_layers(model: nn.Module) -> list[QuantRecurrentLayer]:
    """The quantized recurrent layers of a model, in order."""
    return [m for m in model.modules() if isinstance(m, QuantRecurrentLayer)]


def set_generator(model: nn.Module, generator: torch.Generator | None) -> None:
    """Make every layer draw its stochastic weights from ``generator``."""
    for module in model.modules():
        if isinstance(module, (QuantRecurrentLayer, QuantSequenceModel)):
            module.generator = generator


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, inputs: torch.Tensor, batch_size: int | None = None) -> None:
    """Recompute every recurrent batch norm's per-step statistics with the *eval* weights
    (deterministic or frozen sample): the population mean and (biased) variance of each step's
    pre-activations over ``inputs``.  During the pass each batch is normalized with its own
    statistics, so with one batch (the default) the statistics are exactly those the eval network
    sees; with ``batch_size`` set they are exact per-batch sums combined.  Training statistics
    come from stochastic weight draws and moving averages; recalibrating makes the exported
    model consistent."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise SCValueError("batch_size", f"must be a positive int, got {batch_size!r}")
    was_training = model.training
    model.eval()
    bns = [bn for layer in recurrent_layers(model) for bn in layer.batchnorms().values()]
    for bn in bns:
        bn.begin_calibration()
    ok = False
    try:
        n = inputs.shape[0]
        step = n if batch_size is None else batch_size
        for s in range(0, n, step):
            model(inputs[s:s + step])
        ok = True
    finally:
        for bn in bns:
            if ok:
                bn.end_calibration()
            else:
                bn.calibrating = False
                bn._calibration = {}
        model.train(was_training)


@torch.no_grad()
def state_sparsity(model: nn.Module, inputs: torch.Tensor | None = None) -> dict[str, dict[str, float]]:
    """Fraction of exactly-zero pruned states per layer: ``{"layer0": {"h": 0.93}, ...}``.

    With ``inputs`` the model runs once in eval mode on them; without, the fractions accumulated
    since the last reset are reported.  Layers without pruning are omitted.
    """
    layers = recurrent_layers(model)
    if inputs is not None:
        for layer in layers:
            for p in layer.prunings().values():
                p.reset_counts()
        was_training = model.training
        model.eval()
        try:
            model(inputs)
        finally:
            model.train(was_training)
    report = {}
    for k, layer in enumerate(layers):
        pr = layer.prunings()
        if pr:
            report[f"layer{k}"] = {name: p.accumulated_zero_fraction() for name, p in pr.items()}
    return report


__all__ = [
    "BatchNormConfig", "GateActivations", "PruningConfig", "QuantGRU", "QuantGRULayer", "QuantLSTM",
    "QuantLSTMLayer", "QuantSequenceModel", "RecurrentBatchNorm", "recalibrate_batchnorm",
    "recurrent_layers", "set_generator", "state_sparsity",
]
