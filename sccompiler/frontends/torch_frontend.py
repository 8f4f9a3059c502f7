"""Import PyTorch models: an ``nn.Module``, a ``state_dict`` or a ``.pt``/``.pth`` file.

**Module** import goes through the module's real computation: it is exported to ONNX
(``torch.onnx.export``, the legacy exporter at opset 17) on an example input (``example_input``, or a
small random one of the shape its first layer takes), that graph is imported by the ONNX frontend,
and the imported model must reproduce the module, run in float64 on the same input, to a relative
error of 1e-6 -- otherwise the import is refused.  So functional ops in ``forward``
(``torch.tanh(y)``, ``y[:, -1]``), the order ``forward`` applies the children in and their layouts
are honoured, and whatever the ONNX frontend cannot express is refused, never guessed (bidirectional
layers and their ``h_n`` heads included: docs/frontends.md).  Refused before export: ``proj_size``,
``nn.Embedding(max_norm=...)`` (it rewrites its weights during forward).  Layer names are the
module paths where the export kept them (``lstm``, ``head.0``).

``state_dict`` import infers layer kinds from key patterns (``weight_ih_l0`` ... -> LSTM or GRU by
the gate count, ``*_reverse`` keys -> a bidirectional layer, ``weight``+``bias`` -> Linear,
``running_mean``/``running_var`` -> batch norm, a bias-less first ``weight`` -> Embedding when
``input_kind="tokens"`` or its name contains ``emb``/``encoder``) in key order: a state_dict holds
no computation, so this assumes a plain stack (embedding, recurrent layers, per-step
linear/batch-norm head) applied in key order.
Parameter-free layers (activations) are invisible in a ``state_dict``, and so is a batch norm's
``eps`` (the PyTorch default 1e-5 is used); import the module (or its ONNX export) to keep them.

torch is imported lazily: a plain dict of numpy arrays needs no torch at all.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ModelFormatError, UnsupportedOpError
from ..ir.model import (
    GRU,
    LSTM,
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
                hidden_size: int, bidirectional: bool = False) -> list[Layer]:
    """One IR layer per stacked recurrent layer; ``params`` maps 'weight_ih_l0' ... to tensors (and
    'weight_ih_l0_reverse' ... to the backward direction's of a bidirectional stack, whose layers
    above the first read the 2H features concat(forward, backward) of the layer below)."""
    layers: list[Layer] = []
    width = input_size
    direction = "bidirectional" if bidirectional else "forward"
    for k in range(num_layers):
        lname = name if num_layers == 1 else f"{name}.l{k}"
        tensors = {f + ours: _tensor(params[f"{p}_l{k}{suffix}"]) for f, p in
                   (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh"))
                   for suffix, ours in (("", ""), ("_reverse", "_reverse"))[:1 + bidirectional]
                   if f"{p}_l{k}{suffix}" in params}
        if kind == "lstm":
            layers.append(LSTM(lname, input_size=width, hidden_size=hidden_size, direction=direction, **tensors))
        else:
            layers.append(GRU(lname, input_size=width, hidden_size=hidden_size, linear_before_reset=True,
                              direction=direction, **tensors))
        width = hidden_size * (2 if bidirectional else 1)
    return layers


def _batchnorm(name: str, weight: Any, bias: Any, mean: Any, var: Any, eps: float) -> BatchNorm:
    mean_a = _array(mean)
    gamma = _array(weight) if weight is not None else np.ones_like(mean_a)
    beta = _array(bias) if bias is not None else np.zeros_like(mean_a)
    return BatchNorm(name, params=BatchNormParams(gamma, beta, mean_a, _array(var), eps=float(eps)))


# ----------------------------------------------------------------------------- nn.Module


#: the opset of the internal export (what the ONNX frontend reads best; the legacy exporter)
EXPORT_OPSET = 17
#: synthesized example input: batch and time differ, so a swapped layout cannot pass the check
EXAMPLE_BATCH, EXAMPLE_STEPS = 3, 5
#: the imported model must reproduce the module (run in float64) to this relative error
MATCH_TOLERANCE = 1e-6


def _refuse_statically(module: Any) -> None:
    """What an export would hide: computations that change the module's own weights."""
    nn = _import_torch().nn
    for path, sub in module.named_modules():
        if isinstance(sub, nn.RNNBase) and getattr(sub, "proj_size", 0):
            raise UnsupportedOpError(type(sub).__name__, path or "<root>",
                                     f"proj_size={sub.proj_size} is not supported")
        if isinstance(sub, nn.Embedding) and sub.max_norm is not None:
            raise UnsupportedOpError("Embedding", path or "<root>",
                                     f"max_norm={sub.max_norm} renormalizes the weights during forward, so no fixed "
                                     "weights describe the module; renormalize once and set max_norm=None")


def _example_inputs(module: Any, input_kind: str | None, input_size: int | None) -> list:
    """Candidate inputs for the export and the check, one per parametrized leaf (Embedding, RNN,
    Linear) in registration order: token ids of its vocabulary, or features of its width
    (time-major for an RNN without ``batch_first``).  The first one ``forward`` accepts is used;
    only the shape comes from here, the export and the check run the module's real ``forward``."""
    torch = _import_torch()
    nn = torch.nn
    gen = torch.Generator().manual_seed(0)
    out, seen = [], set()
    for _, m in module.named_modules():
        if input_kind == "tokens" or (input_kind is None and isinstance(m, nn.Embedding)):
            vocab = input_size or (m.num_embeddings if isinstance(m, nn.Embedding) else None)
            key = ("tokens", vocab)
            if vocab and key not in seen:
                out.append(torch.randint(0, int(vocab), (EXAMPLE_BATCH, EXAMPLE_STEPS), generator=gen))
        elif isinstance(m, (nn.RNNBase, nn.Linear)):
            width = input_size or (m.input_size if isinstance(m, nn.RNNBase) else m.in_features)
            time_major = isinstance(m, nn.RNNBase) and not m.batch_first
            key = ("features", width, time_major)
            if key not in seen:
                shape = (EXAMPLE_STEPS, EXAMPLE_BATCH, width) if time_major else (EXAMPLE_BATCH, EXAMPLE_STEPS, width)
                out.append(torch.randn(*shape, generator=gen, dtype=torch.float64).float())
        else:
            continue
        seen.add(key)
    return out


def find_example_input(module: Any, input_kind: str | None, input_size: int | None):
    torch = _import_torch()
    for x in _example_inputs(module, input_kind, input_size):
        try:
            with torch.no_grad():
                module(x)
        except Exception:  # noqa: BLE001, S112 - this candidate's shape is not the module's input
            continue
        return x
    raise ModelFormatError(f"cannot find an input {type(module).__name__}.forward accepts (tried the shapes of its "
                           "layers); pass example_input")


def _export(module: Any, x: Any) -> Any:
    """The module's computation on ``x`` as ONNX (the legacy exporter: opset 17, dynamic axes)."""
    import warnings  # noqa: PLC0415

    torch = _import_torch()
    from .onnx_graph import import_onnx  # noqa: PLC0415

    onnx, _ = import_onnx()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # static shapes: a forward's reshape(b * t, -1) becomes a constant shape the importer
            # reads as merging batch and time (checked on the example below, whose axes differ)
            torch.onnx.export(module, (x,), buf, dynamo=False, opset_version=EXPORT_OPSET, input_names=["input"])
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types for what it cannot trace
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedOpError(type(module).__name__, "<root>",
                                 f"torch.onnx.export cannot trace this module ({first[:200]}); export it to ONNX "
                                 "yourself or simplify forward") from None
    proto = onnx.load_from_string(buf.getvalue())
    if len(proto.graph.output) != 1:
        raise UnsupportedOpError(type(module).__name__, "<root>",
                                 f"forward returns {len(proto.graph.output)} tensors; return only the one to compile "
                                 "(e.g. wrap the module)")
    return proto


def _module_names(model: Model, module: Any) -> Model:
    """Layer names from the module tree where the export kept them ('lstm.LSTM' -> 'lstm')."""
    paths = {p for p, _ in module.named_modules() if p}
    wanted = [lay.name.rpartition(".")[0] if lay.name.rpartition(".")[0] in paths else lay.name
              for lay in model.layers]
    if len(set(wanted)) != len(wanted):
        return model
    layers = tuple(lay.replace(name=n) if n != lay.name else lay for lay, n in zip(model.layers, wanted))
    return Model(layers, model.input, model.name, dict(model.metadata))


def as_ir_layout(a: np.ndarray, layout: str | None) -> np.ndarray:
    """An array in the ONNX graph's layout ('TBF', 'BT', 'BF', ...) as the IR's batch-major one
    (an output without a time axis, a last-step head's, is the IR's length-1 time axis)."""
    if layout and "B" in layout and "T" not in layout and a.ndim == len(layout):
        b = layout.index("B")
        return np.expand_dims(np.moveaxis(a, b, 0), 1)
    if not layout or "B" not in layout or "T" not in layout:
        return a
    order = [layout.index("B"), layout.index("T")] + [k for k in range(len(layout)) if layout[k] not in "BT"]
    return np.transpose(a, order[:a.ndim])


class _SequenceOutput:
    """``nn.LSTM``/``nn.GRU`` -> a module returning only its output sequence ``y`` (built lazily:
    torch is optional)."""

    @staticmethod
    def of(torch, rnn):
        class SequenceOutput(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.rnn = inner

            def forward(self, x):
                return self.rnn(x)[0]

        return SequenceOutput(rnn)


def _from_module(module: Any, example_input: Any, input_kind: str | None, input_size: int | None,
                 name: str) -> Model:
    """Import a module through its real computation: export to ONNX on an example input, import
    that graph, and check that the imported model reproduces the module (run in float64) on the
    same input -- else refuse.  Nothing is inferred from the order modules are registered in."""
    import copy  # noqa: PLC0415

    torch = _import_torch()
    from ..reference import forward  # noqa: PLC0415
    from .onnx_frontend import load_onnx  # noqa: PLC0415

    _refuse_statically(module)
    if isinstance(module, torch.nn.RNNBase):
        module = _SequenceOutput.of(torch, module)   # a bare LSTM/GRU: its output sequence, not (h_n, c_n)
    was_training = module.training
    module.eval()
    try:
        x = (find_example_input(module, input_kind, input_size) if example_input is None
             else torch.as_tensor(example_input))
        if x.dtype == torch.float64:
            x = x.float()
        proto = _export(module, x)
        model = load_onnx(proto, name=name, input_kind=input_kind, input_size=input_size)
        with torch.no_grad():
            try:
                expected = copy.deepcopy(module).double()(x if not x.is_floating_point() else x.double())
            except Exception as exc:  # noqa: BLE001 - the user's forward, in float64
                raise UnsupportedOpError(type(module).__name__, "<root>", f"forward fails in float64 "
                                         f"({str(exc)[:200]}); cannot check the import") from None
    finally:
        module.train(was_training)
    if not isinstance(expected, torch.Tensor):
        raise UnsupportedOpError(type(module).__name__, "<root>", "forward must return one tensor")
    info = model.metadata.get("onnx", {})
    tokens = model.input.kind == "tokens"
    xi = as_ir_layout(x.numpy(), info.get("input_layout"))
    want = as_ir_layout(expected.numpy(), info.get("output_layout"))
    got = forward(model, xi if tokens else xi.astype(np.float64))
    err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    scale = 1.0 + float(np.max(np.abs(want))) if want.size else 1.0
    if not err <= MATCH_TOLERANCE * scale:
        raise UnsupportedOpError(type(module).__name__, "<root>",
                                 f"the imported model does not reproduce the module (max error {err:.3g} on the "
                                 f"example input, shapes {got.shape} vs {want.shape}); refusing rather than "
                                 "guessing its computation")
    meta = {**model.metadata, "source": "torch",
            "torch": {"import": "onnx-export", "opset": EXPORT_OPSET, "example_shape": list(x.shape),
                      "max_error_vs_torch": err}}
    return _module_names(Model(model.layers, model.input, model.name, meta), module).validate()


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
            bidirectional = any(k.endswith("_reverse") for k in rnn)
            if any(k.startswith("weight_hr") for k in rnn):
                raise UnsupportedOpError("LSTM", name, "projections (proj_size > 0) are not supported")
            if set(rnn) != keys:
                raise UnsupportedOpError("RNN", name, f"unexpected parameters {sorted(keys - set(rnn))}")
            num_layers = 1 + max(int(_RNN_KEY.match(k).group("layer")) for k in rnn)
            for k in range(num_layers):
                for p in ("weight_ih", "weight_hh"):
                    for suffix in ("", "_reverse")[:1 + bidirectional]:
                        if f"{p}_l{k}{suffix}" not in params:
                            raise ModelFormatError(f"state_dict: {name}.{p}_l{k}{suffix} is missing"
                                                   + (" (a bidirectional layer needs both directions)"
                                                      if bidirectional else ""))
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
            layers.extend(_rnn_layers(kind, name, params, num_layers, int(w_ih.shape[1]), hidden, bidirectional))
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
    first = layers[0] if layers else None
    if (isinstance(first, Linear) and first.bias is None and len(layers) > 1 and input_kind is None
            and isinstance(layers[1], (LSTM, GRU)) and layers[1].input_size == first.in_size != first.out_size):
        # what a bias-free "Linear" in front of a recurrent layer of its input width really is
        raise ModelFormatError(f"state_dict: {first.name}.weight {first.weight.shape} feeds {layers[1].name} by its "
                               f"second axis, like an embedding table; pass input_kind='tokens' (scc convert "
                               "--input-kind tokens) to import it as one, or import the module itself")
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
               input_size: int | None = None, example_input: Any = None) -> Model:
    """Import an ``nn.Module``, a ``state_dict`` (dict) or a ``.pt``/``.pth`` file into the IR.

    A module is imported through its computation (module docstring); ``example_input`` is the
    input it is exported and checked on (default: a small random one of the shape its first
    layer takes)."""
    default_name = "model"
    if hasattr(source, "named_children") and hasattr(source, "named_parameters") and not isinstance(source, dict):
        return _from_module(source, example_input, input_kind, input_size, name or type(source).__name__)
    if example_input is not None:
        raise ModelFormatError("example_input applies to an nn.Module only")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        layers = _from_state_dict(_load_file(path), input_kind)
        default_name = path.stem
    elif isinstance(source, dict):
        layers = _from_state_dict(source, input_kind)
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
    model = Model(tuple(layers), spec, name=name or default_name, metadata={"source": "torch"})
    return model.validate()
