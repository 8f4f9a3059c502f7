"""Hardware-aware fine-tuning: train against the transfer curves the compiled WFSMs realize.

A compiled design (:func:`sccompiler.design.compile_model`) replaces every σ/tanh of an
integral-WFSM LSTM/GRU by a weighted FSM driven by an integral stream z (the APC output) whose
expectation is the pre-activation in units of the node's ``target_gain``: the float model's
pre-activation (what σ/tanh receives) is ``pre = target_gain * z + target_shift`` (the shift is
non-zero only for the folded cell batch norm).  :func:`wfsm_transfer` gives the steady-state output
value of one table as a function of ``pre``; :func:`wfsm_curves` tabulates, per gate, what the
hardware realizes as a :class:`WFSMCurve` (a :class:`~sccompiler.train.TabulatedActivation`);
:func:`finetune_hardware_aware` trains a model a few epochs with those curves in place of σ/tanh.

Input model.  The curve of a row with M active operands is the steady state of the integer-step
FSM ``s <- clamp(s + d, 0, N-1)`` under ``d = 2k - M``, ``k ~ Binomial(M, (1 + z/M)/2)`` (M
operands of equal value z/M: the compiler's input model without calibration data; M = 1 is a
binary stream, where the curve is the Brown-Card closed form).  Tables synthesized against a
calibrated, sample-based model (Poisson-binomial / gated empirical: ``fsm_input_model: auto`` with
calibration inputs) are fitted only where the calibration operands lie and may exploit their exact
increment distribution (e.g. parity-alternating weights for even-only increments); under the
binomial model such a table can be far from its target (measured: up to 1.36 on the quickstart),
which says nothing about the hardware on real data.  The design does not keep the operand samples,
so by default (``calibrated="target"``) those rows contribute their target ``act(pre)``, which the
synthesis matched within its reported max error on the calibration distribution (saturated at the
representable |z| <= M); ``calibrated="binomial"`` evaluates them under the binomial model anyway.

Rows, groups, steps.  Rows of one gate may use different tables (one per distinct gain and
operand count) and per-step batch norm gives a table bank per step.  ``reduce="mean"`` (the
default) averages the curves of all (step, row) pairs of the gate, as functions of ``pre``: the
expected curve seen by a gate unit drawn at random, which is what one shared torch activation can
represent.  ``reduce="majority"`` uses the table of the group holding most rows of the gate (ties:
the lowest group id) with the group's median operand count, averaged over steps for a bank.

Limitation: :class:`~sccompiler.train.GateActivations` has one ``sigmoid`` for all sigmoid gates
of a layer (LSTM i, f, o; GRU r, z), so :func:`gate_activations` averages those gates' curves
(weighted by their rows); ``tanh`` is the LSTM g / GRU n curve and ``cell_tanh`` the tanh(c) curve.
Gates without a WFSM (``gate_input: table``: an exact table then one SNG) keep the nominal
function.  Exported models keep the nominal σ/tanh in the IR; the curves are recorded in
``metadata["training"]`` (:func:`~sccompiler.train.to_ir`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, SCValueError
from ..sim.rules import stats_rows
from .activations import TabulatedActivation
from .layers import GateActivations, recurrent_layers
from .trainer import TrainConfig, Trainer, TrainResult

#: gates per cell kind, in the IR's row order, and the nonlinearity each one is in the float model
GATES = {"lstm": ("i", "f", "g", "o", "cell"), "gru": ("r", "z", "n")}
ROLES = {"i": "sigmoid", "f": "sigmoid", "o": "sigmoid", "g": "tanh", "cell": "cell_tanh",
         "r": "sigmoid", "z": "sigmoid", "n": "tanh"}
REDUCTIONS = ("mean", "majority")
CALIBRATED = ("target", "binomial")


class WFSMCurve(TabulatedActivation):
    """A :class:`TabulatedActivation` built from a design's WFSM tables; :meth:`describe` adds
    where it came from (recorded by the exporters in the model metadata)."""

    def __init__(self, grid, values, name: str = "wfsm", *, source: dict | None = None) -> None:
        super().__init__(grid, values, name=name)
        self.source = dict(source or {})

    def describe(self) -> dict:
        return {**super().describe(), "source": "wfsm", **self.source}


def wfsm_transfer(quantized_weights, weight_bits: int, pre, *, gain: float, operands: int,
                  shift: float = 0.0, output: str = "bipolar") -> np.ndarray:
    """Steady-state output value of one WFSM table at pre-activations ``pre``.

    ``quantized_weights``: the (N,) integer table Wq in [0, 2^b]; the FSM sees z =
    clip((pre - shift)/gain, -M, M) through Binomial(``operands`` = M) increments (module
    docstring).  Returns 2P - 1 (``output="bipolar"``) or P (``"unipolar"``), P the probability of
    a one: for a sigmoid gate (bipolar stream of σ, or unipolar) this is the gate value.
    """
    from ..fsm.inputs import BinomialInput  # noqa: PLC0415
    from ..fsm.steady import steady_state  # noqa: PLC0415

    wq = np.asarray(quantized_weights)
    if wq.ndim != 1 or wq.size < 2 or not np.issubdtype(wq.dtype, np.integer):
        raise SCValueError("quantized_weights", f"need a 1-D integer table of >= 2 states, got {wq.dtype} {wq.shape}")
    if isinstance(weight_bits, bool) or not isinstance(weight_bits, (int, np.integer)) or not 1 <= weight_bits <= 16:
        raise SCValueError("weight_bits", f"must be an integer in [1, 16], got {weight_bits!r}")
    top = 1 << int(weight_bits)
    if wq.min() < 0 or wq.max() > top:
        raise SCValueError("quantized_weights", f"entries must lie in [0, 2^{int(weight_bits)}]")
    if isinstance(operands, bool) or not isinstance(operands, (int, np.integer)) or operands < 1:
        raise SCValueError("operands", f"must be an integer >= 1, got {operands!r}")
    if not (np.isfinite(gain) and gain != 0):
        raise SCValueError("gain", f"must be finite and non-zero, got {gain!r}")
    if not np.isfinite(shift):
        raise SCValueError("shift", f"must be finite, got {shift!r}")
    if output not in ("bipolar", "unipolar"):
        raise SCValueError("output", f"expected 'bipolar' or 'unipolar', got {output!r}")
    x = np.asarray(pre, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise SCValueError("pre", "pre-activations must be finite")
    m = int(operands)
    z = np.clip((x.ravel() - float(shift)) / float(gain), -m, m)
    phi = steady_state(BinomialInput(m).increments(z), int(wq.size))
    p = phi @ (wq.astype(np.float64) / top)
    return (2.0 * p - 1.0 if output == "bipolar" else p).reshape(x.shape)


# ------------------------------------------------------------------------------- design side
def design_layer(design, layer: "str | int"):
    from ..ir.model import GRU, LSTM  # noqa: PLC0415

    rec = [lay for lay in design.model.layers if isinstance(lay, (LSTM, GRU))]
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not 0 <= int(layer) < len(rec):
            raise SCValueError("layer", f"the design has {len(rec)} recurrent layer(s), got index {layer}")
        return rec[int(layer)]
    for lay in rec:
        if lay.name == layer:
            return lay
    raise SCValueError("layer", f"no LSTM/GRU layer {layer!r} in the design (has {[lay.name for lay in rec]})")


def gate_rows(kind: str, name: str, hidden: int) -> dict[str, tuple[str, np.ndarray]]:
    """gate -> (wfsm node name, its rows) for the integral-WFSM lowerings of passes/core.py."""
    rows = np.arange(hidden)
    if kind == "lstm":
        out = {g: (f"{name}.gates_s", rows + k * hidden) for k, g in enumerate(("i", "f", "g", "o"))}
        out["cell"] = (f"{name}.tanh_c", rows)
        return out
    return {g: (f"{name}.{g}_s", rows) for g in ("r", "z", "n")}


def node_tables(node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wq (T, G, N), gains (T, G), shifts (T, G)) of a wfsm node, banks or not."""
    wq = np.asarray(node.arrays["wq"])
    tables = wq if wq.ndim == 3 else wq[None]
    gains = np.atleast_2d(np.asarray(node.arrays["target_gain"], dtype=np.float64))
    shifts = np.atleast_2d(np.asarray(node.arrays.get("target_shift", np.zeros_like(gains)), dtype=np.float64))
    steps = tables.shape[0]
    pick = lambda a: a[stats_rows(steps, a.shape[0])]  # noqa: E731
    return tables, pick(gains), pick(shifts)


def _nominal(act: int, pre: np.ndarray) -> np.ndarray:
    """The target a table approximates, ``act(pre)`` (codes of passes/core.py: 1 = tanh, else σ)."""
    return np.tanh(pre) if act == 1 else 1.0 / (1.0 + np.exp(-pre))


def _sample_fitted(node, group: int) -> bool:
    """True when the group's table was synthesized against a sample-based (calibrated) input model."""
    models = node.params.get("input_model") or []
    if not node.params.get("synthesized", False) or group >= len(models):
        return False
    return not str(models[group]).startswith(("integral:", "binary"))


def _gate_curve(node, rows: np.ndarray, points: int, reduce: str,
                calibrated: str) -> tuple[np.ndarray, np.ndarray, dict]:
    tables, gains, shifts = node_tables(node)
    group = np.asarray(node.arrays["group"])[rows]
    operands = np.asarray(node.arrays["operands"])[rows].astype(np.int64)
    acts = np.asarray(node.arrays["target_act"]).astype(int)
    bits = int(node.params["weight_bits"])
    steps = tables.shape[0]
    if reduce == "majority":
        ids, counts = np.unique(group, return_counts=True)
        g = int(ids[np.argmax(counts)])                     # argmax: the first (lowest id) of a tie
        m = int(round(float(np.median(operands[group == g]))))
        combos = {(t, g, m): 1 for t in range(steps)}
    else:
        combos: dict[tuple[int, int, int], int] = {}
        for g, m in zip(group.tolist(), operands.tolist()):
            for t in range(steps):
                combos[(t, g, m)] = combos.get((t, g, m), 0) + 1
    reach = max(abs(gains[t, g]) * m + abs(shifts[t, g]) for t, g, m in combos)
    grid = np.linspace(-reach, reach, points)
    total = sum(combos.values())
    values = np.zeros(points)
    as_target = 0
    for (t, g, m), count in combos.items():
        gain, shift = float(gains[t, g]), float(shifts[t, g])
        if calibrated == "target" and _sample_fitted(node, g):
            # the hardware input range still saturates: |z| <= M
            z = np.clip((grid - shift) / gain, -m, m)
            values += count * _nominal(int(acts[g]), gain * z + shift)
            as_target += count
        else:
            values += count * wfsm_transfer(tables[t, g], bits, grid, gain=gain, operands=m, shift=shift,
                                            output=node.encoding)
    info = {"node": node.name, "states": int(tables.shape[-1]), "weight_bits": bits, "reduce": reduce,
            "rows": int(rows.size), "tables": len({(t, g) for t, g, _ in combos}), "steps": int(steps),
            "synthesized": bool(node.params.get("synthesized", False)),
            "binomial_fraction": 1.0 - as_target / total, "calibrated_groups": calibrated}
    return grid, values / total, info


def wfsm_curves(design, layer: "str | int", *, points: int = 257, reduce: str = "mean",
                calibrated: str = "target") -> dict[str, WFSMCurve]:
    """The transfer curves the design's WFSMs realize for ``layer`` (name such as ``"lstm0"`` or
    index among the recurrent layers), as functions of each gate's pre-activation in the float
    model's units: ``{"i", "f", "g", "o", "cell"}`` (LSTM; ``cell`` is tanh(c), of BNc(c) with cell
    batch norm) or ``{"r", "z", "n"}`` (GRU).  Gates the design does not realize with a WFSM
    (``gate_input: table``) are absent.  Each curve is tabulated on ``points`` equally spaced
    points over the pre-activations the hardware can represent (``±(|gain| M + |shift|)``; beyond,
    the end values hold, as the saturating counter does).  ``reduce`` and ``calibrated`` (how
    tables fitted to a calibrated, sample-based input model enter: ``"target"`` or
    ``"binomial"``): module docstring."""
    if reduce not in REDUCTIONS:
        raise SCValueError("reduce", f"expected one of {REDUCTIONS}, got {reduce!r}")
    if calibrated not in CALIBRATED:
        raise SCValueError("calibrated", f"expected one of {CALIBRATED}, got {calibrated!r}")
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 2:
        raise SCValueError("points", f"must be an integer >= 2, got {points!r}")
    lay = design_layer(design, layer)
    nodes = {n.name: n for n in design.netlist.nodes if n.op == "wfsm" and n.layer == lay.name}
    curves: dict[str, WFSMCurve] = {}
    for gate, (node_name, rows) in gate_rows(lay.kind, lay.name, lay.hidden_size).items():
        node = nodes.get(node_name)
        if node is None:
            continue
        grid, values, info = _gate_curve(node, rows, int(points), reduce, calibrated)
        curves[gate] = WFSMCurve(grid, values, name=f"{lay.name}.{gate}", source={**info, "gate": gate})
    return curves


def design_curves(design, *, points: int = 257, reduce: str = "mean",
                  calibrated: str = "target") -> dict[str, dict[str, WFSMCurve]]:
    """:func:`wfsm_curves` of every recurrent layer: ``{layer name: {gate: curve}}``."""
    from ..ir.model import GRU, LSTM  # noqa: PLC0415

    return {lay.name: wfsm_curves(design, lay.name, points=points, reduce=reduce, calibrated=calibrated)
            for lay in design.model.layers if isinstance(lay, (LSTM, GRU))}


# ------------------------------------------------------------------------------- training side
def _resample(curves: Sequence[TabulatedActivation], weights: Sequence[float], name: str) -> TabulatedActivation:
    """The weighted mean of curves, tabulated on the union of their grids: the mean of piecewise-
    linear functions (each holding its end values beyond its own grid, as
    :class:`TabulatedActivation` does) is piecewise linear with knots there, so this is exact."""
    if len(curves) == 1:
        return curves[0]
    grid = torch.unique(torch.cat([c.grid.to(torch.float64) for c in curves]))  # sorted
    with torch.no_grad():
        total = sum(w * c(grid) for c, w in zip(curves, weights)) / float(sum(weights))
    sources = [c.describe() for c in curves]
    return WFSMCurve(grid.numpy(), total.numpy(), name=name,
                     source={"mean_of": [s.get("name") for s in sources], "weights": [float(w) for w in weights],
                             "reduce": sources[0].get("reduce")})


def gate_activations(curves: Mapping[str, TabulatedActivation]) -> GateActivations:
    """A layer's :class:`GateActivations` from per-gate curves (:func:`wfsm_curves`): ``sigmoid``
    is the row-weighted mean of the sigmoid gates' curves, ``tanh`` the g/n curve, ``cell_tanh``
    the tanh(c) curve; a nonlinearity with no curve keeps the nominal function."""
    unknown = sorted(set(curves) - set(ROLES))
    if unknown:
        raise SCValueError("curves", f"unknown gate(s) {unknown}; expected some of {sorted(ROLES)}")
    by_role: dict[str, list[tuple[str, TabulatedActivation]]] = {}
    for gate, curve in curves.items():
        if not isinstance(curve, TabulatedActivation):
            raise SCValueError("curves", f"gate {gate!r}: expected a TabulatedActivation, got {type(curve).__name__}")
        by_role.setdefault(ROLES[gate], []).append((gate, curve))
    kwargs = {}
    for role, items in by_role.items():
        rows = [float(getattr(c, "source", {}).get("rows", 1)) for _, c in items]
        name = items[0][1].name if len(items) == 1 else "+".join(g for g, _ in items)
        kwargs[role] = _resample([c for _, c in items], rows, name)
    return GateActivations(**kwargs)


def _layer_key(layer, index: int) -> str:
    return f"{layer.kind}{index}"  # the IR layer name to_ir gives it


def _curves_per_layer(model: nn.Module, curves) -> list[Mapping[str, TabulatedActivation] | None]:
    layers = recurrent_layers(model)
    if not layers:
        raise ConfigError("the model has no QuantLSTM/QuantGRU layer to fine-tune")
    if isinstance(curves, Mapping) and curves and all(k in ROLES for k in curves):
        if len(layers) != 1:
            raise ConfigError(f"per-gate curves of one layer given for a model with {len(layers)} recurrent layers; "
                              "pass {layer name: curves} (design_curves) or a list")
        per = [curves]
    elif isinstance(curves, Mapping):
        names = [_layer_key(lay, k) for k, lay in enumerate(layers)]
        extra = sorted(set(curves) - set(names))
        if extra:
            raise ConfigError(f"curves for layer(s) {extra} the model does not have (its layers: {names})")
        per = [curves.get(n) for n in names]
    elif isinstance(curves, Sequence) and not isinstance(curves, (str, bytes)):
        if len(curves) != len(layers):
            raise ConfigError(f"{len(curves)} curve sets for {len(layers)} recurrent layers")
        per = list(curves)
    else:
        raise SCValueError("curves", "expected per-gate curves, {layer: curves} or a list, "
                                     f"got {type(curves).__name__}")
    for lay, c in zip(layers, per):
        if c is None:
            continue
        wrong = sorted(set(c) - set(GATES[lay.kind]))
        if wrong:
            raise ConfigError(f"curves for gate(s) {wrong} on a {lay.kind.upper()} layer (gates {GATES[lay.kind]})")
    return per


def install_curves(model: nn.Module, curves) -> None:
    """Replace the gate activations of the model's recurrent layers by the curves (per-gate dict
    for a one-layer model, ``{layer name: per-gate dict}`` as :func:`design_curves` returns, or a
    list aligned with the layers; a layer without curves keeps its activations)."""
    for lay, c in zip(recurrent_layers(model), _curves_per_layer(model, curves)):
        if c is not None:
            lay.activations = gate_activations(c)


def nominal_activations(model: nn.Module) -> None:
    """Put the nominal σ/tanh back into every recurrent layer."""
    for lay in recurrent_layers(model):
        lay.activations = GateActivations()


def finetune_hardware_aware(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, curves, *,
                            epochs: int = 3, config: TrainConfig | None = None,
                            log: Callable[[str], None] | None = None) -> TrainResult:
    """Fine-tune ``model`` for ``epochs`` epochs with its σ/tanh replaced by the hardware's curves.

    ``curves``: see :func:`install_curves` (from :func:`wfsm_curves` / :func:`design_curves`).
    ``config``: the training settings (default :class:`TrainConfig` with a small learning rate,
    1e-3); its ``epochs`` is replaced by ``epochs``.  Deterministic for a given ``config.seed``
    (:class:`~sccompiler.train.Trainer`).  The curves stay installed afterwards, so the model
    evaluates as the hardware would and :func:`~sccompiler.train.to_ir` records them in the
    metadata (the IR keeps the nominal σ/tanh); :func:`nominal_activations` removes them.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive int, got {epochs!r}")
    cfg = dataclasses.replace(config if config is not None else TrainConfig(lr=1e-3), epochs=epochs)
    install_curves(model, curves)
    return Trainer(model, inputs, targets, cfg, log).run()


def load_design_curves(design_dir: "str | os.PathLike", *, points: int = 257, reduce: str = "mean",
                       calibrated: str = "target") -> dict[str, dict[str, WFSMCurve]]:
    """:func:`design_curves` of a saved design directory (``scc compile -o DIR``)."""
    from ..design import CompiledDesign  # noqa: PLC0415

    return design_curves(CompiledDesign.load(design_dir), points=points, reduce=reduce, calibrated=calibrated)


__all__ = ["GATES", "REDUCTIONS", "WFSMCurve", "design_curves", "finetune_hardware_aware", "gate_activations",
           "install_curves", "load_design_curves", "nominal_activations", "wfsm_curves", "wfsm_transfer"]
