"""Noise-aware fine-tuning: the stream noise of a compiled design at its stream length L, as a
variance model (:func:`design_noise`) and zero-mean Gaussian noise of that variance injected into
the training forward pass (:class:`StreamNoise`, :func:`finetune_noise_aware`).

The variance model (docs/training.md "Noise-aware fine-tuning"), per recurrent layer, in the
float model's units, with every stream's per-cycle bits treated as independent unless stated:

* **gate outputs** (LSTM i, f, g, o and tanh(c); GRU r, z, n), integral WFSMs: a gate's stream
  is consumed bit by bit (XNORs into the cell's APC, h's XNOR / MUX), so its own per-cycle
  binomial part is already inside the counters below; what a WFSM adds is the autocorrelation of
  its output (the saturating counter moves slowly).  With the chain ``s -> clamp(s + d, 0, N-1)``
  (``d`` of Binomial(M) operands at the gate's mean input ``z = (pre - shift) / gain``), its
  stationary ``pi`` and the output probabilities ``w_s = Wq[s] / 2^b``, the L-average of the
  bipolar output has variance
  ``V = ((1 - y^2) + 8 sum_{k=1}^{L-1} (1 - k/L) Cov_k) / L`` (``Cov_k = Cov(w_{s_0}, w_{s_k})``);
  the injected *excess* is ``8 sum (1 - k/L) Cov_k / L`` (:func:`wfsm_average_variance`).  Gates
  realized by a table (``gate_input: table``) add the SNG's quantization ``(2 / 2^b)^2 / 12``.
* **c** (LSTM): ``c_t = C / L`` counts an APC over K streams of ``f c_{t-1} / K`` and one of
  ``i g``: ``(K + 1 - (f c_{t-1})^2 / K - (i g)^2) / L``, plus the re-encoding of c/K by b-bit
  SNGs, ``K^2 (2 / 2^b)^2 / 12``.
* **h** (``hidden: stream``): the up counter of h's stream, ``(1 - h^2) / L``, plus its b-bit
  re-encoding in the h streams' unit, ``(2 s / 2^b)^2 / 12`` (``s`` the h SNGs' scale).  A binary
  h (``hidden: sign``) adds nothing: its noise acts through c.

Not modelled: correlation between streams (shared sources, the tanh(c) FSM reading the same
integral stream as the c counter), saturation of c, and the x/h SNGs' finite-L noise beyond the
Binomial(M) input model the WFSM chain assumes.  ``tests/train/test_noise.py`` checks the WFSM
part against the bit-level FSM semantics and the c/h parts against the bit-exact runtime.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
from scipy import sparse

from ..errors import ConfigError, SCValueError
from ..fsm.inputs import BinomialInput
from ..fsm.steady import chain_steady_state
from ..sim.rules import is_int
from .activations import TabulatedActivation
from .hardware import design_layer, gate_rows, node_tables
from .layers import recurrent_layers
from .trainer import TrainConfig, Trainer, TrainResult

#: the most grid points a gate's variance curve is tabulated on
NOISE_POINTS = 33


def _transition(pmf: np.ndarray, deltas: np.ndarray, states: int) -> sparse.csr_matrix:
    cols = np.arange(states)
    rows, to, vals = [], [], []
    for d, p in zip(deltas.tolist(), pmf.tolist()):
        if p > 0:
            rows.append(cols)
            to.append(np.clip(cols + d, 0, states - 1))
            vals.append(np.full(states, p))
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(to))),
                             shape=(states, states))


def wfsm_average_variance(wq: np.ndarray, weight_bits: int, z: np.ndarray, operands: int,
                          length: int) -> tuple[np.ndarray, np.ndarray]:
    """``(V, excess)`` of the L-average of a WFSM's bipolar output at mean integral inputs ``z``
    (Binomial(``operands``) increments, steady state; module docstring): ``V`` the whole variance,
    ``excess`` the part beyond independent bits, ``V - (1 - y^2) / L``."""
    if not is_int(length) or length < 1:
        raise SCValueError("length", f"must be an integer >= 1, got {length!r}")
    wq = np.asarray(wq)
    states = int(wq.size)
    w = wq.astype(np.float64) / float(1 << int(weight_bits))
    m = int(operands)
    table = BinomialInput(m).increments(np.clip(np.asarray(z, dtype=np.float64).ravel(), -m, m))
    pis = chain_steady_state(table, states)
    L = int(length)
    total, excess = np.zeros(len(pis)), np.zeros(len(pis))
    weights = 1.0 - np.arange(1, L) / L
    for k, pi in enumerate(pis):
        P = _transition(np.asarray(table.pmf[k]), np.asarray(table.deltas), states)
        mean = float(pi @ w)
        v = w - mean
        acc = 0.0
        for lag in range(L - 1):
            v = P @ v
            acc += weights[lag] * float(pi @ ((w - mean) * v))
        y = 2.0 * mean - 1.0
        excess[k] = max(8.0 * acc / L, 0.0)
        total[k] = max(1.0 - y * y, 0.0) / L + excess[k]
    shape = np.shape(z)
    return total.reshape(shape), excess.reshape(shape)


class StdCurve(TabulatedActivation):
    """A gate's injected standard deviation as a function of its pre-activation (tabulated)."""


@dataclass(frozen=True, eq=False)
class LayerNoise:
    """The variance model of one recurrent layer at stream length ``length`` (module docstring)."""

    layer: str
    kind: str                              # lstm | gru
    length: int
    sng_bits: int
    hidden: str                            # stream | sign
    cell_range: int | None
    h_scale: float | None                  # the h SNGs' scale (value / scale is encoded)
    gates: Mapping[str, StdCurve]          # gate -> excess std of its output, by pre-activation
    gate_quantization: float               # variance added to every gate without a curve (table gates)

    @property
    def quantum(self) -> float:
        """Variance of a b-bit bipolar SNG's rounding, ``(2 / 2^b)^2 / 12``."""
        return (2.0 / (1 << self.sng_bits)) ** 2 / 12.0

    def gate_var(self, gate: str, pre: torch.Tensor) -> torch.Tensor:
        curve = self.gates.get(gate)
        if curve is None:
            return torch.full_like(pre, self.gate_quantization)
        return curve(pre) ** 2

    def cell_var(self, fc: torch.Tensor, ig: torch.Tensor) -> torch.Tensor:
        K = float(self.cell_range)
        binom = (K + 1.0 - fc * fc / K - ig * ig) / self.length
        return binom.clamp_min(0.0) + K * K * self.quantum

    def hidden_var(self, h: torch.Tensor) -> torch.Tensor:
        if self.hidden != "stream":
            return torch.zeros_like(h)
        scale = 1.0 if self.h_scale is None else self.h_scale
        return (1.0 - h * h).clamp_min(0.0) / self.length + scale * scale * self.quantum

    def describe(self) -> dict:
        return {"layer": self.layer, "kind": self.kind, "length": self.length, "sng_bits": self.sng_bits,
                "hidden": self.hidden, "cell_range": self.cell_range, "h_scale": self.h_scale,
                "wfsm_gates": sorted(self.gates), "gate_quantization": self.gate_quantization}


def _gate_std(node, rows: np.ndarray, length: int, points: int) -> StdCurve:
    """Excess std of the majority (table, operands) group of a gate's rows, on its pre grid."""
    tables, gains, shifts = node_tables(node)
    group = np.asarray(node.arrays["group"])[rows]
    operands = np.asarray(node.arrays["operands"])[rows].astype(np.int64)
    ids, counts = np.unique(group, return_counts=True)
    g = int(ids[np.argmax(counts)])
    m = int(round(float(np.median(operands[group == g]))))
    gain, shift = float(gains[0, g]), float(shifts[0, g])
    reach = abs(gain) * m + abs(shift)
    if gain == 0 or reach == 0:
        # a gate whose pre-activation cannot move has no stream noise to inject
        return StdCurve(np.array([-1.0, 1.0]), np.zeros(2), name=f"{node.name}.std")
    grid = np.linspace(-reach, reach, points)
    # pointwise in the operand mean (grid - shift) / gain, which falls along the grid when the gain
    # is negative; the curve keeps the increasing pre-activation grid
    _, excess = wfsm_average_variance(tables[0, g], int(node.params["weight_bits"]), (grid - shift) / gain, m,
                                      length)
    return StdCurve(grid, np.sqrt(excess), name=f"{node.name}.std")


def design_noise(design, *, length: int | None = None, points: int = NOISE_POINTS) -> dict[str, LayerNoise]:
    """The variance model of every LSTM/GRU layer of a compiled design at stream length ``length``
    (None: each layer's own L), read from its netlist: L, the SNG width, the gate WFSMs' tables,
    states and operand counts, c's range and the h SNGs' scale.  ``{layer name: LayerNoise}``."""
    from ..ir.model import GRU, LSTM  # noqa: PLC0415

    if length is not None and (not is_int(length) or length < 1):
        raise SCValueError("length", f"must be an integer >= 1, got {length!r}")
    if not is_int(points) or points < 2:
        raise SCValueError("points", f"must be an integer >= 2, got {points!r}")
    plans = {p.name: p for p in design.netlist.layers}
    out: dict[str, LayerNoise] = {}
    for lay in design.model.layers:
        if not isinstance(lay, (LSTM, GRU)):
            continue
        lay = design_layer(design, lay.name)
        plan = plans[lay.name]
        L = int(length if length is not None else plan.length)
        nodes = {n.name: n for n in design.netlist.nodes if n.layer == lay.name}
        gates = {}
        for gate, (node_name, rows) in gate_rows(lay.kind, lay.name, lay.hidden_size).items():
            node = nodes.get(node_name)
            if node is not None and node.op == "wfsm":
                gates[gate] = _gate_std(node, rows, L, int(points))
        bits = int(plan.options.sng_bits or 8)
        hs = nodes.get(f"{lay.name}.h_s")
        h_scale = float(hs.params.get("scale", 1.0)) if hs is not None else None
        out[lay.name] = LayerNoise(lay.name, lay.kind, L, bits, str(plan.options.hidden or "stream"),
                                   plan.options.cell_range, h_scale, gates, (2.0 / (1 << bits)) ** 2 / 12.0)
    if not out:
        raise ConfigError("the design has no LSTM/GRU layer: nothing to model the stream noise of")
    return out


class StreamNoise:
    """Injects zero-mean Gaussian noise of a :class:`LayerNoise`'s variance into one layer's
    forward pass (training mode only; the layers call :meth:`gate`, :meth:`cell`, :meth:`hidden`).
    The standard deviation is computed from detached values, so gradients pass straight through
    (``d(y + sigma eps)/dy = 1``).  ``generator``: the draws' torch generator (fixed seed)."""

    def __init__(self, model: LayerNoise, generator: torch.Generator, scale: float = 1.0) -> None:
        self.model = model
        self.generator = generator
        self.scale = float(scale)

    def _add(self, y: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        eps = torch.randn(y.shape, generator=self.generator, dtype=y.dtype)
        return y + (self.scale * var.detach().clamp_min(0.0).sqrt()) * eps

    def gate(self, name: str, pre: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._add(y, self.model.gate_var(name, pre.detach()))

    def cell(self, c: torch.Tensor, fc: torch.Tensor, ig: torch.Tensor) -> torch.Tensor:
        if self.model.cell_range is None:
            return c
        return self._add(c, self.model.cell_var(fc.detach(), ig.detach()))

    def hidden(self, h: torch.Tensor) -> torch.Tensor:
        return self._add(h, self.model.hidden_var(h.detach()))


def install_noise(model, noise: Mapping[str, LayerNoise], seed: int, scale: float = 1.0) -> None:
    """Attach a :class:`StreamNoise` to each recurrent layer of ``model`` (IR names ``lstm0``,
    ``gru1``, ...: the design's layer names), all drawing from one generator seeded ``seed``."""
    layers = recurrent_layers(model)
    names = [f"{lay.kind}{k}" for k, lay in enumerate(layers)]
    missing = [n for n in names if n not in noise]
    if missing:
        raise ConfigError(f"the design has no noise model for layer(s) {missing} (it has {sorted(noise)}); "
                          "compile the same model")
    gen = torch.Generator().manual_seed(int(seed))
    for lay, name in zip(layers, names):
        if noise[name].kind != lay.kind:
            raise ConfigError(f"layer {name}: the design's layer is a {noise[name].kind.upper()}")
        lay.noise = StreamNoise(noise[name], gen, scale)


def remove_noise(model) -> None:
    for lay in recurrent_layers(model):
        lay.noise = None


def model_noise(model, config=None, *, calibration=None, length: int | None = None
                ) -> tuple[dict[str, LayerNoise], object]:
    """Compile the torch ``model`` once (:func:`~sccompiler.train.to_ir`, then
    :func:`~sccompiler.design.compile_model` with ``config``: a CompileConfig, a dict or None;
    ``length`` overrides its stream length) and return ``(design_noise(design), design)``."""
    from ..config import CompileConfig, load_config  # noqa: PLC0415
    from ..design import compile_model  # noqa: PLC0415
    from .export import to_ir  # noqa: PLC0415

    if length is not None and (not is_int(length) or length < 1):
        raise SCValueError("length", f"must be an integer >= 1, got {length!r}")
    if config is None:
        config = load_config(None)
    if length is not None:
        if isinstance(config, CompileConfig):
            config = dataclasses.replace(config, length=int(length))
        else:
            config = {**dict(config), "length": int(length)}
    was_training = model.training
    model.eval()
    try:
        ir = to_ir(model)
    finally:
        model.train(was_training)
    design = compile_model(ir, config, calibration=calibration)
    return design_noise(design), design


def finetune_noise_aware(model, inputs: torch.Tensor, targets: torch.Tensor, noise: Mapping[str, LayerNoise], *,
                         epochs: int = 3, config: TrainConfig | None = None, noise_seed: int | None = None,
                         scale: float = 1.0, log: Callable[[str], None] | None = None) -> TrainResult:
    """Fine-tune ``model`` for ``epochs`` epochs with the design's stream noise injected
    (:func:`design_noise`); deterministic for a given ``config.seed`` (the noise draws from
    ``noise_seed``, default ``config.seed``).  The noise is removed afterwards (eval mode never
    injects it).  Combine with :func:`~sccompiler.train.install_curves` for the WFSM curves."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive int, got {epochs!r}")
    if not (math.isfinite(scale) and scale >= 0):
        raise ConfigError(f"noise scale must be finite and >= 0, got {scale!r}")
    cfg = dataclasses.replace(config if config is not None else TrainConfig(lr=1e-3), epochs=epochs)
    install_noise(model, noise, cfg.seed if noise_seed is None else noise_seed, scale)
    try:
        return Trainer(model, inputs, targets, cfg, log).run()
    finally:
        remove_noise(model)


__all__ = ["LayerNoise", "StdCurve", "StreamNoise", "design_noise", "finetune_noise_aware", "install_noise",
           "model_noise", "remove_noise", "wfsm_average_variance"]
