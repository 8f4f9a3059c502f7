"""From a trained module to the model IR, the native format and ONNX.

:func:`to_ir` materializes the eval-mode weights with the numpy quantizers of
:mod:`sccompiler.quantize.schemes` (the same values the torch eval forward uses), so every weight
tensor carries the :class:`~sccompiler.ir.QuantSpec` of its scheme (levels, scale, bits, and for a
frozen stochastic sample its seed).  Recurrent batch norms become per-step
:class:`~sccompiler.ir.BatchNormParams` ``(steps, features)``.

Hidden-state quantizers: binary sign(h) is exported as ``hidden_activation: sign``, GXNOR
ternary states as ``hidden_activation: ternary`` with ``hidden_threshold`` r (the rule is
``sim.rules.ternary_state``, the one training's forward uses).  What the IR cannot express: state
pruning changes the recurrence itself with a learned per-unit threshold the IR's LSTM/GRU do not
have; with ``strict=True`` (the default) :func:`to_ir` refuses it with
:class:`~sccompiler.errors.UnsupportedOpError`; ``strict=False`` exports the plain recurrence and
records it in ``metadata["training"]``.  Tabulated (hardware-aware) activations are always
recorded in the metadata: the IR keeps the nominal σ/tanh that the hardware approximates.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, UnsupportedOpError
from ..io import atomic_file
from ..ir.model import (
    FLOAT,
    GRU,
    HIDDEN_THRESHOLD,
    LSTM,
    BatchNormParams,
    Embedding,
    InputSpec,
    Linear,
    Model,
    Tensor,
)
from ..quantize import schemes
from .activations import BinaryActivation, TernaryActivation
from .layers import (
    GateActivations,
    QuantRecurrentLayer,
    QuantSequenceModel,
    QuantStack,
    recurrent_layers,
)
from .quantizers import QuantConfig, quantize_values


def _numpy_quantizer(cfg: QuantConfig, w: np.ndarray, fan_in: int, fan_out: int):
    if cfg.scheme == "binary":
        return schemes.binary(w, fan_in, fan_out)
    if cfg.scheme == "ternary":
        return schemes.ternary(w, fan_in, fan_out)
    if cfg.scheme == "ott-ternary":
        return schemes.ott_ternary(w, fan_in, fan_out)
    if cfg.scheme == "pow2-ternary":
        return schemes.pow2_ternary(w, fractional_bits=cfg.fractional_bits, integer_bits=cfg.integer_bits)
    if cfg.scheme == "exp":
        return schemes.exponential(w, min_exponent=cfg.min_exponent, max_exponent=cfg.max_exponent)
    raise ConfigError(f"scheme {cfg.scheme!r} has no numpy quantizer")


def _weight_tensor(cfg: QuantConfig, param: torch.Tensor, fan_in: int, fan_out: int,
                   sample: torch.Tensor | None, seed: int | None) -> Tensor:
    real = param.detach().double().numpy()
    if not cfg.quantized:
        return Tensor(real.copy(), FLOAT)
    if cfg.eval_weights == "sample":
        q = sample.detach().double().numpy().copy()
        _, spec = _numpy_quantizer(cfg, q, fan_in, fan_out)
        if spec.scale is not None and cfg.scheme != "exp":
            # exact levels even if the module was cast to float32 (codes are small integers)
            q = np.round(q / spec.scale) * spec.scale + 0.0
        return Tensor(q, dataclasses.replace(spec, stochastic=True, seed=seed))
    q, spec = _numpy_quantizer(cfg, real, fan_in, fan_out)
    return Tensor(q, spec)


def _bn(bn) -> BatchNormParams | None:
    return None if bn is None else BatchNormParams(**bn.ir_arrays(), eps=float(bn.eps))


def _vector(p) -> Tensor | None:
    return None if p is None else Tensor(p.detach().double().numpy().copy())


def _unpack(model: nn.Module):
    """(embedding, recurrent layers, head, head_quant) of a supported module."""
    if isinstance(model, QuantSequenceModel):
        return model.embedding, list(model.rnn.layers), model, model.head_quant
    if isinstance(model, QuantStack):
        return None, list(model.layers), None, None
    if isinstance(model, QuantRecurrentLayer):
        return None, [model], None, None
    raise UnsupportedOpError(type(model).__name__, None,
                             "export takes a QuantSequenceModel, QuantLSTM/QuantGRU or one of their layers")


def _layer_record(layer: QuantRecurrentLayer) -> dict:
    return {
        "kind": layer.kind,
        "quant": dataclasses.asdict(layer.quant),
        "batch_norm": dataclasses.asdict(layer.bn_config) if layer.bn_config is not None else None,
        "activations": layer.activations.describe(),
        "hidden_quant": layer.hidden_quant.describe() if layer.hidden_quant is not None else None,
        "pruning": {k: p.describe() for k, p in layer.prunings().items()} or None,
        "sample_seed": layer.sample_seed if layer.quant.eval_weights == "sample" else None,
    }


def _hidden_of(hq) -> tuple[str, float]:
    """(hidden_activation, hidden_threshold) of a layer's hidden-state quantizer: sign(h) for
    :class:`BinaryActivation`, the GXNOR ternary state with its threshold for
    :class:`TernaryActivation` (its windowed gradient is training-only), h itself for none."""
    if isinstance(hq, BinaryActivation):
        return "sign", HIDDEN_THRESHOLD
    if isinstance(hq, TernaryActivation):
        return "ternary", float(hq.threshold)
    return "identity", HIDDEN_THRESHOLD


def to_ir(model: nn.Module, *, name: str = "model", strict: bool = True) -> Model:
    """The :class:`~sccompiler.ir.Model` of a trained module's eval-mode network (validated)."""
    embedding, layers, seq, head_quant = _unpack(model)
    ir_layers = []
    records = []
    if embedding is not None:
        w = embedding.weight.detach().double().numpy().copy()
        ir_layers.append(Embedding(name="embedding", num_embeddings=w.shape[0], embedding_dim=w.shape[1],
                                   weight=Tensor(w)))
    for k, layer in enumerate(layers):
        lname = f"{layer.kind}{k}"
        hidden_activation, hidden_threshold = _hidden_of(layer.hidden_quant)
        if strict and layer.prunings():
            raise UnsupportedOpError("state-pruning", lname,
                                     "the IR has no state threshold; pass strict=False to export the plain "
                                     "recurrence and record it in metadata")
        fan_out = schemes.recurrent_fan_out(layer.quant.scheme, layer.gates, layer.hidden_size)
        w_ih = _weight_tensor(layer.quant, layer.weight_ih, layer.input_size, fan_out, layer.sample_ih,
                              layer.sample_seed)
        w_hh = _weight_tensor(layer.quant, layer.weight_hh, layer.hidden_size, fan_out, layer.sample_hh,
                              layer.sample_seed)
        common = dict(name=lname, input_size=layer.input_size, hidden_size=layer.hidden_size,
                      w_ih=w_ih, w_hh=w_hh, b_ih=_vector(layer.bias_ih), b_hh=_vector(layer.bias_hh),
                      bn_x=_bn(layer.bn_x), bn_h=_bn(layer.bn_h),
                      hidden_activation=hidden_activation, hidden_threshold=hidden_threshold)
        if layer.kind == "lstm":
            ir_layers.append(LSTM(**common, bn_c=_bn(layer.bn_c)))
        else:
            ir_layers.append(GRU(**common, linear_before_reset=True))
        records.append(_layer_record(layer))
    if seq is not None:
        hw = seq.head.weight.detach().double().numpy()
        if head_quant is not None and head_quant.quantized:
            head_w = _weight_tensor(head_quant, seq.head.weight, seq.hidden_size, seq.output_size, None, None)
        else:
            head_w = Tensor(hw.copy())
        ir_layers.append(Linear(name="head", in_size=seq.hidden_size, out_size=seq.output_size,
                                weight=head_w, bias=_vector(seq.head.bias)))
    if embedding is not None:
        inp = InputSpec("tokens", int(embedding.num_embeddings))
    else:
        inp = InputSpec("features", int(layers[0].input_size))
    meta = {"training": {"framework": f"torch {torch.__version__}", "layers": records,
                         "head_quant": dataclasses.asdict(head_quant) if head_quant is not None else None}}
    return Model(layers=tuple(ir_layers), input=inp, name=name, metadata=meta).validate()


def export_native(model: nn.Module, path: str | os.PathLike, *, force: bool = False,
                  name: str = "model", strict: bool = True) -> Path:
    """Write the trained module in the native format (``to_ir`` + the frontend's ``save_model``)."""
    from ..frontends.native import save_model  # noqa: PLC0415  (another engineer's module)

    return save_model(to_ir(model, name=name, strict=strict), path, force=force)


# --------------------------------------------------------------------------------------- ONNX
class _StandardInference(nn.Module):
    """nn.LSTM / nn.GRU with the materialized weights: exports as ONNX LSTM/GRU operators."""

    def __init__(self, ir: Model) -> None:
        super().__init__()
        rec = [lay for lay in ir.layers if isinstance(lay, (LSTM, GRU))]
        cls = nn.LSTM if isinstance(rec[0], LSTM) else nn.GRU
        self.embedding = None
        self.head = None
        first = ir.layers[0]
        if isinstance(first, Embedding):
            self.embedding = nn.Embedding(first.num_embeddings, first.embedding_dim)
            self.embedding.weight.data = torch.tensor(first.weight.data, dtype=torch.float32)
        self.rnn = cls(rec[0].input_size, rec[0].hidden_size, num_layers=len(rec), batch_first=True)
        for k, lay in enumerate(rec):
            for field, attr in (("w_ih", "weight_ih"), ("w_hh", "weight_hh"),
                                ("b_ih", "bias_ih"), ("b_hh", "bias_hh")):
                t = getattr(lay, field)
                data = t.data if t is not None else np.zeros(getattr(self.rnn, f"{attr}_l{k}").shape)
                getattr(self.rnn, f"{attr}_l{k}").data = torch.tensor(data, dtype=torch.float32)
        last = ir.layers[-1]
        if isinstance(last, Linear):
            self.head = nn.Linear(last.in_size, last.out_size)
            self.head.weight.data = torch.tensor(last.weight.data, dtype=torch.float32)
            self.head.bias.data = torch.tensor(last.bias.data if last.bias is not None
                                               else np.zeros(last.out_size), dtype=torch.float32)

    def forward(self, x):
        if self.embedding is not None:
            x = self.embedding(x)
        y = self.rnn(x)[0]
        return self.head(y) if self.head is not None else y


def _unrolled_clone(model: nn.Module) -> nn.Module:
    """A float copy of ``model`` whose weights are the eval-mode quantized values (constants)."""
    clone = copy.deepcopy(model).float().eval()
    for layer in recurrent_layers(clone):
        wx, wh = layer.eval_weights()
        layer.weight_ih.data = wx.float()
        layer.weight_hh.data = wh.float()
        layer.quant = QuantConfig(scheme="float")
        layer.activations = GateActivations()  # the nominal curves; the hardware approximates them
    if isinstance(clone, QuantSequenceModel) and clone.head_quant is not None:
        clone.head.weight.data = quantize_values(clone.head.weight, clone.head_quant, clone.head_scale).float()
        clone.head_quant = None
    return clone


def export_onnx(model: nn.Module, path: str | os.PathLike, *, steps: int | None = None,
                force: bool = False, opset: int = 17, mode: str = "auto", strict: bool = True) -> Path:
    """Export the eval-mode network to ONNX (``torch.onnx.export``, TorchScript exporter).

    ``mode="standard"``: ONNX ``LSTM``/``GRU`` operators with the quantized weights as initializers
    (dynamic batch and time; needs a model without batch norm, hidden quantization or pruning —
    what the ONNX frontend imports back as IR layers).  ``mode="unrolled"``: the step equations
    unrolled over exactly ``steps`` time steps (per-step batch-norm statistics become constants;
    ternary activations and pruning thresholds are kept), dynamic batch.  ``"auto"`` picks
    standard when possible.  ``strict`` is passed to :func:`to_ir` (standard mode).
    """
    if mode not in ("auto", "standard", "unrolled"):
        raise ConfigError(f"mode must be 'auto', 'standard' or 'unrolled', got {mode!r}")
    embedding, layers, _, _ = _unpack(model)
    plain = all(lay.bn_config is None and lay.hidden_quant is None and not lay.prunings() for lay in layers)
    if len({lay.kind for lay in layers}) != 1:
        plain = False
    if mode == "standard" and not plain:
        raise UnsupportedOpError("LSTM/GRU", None, "batch norm, hidden quantization or pruning need "
                                 "mode='unrolled' (ONNX LSTM/GRU operators cannot express them)")
    use_standard = mode == "standard" or (mode == "auto" and plain)
    if not use_standard and (steps is None or isinstance(steps, bool) or not isinstance(steps, int)
                             or steps < 1):
        from ..errors import SCValueError  # noqa: PLC0415
        raise SCValueError("steps", f"unrolled ONNX export needs a positive int sequence length, got {steps!r}")
    example_steps = steps if steps is not None else 4
    if embedding is not None:
        example = torch.zeros(2, example_steps, dtype=torch.long)
    else:
        example = torch.zeros(2, example_steps, layers[0].input_size)
    if use_standard:
        module = _StandardInference(to_ir(model, strict=strict)).eval()
        axes = {"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}}
    else:
        module = _unrolled_clone(model)
        axes = {"x": {0: "batch"}, "y": {0: "batch"}}
    buf = io.BytesIO()
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(module, (example,), buf, dynamo=False, input_names=["x"],
                              output_names=["y"], opset_version=opset, dynamic_axes=axes)
    import onnx  # noqa: PLC0415

    proto = onnx.load_from_string(buf.getvalue())
    record = {"mode": "standard" if use_standard else "unrolled", "steps": None if use_standard else steps,
              "layers": [_layer_record(lay) for lay in layers]}
    entry = proto.metadata_props.add()
    entry.key, entry.value = "sccompiler.training", json.dumps(record)
    with atomic_file(path, force=force, mode="wb") as fh:
        fh.write(proto.SerializeToString())
    return Path(path)
