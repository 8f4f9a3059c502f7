"""Import PyTorch models: an ``nn.Module``, a ``state_dict`` or a ``.pt``/``.pth`` file.

Module import walks the module tree and turns each supported leaf into IR layers:
``nn.Embedding``, ``nn.LSTM``/``nn.GRU`` (one IR layer per stacked layer; ``bidirectional`` and
``proj_size`` are unsupported), ``nn.Linear``, ``nn.BatchNorm1d`` (inference statistics, applied to
the feature axis), ``nn.Sigmoid``/``nn.Tanh``/``nn.ReLU``/``nn.Softmax`` (over the last axis);
``nn.Dropout`` and ``nn.Identity`` are skipped (inference).  ``nn.Sequential`` and custom modules are
entered recursively; **a custom module's children are taken in registration order** (the order of
the ``self.x = ...`` assignments in ``__init__``), which must be the order ``forward`` applies them
— PyTorch offers no way to check this without tracing.  A custom module holding parameters of its
own, or any other leaf module, raises :class:`~sccompiler.errors.UnsupportedOpError`.  Because
that order is a guess, the imported layers are then checked against the module itself: the module's
``forward`` runs on a probe input (eval mode, no gradients; the state of the module is restored)
and an output of another shape (e.g. a sequence classifier ``fc(y[:, -1])`` / ``fc(h_n[-1])``)
or other values (functional ops in ``forward``, another order) raises ``UnsupportedOpError``
naming the difference and pointing to ONNX export, which imports those heads
(:mod:`.onnx_select`).  A ``forward`` that cannot run on the probe (e.g. it needs other
arguments) is not checked.

``state_dict`` import infers layer kinds from key patterns (``weight_ih_l0`` ... -> LSTM or GRU by
the gate count, ``weight``+``bias`` -> Linear, ``running_mean``/``running_var`` -> batch norm, a
bias-less first ``weight`` -> Embedding when ``input_kind="tokens"`` or its name contains
``emb``/``encoder``) in key order.  Parameter-free layers (activations) are invisible in a
``state_dict``, and so is a batch norm's ``eps`` (the PyTorch default 1e-5 is used); import the
module to keep them.

torch is imported lazily: a plain dict of numpy arrays needs no torch at all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import MissingDependencyError, ModelFormatError, UnsupportedOpError
from ..ir.model import (
    GRU,
    LSTM,
    Activation,
    BatchNorm,
    BatchNormParams,
    Embedding,
    InputSpec,
    Layer,
    Linear,
    Model,
    Tensor,
)
from ..quantize.detect import detect_quant

_RNN_KEY = re.compile(r"^(?:(?P<prefix>.*)\.)?(?P<param>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>\d+)"
                      r"(?P<reverse>_reverse)?$")
_EMBEDDING_NAME = re.compile(r"emb|encoder", re.IGNORECASE)


def _import_torch():
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError("torch", "torch", "importing PyTorch models") from None
    return torch


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().to("cpu").double().numpy().copy()
    return np.array(value, dtype=np.float64)


def _tensor(value: Any) -> Tensor:
    data = _array(value)
    return Tensor(data, detect_quant(data))


def _rnn_layers(kind: str, name: str, params: dict[str, Any], num_layers: int, input_size: int,
                hidden_size: int) -> list[Layer]:
    """One IR layer per stacked recurrent layer; ``params`` maps 'weight_ih_l0' ... to tensors."""
    layers: list[Layer] = []
    width = input_size
    for k in range(num_layers):
        lname = name if num_layers == 1 else f"{name}.l{k}"
        tensors = {f: _tensor(params[f"{p}_l{k}"]) for f, p in
                   (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh"))
                   if f"{p}_l{k}" in params}
        if kind == "lstm":
            layers.append(LSTM(lname, input_size=width, hidden_size=hidden_size, **tensors))
        else:
            layers.append(GRU(lname, input_size=width, hidden_size=hidden_size, linear_before_reset=True,
                              **tensors))
        width = hidden_size
    return layers


def _batchnorm(name: str, weight: Any, bias: Any, mean: Any, var: Any, eps: float) -> BatchNorm:
    mean_a = _array(mean)
    gamma = _array(weight) if weight is not None else np.ones_like(mean_a)
    beta = _array(bias) if bias is not None else np.zeros_like(mean_a)
    return BatchNorm(name, params=BatchNormParams(gamma, beta, mean_a, _array(var), eps=float(eps)))


# ----------------------------------------------------------------------------- nn.Module


def _module_layers(module: Any, name: str) -> Iterator[Layer]:
    torch = _import_torch()
    nn = torch.nn
    type_name = type(module).__name__
    if isinstance(module, (nn.LSTM, nn.GRU)):
        kind = "lstm" if isinstance(module, nn.LSTM) else "gru"
        if module.bidirectional:
            raise UnsupportedOpError(type_name, name, "bidirectional recurrent layers are not supported")
        if getattr(module, "proj_size", 0):
            raise UnsupportedOpError(type_name, name, f"proj_size={module.proj_size} is not supported")
        params = dict(module.named_parameters())
        yield from _rnn_layers(kind, name, params, module.num_layers, module.input_size, module.hidden_size)
    elif isinstance(module, nn.Linear):
        yield Linear(name, in_size=module.in_features, out_size=module.out_features,
                     weight=_tensor(module.weight), bias=_tensor(module.bias) if module.bias is not None else None)
    elif isinstance(module, nn.Embedding):
        yield Embedding(name, num_embeddings=module.num_embeddings, embedding_dim=module.embedding_dim,
                        weight=_tensor(module.weight))
    elif isinstance(module, nn.BatchNorm1d):
        if module.running_mean is None or module.running_var is None:
            raise UnsupportedOpError(type_name, name, "needs running statistics (track_running_stats=True)")
        yield _batchnorm(name, module.weight, module.bias, module.running_mean, module.running_var, module.eps)
    elif isinstance(module, (nn.Sigmoid, nn.Tanh, nn.ReLU)):
        func = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu"}[type(module)]
        yield Activation(name, function=func)
    elif isinstance(module, nn.Softmax):
        if module.dim not in (-1, 2):
            raise UnsupportedOpError(type_name, name, f"softmax over dim={module.dim}; only the last "
                                                      f"(feature) axis (dim=-1) is supported")
        yield Activation(name, function="softmax")
    elif isinstance(module, (nn.Dropout, nn.Identity)):
        return
    else:
        children = list(module.named_children())
        own = [n for n, p in module.named_parameters(recurse=False)]
        if own:
            raise UnsupportedOpError(type_name, name or "<root>",
                                     f"a custom module with its own parameters ({', '.join(own)}) is not supported")
        if not children:
            raise UnsupportedOpError(type_name, name or "<root>", "module type not supported")
        for child_name, child in children:
            yield from _module_layers(child, f"{name}.{child_name}" if name else child_name)


#: probe input of the forward check: sequences, time steps; tolerance (the module computes in float32)
PROBE_BATCH, PROBE_STEPS, PROBE_ATOL = 2, 4, 1e-4


def check_module_forward(module: Any, model: Model) -> None:
    """Refuse a module whose ``forward`` is not its layers in registration order (module docstring)."""
    torch = _import_torch()
    from ..reference import forward  # noqa: PLC0415 - reference imports the IR only

    rnns = [m for m in module.modules() if isinstance(m, (torch.nn.LSTM, torch.nn.GRU))]
    batch_first = bool(rnns[0].batch_first) if rnns else True
    gen = np.random.default_rng(0)
    if model.input.kind == "tokens":
        x = gen.integers(0, model.input.size, (PROBE_BATCH, PROBE_STEPS))
        probe = torch.as_tensor(x if batch_first else x.T)
    else:
        x = gen.normal(size=(PROBE_BATCH, PROBE_STEPS, model.input.size))
        param = next(module.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        probe = torch.as_tensor(x if batch_first else x.transpose(1, 0, 2), dtype=dtype)
    training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(probe)
    except Exception:  # noqa: BLE001 - a forward that needs other inputs cannot be checked this way
        return
    finally:
        module.train(training)
    if isinstance(out, (tuple, list)) and out:        # e.g. a bare nn.LSTM: (y, state)
        out = out[0]
    if not hasattr(out, "detach"):
        return
    got = out.detach().to("cpu").double().numpy()
    want = forward(model, x)
    if got.ndim == 3 and not batch_first:
        got = got.transpose(1, 0, 2)
    hint = ("; sequence classifiers (fc(y[:, -1]), fc(h_n[-1])) and functional ops import through ONNX: "
            "export the module with torch.onnx.export(..., dynamo=False) and import the .onnx file")
    name = type(module).__name__
    if got.shape != want.shape:
        raise UnsupportedOpError(name, None, f"its forward returns shape {tuple(got.shape)} on a probe input but its "
                                             f"layers in registration order give {tuple(want.shape)}: forward does "
                                             f"more than apply its layers in order (e.g. selects the last time "
                                             f"step){hint}")
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    if not err <= PROBE_ATOL:
        raise UnsupportedOpError(name, None, f"its forward differs from its layers in registration order by "
                                             f"{err:.3g} on a probe input (functional ops or another order in "
                                             f"forward){hint}")


def _from_module(module: Any) -> list[Layer]:
    root_name = type(module).__name__.lower()
    if not any(True for _ in module.named_children()):
        return list(_module_layers(module, root_name))
    return list(_module_layers(module, ""))


# ---------------------------------------------------------------------------- state_dict


def _from_state_dict(state: dict, input_kind: str | None) -> list[Layer]:
    groups: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise ModelFormatError(f"state_dict key {key!r} is not a string")
        m = _RNN_KEY.match(key)
        if m:
            prefix, suffix = m.group("prefix") or "", key[len(m.group("prefix") or "") :].lstrip(".")
        else:
            prefix, _, suffix = key.rpartition(".")
        groups.setdefault(prefix, {})[suffix] = value
    layers: list[Layer] = []
    for prefix, params in groups.items():
        keys = set(params)
        rnn = [k for k in keys if _RNN_KEY.match(k)]
        name = prefix or ("rnn" if rnn else "layer")
        if rnn:
            if any(k.endswith("_reverse") for k in rnn):
                raise UnsupportedOpError("bidirectional RNN", name, "bidirectional recurrent layers are not supported")
            if any(k.startswith("weight_hr") for k in rnn):
                raise UnsupportedOpError("LSTM", name, "projections (proj_size > 0) are not supported")
            if set(rnn) != keys:
                raise UnsupportedOpError("RNN", name, f"unexpected parameters {sorted(keys - set(rnn))}")
            num_layers = 1 + max(int(_RNN_KEY.match(k).group("layer")) for k in rnn)
            for k in range(num_layers):
                for p in ("weight_ih", "weight_hh"):
                    if f"{p}_l{k}" not in params:
                        raise ModelFormatError(f"state_dict: {name}.{p}_l{k} is missing")
            w_hh = _array(params["weight_hh_l0"])
            w_ih = _array(params["weight_ih_l0"])
            if w_hh.ndim != 2 or w_ih.ndim != 2 or w_hh.shape[0] % max(w_hh.shape[1], 1):
                raise ModelFormatError(f"state_dict: {name}.weight_hh_l0 has shape {w_hh.shape}, not (gates*H, H)")
            hidden = w_hh.shape[1]
            gates = w_hh.shape[0] // hidden if hidden else 0
            kind = {4: "lstm", 3: "gru"}.get(gates)
            if kind is None:
                raise UnsupportedOpError("RNN", name, f"{gates} gates (weight_hh {w_hh.shape}); only LSTM (4) "
                                                      f"and GRU (3) are supported")
            layers.extend(_rnn_layers(kind, name, params, num_layers, int(w_ih.shape[1]), hidden))
        elif {"running_mean", "running_var"} <= keys:
            extra = keys - {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
            if extra:
                raise UnsupportedOpError("BatchNorm", name, f"unexpected parameters {sorted(extra)}")
            layers.append(_batchnorm(name, params.get("weight"), params.get("bias"), params["running_mean"],
                                     params["running_var"], 1e-5))
        elif "weight" in keys and keys <= {"weight", "bias"}:
            weight = _array(params["weight"])
            if weight.ndim != 2:
                raise UnsupportedOpError("weight", name, f"a {weight.ndim}-D weight is not a Linear/Embedding layer")
            is_embedding = not layers and "bias" not in keys and (
                input_kind == "tokens" or (input_kind is None and _EMBEDDING_NAME.search(name) is not None))
            if is_embedding:
                layers.append(Embedding(name, num_embeddings=weight.shape[0], embedding_dim=weight.shape[1],
                                        weight=Tensor(weight, detect_quant(weight))))
            else:
                bias = _tensor(params["bias"]) if "bias" in keys else None
                layers.append(Linear(name, in_size=weight.shape[1], out_size=weight.shape[0],
                                     weight=Tensor(weight, detect_quant(weight)), bias=bias))
        else:
            raise UnsupportedOpError(f"parameters {sorted(keys)}", name, "cannot infer a supported layer kind")
    return layers


def _load_file(path: Path) -> dict:
    torch = _import_torch()
    if not path.is_file():
        raise ModelFormatError(f"{path}: file not found")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt/unsafe files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{path}: cannot read as a PyTorch state_dict ({msg[:200]}); "
                               f"save model.state_dict() with torch.save") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # common checkpoint layout {"state_dict": ..., "epoch": ...}
    if not isinstance(obj, dict):
        raise ModelFormatError(f"{path}: holds a {type(obj).__name__}, expected a state_dict")
    return obj


def load_torch(source: Any, *, name: str | None = None, input_kind: str | None = None,
               input_size: int | None = None) -> Model:
    """Import an ``nn.Module``, a ``state_dict`` (dict) or a ``.pt``/``.pth`` file into the IR."""
    default_name = "model"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        layers = _from_state_dict(_load_file(path), input_kind)
        default_name = path.stem
    elif isinstance(source, dict):
        layers = _from_state_dict(source, input_kind)
    elif hasattr(source, "named_children") and hasattr(source, "named_parameters"):
        layers = _from_module(source)
        default_name = type(source).__name__
    else:
        raise ModelFormatError(f"cannot import a {type(source).__name__} as a PyTorch model")
    if not layers:
        raise ModelFormatError("the PyTorch model contains no supported layer")
    if isinstance(layers[0], Embedding):
        spec = InputSpec("tokens", layers[0].num_embeddings)
    else:
        width = next((lay.in_features for lay in layers if lay.in_features is not None), 0)
        spec = InputSpec("features", int(width or 0))
    if input_kind is not None or input_size is not None:
        spec = InputSpec(input_kind or spec.kind, int(input_size) if input_size is not None else spec.size)
    model = Model(tuple(layers), spec, name=name or default_name, metadata={"source": "torch"}).validate()
    if not isinstance(source, (str, os.PathLike, dict)):
        check_module_forward(source, model)
    return model
