"""Seeded CPU training loop (:func:`fit` / :class:`Trainer`) and small synthetic tasks.

One run is a pure function of (model initial state, data, :class:`TrainConfig`): shuffling and the
stochastic weight draws use generators seeded from ``TrainConfig.seed``, and the global torch RNG
is forked, so a caller's RNG state is neither used nor changed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, SCValueError
from ..tasks import synthetic_task_arrays
from .layers import recalibrate_batchnorm, recurrent_layers, set_generator, state_sparsity
from .optim import clip_weights, make_optimizer

#: the learning-rate schedules of :class:`TrainConfig`
LR_SCHEDULES = ("constant", "cosine")


def scheduled_lr(lr: float, schedule: str, batch: int, total: int) -> float:
    """The learning rate of batch ``batch`` (0-based) of ``total`` under ``schedule``."""
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * batch / total))
    return lr


@dataclass(frozen=True)
class TrainConfig:
    """``loss``: ``"mse"``, ``"cross_entropy"`` (targets are class ids per step) or ``"auto"``
    (cross-entropy for integer targets).  ``clip_steps``: Adam step clipping to ±W0
    (``"binary"`` as in the paper, ``"quantized"``, ``"none"``); ``clip_weights``: clamp real
    weights to their clip range after each step.  ``log_every``: epochs between log lines.
    ``recalibrate_bn``: after training, recompute the batch-norm statistics with the eval weights
    on the training inputs (:func:`~sccompiler.train.recalibrate_batchnorm`, in chunks of
    ``max(batch_size, 1024)`` sequences).  ``targets_at``: ``"every_step"`` (targets ``(B, T[, out])``,
    the loss over every step; -100 marks ignored class targets) or ``"last_step"`` (one target per
    sequence, ``(B,)`` class ids or ``(B, out)`` values, against the last step's output: a
    sequence classifier / regressor).  ``lr_schedule``: ``"constant"`` or ``"cosine"`` (the
    learning rate of batch ``k`` of ``K`` is ``lr·½(1+cos(πk/K))``, annealed to 0 over the run).
    ``grad_clip``: rescale the gradient to this global L2 norm when it is larger, before each
    optimizer step (``None``: off; the usual guard against exploding recurrent gradients)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    loss: str = "auto"
    clip_steps: str = "binary"
    clip_weights: bool = True
    log_every: int = 1
    recalibrate_bn: bool = True
    targets_at: str = "every_step"
    lr_schedule: str = "constant"
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if self.grad_clip is not None and (isinstance(self.grad_clip, bool)
                                           or not isinstance(self.grad_clip, (int, float))
                                           or not math.isfinite(self.grad_clip) or self.grad_clip <= 0):
            raise ConfigError(f"grad_clip must be a positive number or None, got {self.grad_clip!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.targets_at not in ("every_step", "last_step"):
            raise ConfigError(f"targets_at must be 'every_step' or 'last_step', got {self.targets_at!r}")
        for name in ("epochs", "batch_size", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive int, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.loss not in ("auto", "mse", "cross_entropy"):
            raise ConfigError(f"loss must be 'auto', 'mse' or 'cross_entropy', got {self.loss!r}")


@dataclass
class TrainResult:
    """Per-epoch mean training loss (task loss only), final state sparsity, wall time."""

    losses: list[float] = field(default_factory=list)
    state_sparsity: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"losses": self.losses, "state_sparsity": self.state_sparsity, "seconds": self.seconds}


def _task_loss(kind: str, output: torch.Tensor, target: torch.Tensor, targets_at: str = "every_step") -> torch.Tensor:
    if targets_at == "last_step":
        output = output[:, -1]
    if kind == "cross_entropy":
        return nn.functional.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))
    return nn.functional.mse_loss(output, target)


class Trainer:
    """Holds the model, data and config; :meth:`run` trains and returns a :class:`TrainResult`."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 config: TrainConfig | None = None, log: Callable[[str], None] | None = None) -> None:
        self.model = model
        self.config = config if config is not None else TrainConfig()
        if inputs.shape[0] != targets.shape[0] or inputs.shape[0] == 0:
            raise SCValueError("targets", f"need as many non-empty samples as inputs: "
                               f"{inputs.shape[0]} inputs, {targets.shape[0]} targets")
        self.inputs, self.targets = inputs, targets
        kind = self.config.loss
        if kind == "auto":
            kind = "mse" if targets.is_floating_point() else "cross_entropy"
        self.loss_kind = kind
        self.log = log

    def run(self) -> TrainResult:
        cfg, model = self.config, self.model
        result = TrainResult()
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            shuffle = torch.Generator().manual_seed(cfg.seed)
            draws = torch.Generator().manual_seed(cfg.seed + 1)
            set_generator(model, draws)
            prunings = [p for layer in recurrent_layers(model) for p in layer.prunings().values()]
            opt = make_optimizer(model, cfg.lr, clip_steps=cfg.clip_steps)
            model.train()
            n = self.inputs.shape[0]
            total_batches, batch_no = cfg.epochs * math.ceil(n / cfg.batch_size), 0
            try:
                for epoch in range(cfg.epochs):
                    for p in prunings:
                        p.reset_counts()
                    order = torch.randperm(n, generator=shuffle)
                    total, batches = 0.0, 0
                    for s in range(0, n, cfg.batch_size):
                        idx = order[s:s + cfg.batch_size]
                        opt.zero_grad(set_to_none=True)
                        for group in opt.param_groups:
                            group["lr"] = scheduled_lr(cfg.lr, cfg.lr_schedule, batch_no, total_batches)
                        batch_no += 1
                        loss = _task_loss(self.loss_kind, model(self.inputs[idx]), self.targets[idx],
                                          cfg.targets_at)
                        full = loss
                        for p in prunings:
                            extra = p.sparsity_loss()
                            if extra is not None:
                                full = full + extra
                        full.backward()
                        if cfg.grad_clip is not None:
                            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                        opt.step()
                        if cfg.clip_weights:
                            clip_weights(model)
                        total += float(loss.detach())
                        batches += 1
                    result.losses.append(total / batches)
                    if self.log is not None and ((epoch + 1) % cfg.log_every == 0 or epoch + 1 == cfg.epochs):
                        sp = state_sparsity(model)
                        extra = f" zero states {sp}" if sp else ""
                        self.log(f"epoch {epoch + 1}/{cfg.epochs} loss {result.losses[-1]:.5f} "
                                 f"({time.perf_counter() - start:.1f} s){extra}")
            finally:
                set_generator(model, None)
        if cfg.recalibrate_bn and any(layer.batchnorms() for layer in recurrent_layers(model)):
            recalibrate_batchnorm(model, self.inputs, batch_size=max(cfg.batch_size, 1024))
        model.eval()
        result.state_sparsity = state_sparsity(model, self.inputs) if prunings else {}
        result.seconds = time.perf_counter() - start
        return result


def fit(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
        config: TrainConfig | None = None, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``model`` on ``(inputs, targets)``; leaves it in eval mode.  ``log`` receives one
    line per ``config.log_every`` epochs (e.g. ``print``)."""
    return Trainer(model, inputs, targets, config, log).run()


def synthetic_task(name: str, samples: int = 256, steps: int = 16, *, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sccompiler.tasks.synthetic_task_arrays` as torch tensors (inputs in ``dtype``,
    class targets as ``torch.long``): ``"sine"`` (next-value regression), ``"parity"`` (running
    parity class) and ``"delay"`` (the input two steps earlier)."""
    x, y = synthetic_task_arrays(name, samples, steps, seed=seed)
    yt = torch.tensor(y, dtype=dtype) if name == "sine" else torch.tensor(y, dtype=torch.long)
    return torch.tensor(x, dtype=dtype), yt


@torch.no_grad()
def init_from_model(model: nn.Module, source) -> list[str]:
    """Initialise ``model`` (a :class:`~sccompiler.train.QuantSequenceModel`) from a trained
    model: ``source`` is an IR :class:`~sccompiler.ir.Model` or a native model directory (e.g. the
    float model a quantized variant is fine-tuned from).  Copies the embedding, each recurrent
    layer's ``w_ih``, ``w_hh`` and biases, its batch norms' γ, β and per-step statistics where
    both have that batch norm, and the head's weight and bias, as real values (a quantized source
    gives its levels); everything else (a batch norm only one side has, the examples' gains)
    keeps its initial value.  Returns the names copied; a source of another architecture (cell, layer
    count, sizes) raises :class:`~sccompiler.errors.SCValueError` and changes nothing."""
    from ..ir.model import GRU, LSTM, Embedding, Linear  # noqa: PLC0415
    from .layers import QuantSequenceModel  # noqa: PLC0415

    if not isinstance(model, QuantSequenceModel):
        raise SCValueError("model", f"init_from_model takes a QuantSequenceModel, got {type(model).__name__}")
    if not hasattr(source, "layers"):
        from ..frontends import load_model  # noqa: PLC0415

        source = load_model(source)
    src_rec = [lay for lay in source.layers if isinstance(lay, (LSTM, GRU))]
    src_emb = [lay for lay in source.layers if isinstance(lay, Embedding)]
    src_head = [lay for lay in source.layers if isinstance(lay, Linear)]
    layers = list(model.rnn.layers)
    pairs = []                                       # (name, parameter, array): checked, then copied
    stats = []                                       # (batch norm, mean, var) rows, copied with them

    def want(name, param, array) -> None:
        if param is None or array is None:
            return
        if tuple(param.shape) != tuple(array.shape):
            raise SCValueError("init", f"{source.name!r} does not fit: {name} is {tuple(array.shape)}, "
                               f"the model's is {tuple(param.shape)}")
        pairs.append((name, param, array))

    if len(src_rec) != len(layers):
        raise SCValueError("init", f"{source.name!r} has {len(src_rec)} recurrent layer(s), the model {len(layers)}")
    for k, (lay, src) in enumerate(zip(layers, src_rec)):
        kind = "lstm" if isinstance(src, LSTM) else "gru"
        if kind != lay.kind:
            raise SCValueError("init", f"{source.name!r} layer {k} is a {kind.upper()}, "
                               f"the model's a {lay.kind.upper()}")
        for fname, attr in (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh")):
            t = getattr(src, fname)
            want(f"{src.name}.{fname}", getattr(lay, attr, None), None if t is None else t.data)
        for fname in ("bn_x", "bn_h", "bn_c"):
            bn, sbn = getattr(lay, fname, None), getattr(src, fname, None)
            if bn is not None and sbn is not None:
                first = (lambda a: a[0]) if sbn.per_step else (lambda a: a)  # noqa: E731
                want(f"{src.name}.{fname}.gamma", bn.gamma, first(sbn.gamma))
                want(f"{src.name}.{fname}.beta", bn.beta, first(sbn.beta))
                stats.append((bn, np.atleast_2d(sbn.mean), np.atleast_2d(sbn.var)))
    if (model.embedding is None) != (not src_emb):
        raise SCValueError("init", f"{source.name!r} and the model differ in having an embedding")
    if src_emb:
        want("embedding", model.embedding.weight, src_emb[0].weight.data)
    if src_head:
        head = src_head[-1]
        want("head.weight", model.head.weight, head.weight.data)
        want("head.bias", model.head.bias, None if head.bias is None else head.bias.data)
    for _, param, array in pairs:
        param.copy_(torch.as_tensor(array, dtype=param.dtype))
    for bn, mean, var in stats:
        bn.running_mean = torch.as_tensor(mean, dtype=bn.running_mean.dtype).clone()
        bn.running_var = torch.as_tensor(var, dtype=bn.running_var.dtype).clone()
        bn.rows_seen = torch.ones(mean.shape[0], dtype=torch.long)
    return [name for name, _, _ in pairs]
