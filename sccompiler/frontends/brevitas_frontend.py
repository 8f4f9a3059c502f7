"""Import Brevitas (``brevitas.nn``) modules with their quantized weights and scales.

The module is imported through its real computation, like a plain torch module
(:mod:`sccompiler.frontends.torch_frontend`): every Brevitas layer is replaced, in a copy of the
module, by the plain torch layer that computes the same thing with the *quantized* weights
(``QuantLSTM`` -> ``nn.LSTM``, ``QuantLinear`` -> ``nn.Linear``, ``QuantEmbedding`` ->
``nn.Embedding``, ``QuantIdentity``/``QuantReLU``/``QuantTanh``/``QuantSigmoid`` without a
quantizer -> their float op), that copy is imported by the torch frontend (ONNX export + its own
check), each weight tensor gets the exact :class:`~sccompiler.ir.model.QuantSpec` of its Brevitas
quantizer, and the imported model's float64 forward must reproduce the *Brevitas* module's own
output on the example input to a relative error of :data:`MATCH_TOLERANCE` -- else the import is
refused.  Nothing is inferred from names or registration order.

Weight quantizers map as: bit width 1 (``SignedBinaryWeightPerTensorConst``...) -> ``binary``
{-s, s}; bit width 2 narrow-range (``SignedTernaryWeightPerTensorConst``, int2) -> ``ternary``
{-s, 0, s}; bit width k > 2 narrow-range (``Int8WeightPerTensorFloat`` with ``weight_bit_width=k``)
-> ``int:k`` (codes |q| <= 2^(k-1)-1, scale s).  Refused: per-channel scales that differ (the IR
holds one scale per tensor), a LSTM whose four gates have different scales (Brevitas gives each
gate its own quantizer unless ``shared_intra_layer_weight_quant=True``), nonzero zero points,
non-narrow ranges, minifloat weights.  Activation quantizers (``io_quant``, ``gate_acc_quant``,
``sigmoid_quant``, ``tanh_quant``, ``cell_state_quant``, a ``QuantLinear``'s
``input_quant``/``output_quant``, an enabled ``QuantIdentity``) are refused, naming the quantizer
and the argument that disables it: the IR's activations are real-valued.  Also refused:
bidirectional layers, ``coupled_input_forget_gates``, ``QuantRNN`` (no Elman-RNN layer kind);
Brevitas 0.13 has no ``QuantGRU``.  See docs/frontends.md.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ModelFormatError, UnsupportedOpError
from ..ir.model import Model, QuantSpec, Tensor
from ..quantize.schemes import INT_MAX_BITS

#: the imported model (float64) must reproduce the Brevitas module to this relative error
MATCH_TOLERANCE = 1e-5

#: LSTM activation quantizers: (cell attribute, the QuantLSTM argument that sets it)
_LSTM_ACT_QUANTS = (
    ("output_quant", "io_quant"), ("input_acc_quant", "gate_acc_quant"), ("forget_acc_quant", "gate_acc_quant"),
    ("cell_acc_quant", "gate_acc_quant"), ("output_acc_quant", "gate_acc_quant"),
    ("input_sigmoid_quant", "sigmoid_quant"), ("forget_sigmoid_quant", "sigmoid_quant"),
    ("output_sigmoid_quant", "sigmoid_quant"), ("cell_tanh_quant", "tanh_quant"),
    ("hidden_state_tanh_quant", "tanh_quant"), ("cell_state_quant", "cell_state_quant"))
_GATES = ("input", "forget", "cell", "output")   # Brevitas's gate names, in PyTorch's i, f, g, o order


def _imports():
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError("torch", "brevitas", "importing Brevitas models") from None
    try:
        import brevitas.nn as qnn  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError("brevitas", "brevitas", "importing Brevitas models") from None
    return torch, qnn


def is_brevitas_module(source: Any) -> bool:
    """Whether ``source`` is a torch module holding a ``brevitas.nn`` layer (brevitas not imported)."""
    modules = getattr(source, "modules", None)
    if not callable(modules) or not hasattr(source, "state_dict"):
        return False
    return any(type(m).__module__.startswith("brevitas.") for m in modules())


def is_brevitas_state_dict(source: Any) -> bool:
    """A state_dict of a Brevitas recurrent layer (its gate parameters' key pattern)."""
    return isinstance(source, dict) and any(isinstance(k, str) and "_gate_params." in k for k in source)


def _quant_name(proxy: Any) -> str:
    quant = getattr(proxy, "quant_injector", None)
    return getattr(quant, "__name__", type(proxy).__name__)


def _value(t: Any):
    return t.value if hasattr(t, "value") and hasattr(t, "scale") else t


# ------------------------------------------------------------------------------ weights


def _weight_spec(qt: Any, what: str, node: str) -> tuple[Any, QuantSpec | None, str]:
    """(plain tensor, the exact spec or None for a float weight, a description) of a quantized weight."""
    torch, _ = _imports()
    if not hasattr(qt, "scale"):   # weight_quant=None: a float tensor
        return qt.detach(), None, "float"
    if not hasattr(qt, "bit_width") or not hasattr(qt, "zero_point"):
        raise UnsupportedOpError(type(qt).__name__, node, f"{what}: only integer/binary/ternary weight quantizers "
                                 "import (minifloat and other formats have no IR weight kind)")
    value = qt.value.detach()
    scale = qt.scale.detach().reshape(-1)
    if torch.any(qt.zero_point.detach() != 0):
        raise UnsupportedOpError("weight_quant", node, f"{what}: a nonzero zero point (asymmetric weights) has no IR "
                                 "weight kind; use a symmetric quantizer (e.g. Int8WeightPerTensorFloat)")
    if scale.numel() > 1 and not bool(torch.all(scale == scale[0])):
        raise UnsupportedOpError("weight_quant", node, f"{what}: per-channel scales ({scale.numel()} different "
                                 "values); the IR holds one scale per weight tensor: use a per-tensor quantizer "
                                 "(e.g. Int8WeightPerTensorFloat instead of Int8WeightPerChannelFloat)")
    bits = int(round(float(qt.bit_width)))
    s = float(np.float32(float(scale[0])))
    codes = value.double().numpy() / s
    ints = np.rint(codes)
    if s <= 0 or not np.allclose(codes, ints, rtol=0, atol=1e-4):
        raise UnsupportedOpError("weight_quant", node, f"{what}: its values are not integer multiples of its scale")
    m = int(np.max(np.abs(ints))) if ints.size else 0
    if bits == 1:
        if np.any(ints == 0) or m > 1:
            raise UnsupportedOpError("weight_quant", node, f"{what}: a 1-bit quantizer that is not {{-s, +s}}")
        return value, QuantSpec("binary", (-s, s), s, 1), f"binary, scale {s:.6g}"
    max_code = 2 ** (bits - 1) - 1
    if m > max_code:
        raise UnsupportedOpError("weight_quant", node, f"{what}: {bits}-bit codes reach -2^{bits - 1}; the IR's "
                                 f"int:K is narrow-range (|q| <= 2^(K-1)-1): set weight_narrow_range=True")
    if bits == 2:
        return value, QuantSpec("ternary", (-s, 0.0, s), s, 2), f"ternary, scale {s:.6g}"
    if bits > INT_MAX_BITS:
        raise UnsupportedOpError("weight_quant", node, f"{what}: {bits}-bit weights (at most {INT_MAX_BITS})")
    levels = tuple(float(k * s) + 0.0 for k in range(-max_code, max_code + 1))
    return value, QuantSpec("int", levels, s, bits), f"int:{bits}, scale {s:.6g}"


def _same_specs(specs: list[QuantSpec | None], node: str, what: str, hint: str) -> QuantSpec | None:
    if any(sp != specs[0] for sp in specs):
        raise UnsupportedOpError("weight_quant", node, f"{what}: the gates' weights have different quantizations "
                                 f"({', '.join(str(sp.scale if sp else 'float') for sp in specs)}); the IR holds one "
                                 f"scale per stacked weight tensor: {hint}")
    return specs[0]


# ------------------------------------------------------------------------------ layers


def _refuse_act(proxy: Any, node: str, arg: str, why: str) -> None:
    if proxy is not None and getattr(proxy, "is_quant_enabled", False):
        raise UnsupportedOpError(_quant_name(proxy), node, f"{arg} is enabled ({why}); the IR's activations are "
                                 f"real-valued and cannot represent it: construct the layer with {arg}=None")


def _lstm(m: Any, node: str, specs: dict) -> Any:
    torch, _ = _imports()
    if m.num_directions != 1:
        raise UnsupportedOpError("QuantLSTM", node, "bidirectional=True is not supported by the Brevitas frontend")
    layers = [d[0] for d in m.layers]
    first = layers[0]
    if first.cifg:
        raise UnsupportedOpError("QuantLSTM", node, "coupled_input_forget_gates=True (f = 1 - i) has no IR form; "
                                 "construct it with coupled_input_forget_gates=False")
    for lay in layers:
        enabled = {}
        for attr, arg in _LSTM_ACT_QUANTS:
            proxy = getattr(lay.cell, attr)
            if proxy is not None and proxy.is_quant_enabled:
                enabled.setdefault(arg, _quant_name(proxy))
        if lay.io_quant.is_quant_enabled:
            enabled.setdefault("io_quant", _quant_name(lay.io_quant))
        if enabled:
            listed = ", ".join(f"{a} ({q})" for a, q in enabled.items())
            off = ", ".join(f"{a}=None" for a in enabled)
            if lay.input_gate_params.bias is not None and lay.input_gate_params.bias_quant.is_quant_enabled:
                off += " (and bias_quant=None: a bias quantizer like the default Int32Bias needs io_quant's scale)"
            raise UnsupportedOpError("QuantLSTM", node, f"activation quantizers are enabled: {listed}; the IR "
                                     f"computes gates, cell and hidden states in real arithmetic and cannot represent "
                                     f"them: construct the QuantLSTM with {off}")
    hidden, inp = first.hidden_size, first.input_size
    biased = first.input_gate_params.bias is not None
    rnn = torch.nn.LSTM(inp, hidden, num_layers=len(layers), bias=biased, batch_first=first.cell.batch_first)
    x = torch.zeros(1, 1, inp)
    for k, lay in enumerate(layers):
        ih, hh, bias, s_ih, s_hh, desc = [], [], [], [], [], []
        qin = lay.maybe_quantize_input(x if k == 0 else torch.zeros(1, 1, hidden))
        for g in _GATES:
            gp = getattr(lay, f"{g}_gate_params")
            try:
                w_i, w_h, b = lay.gate_params_fwd(gp, qin)
            except RuntimeError as exc:
                raise UnsupportedOpError(_quant_name(gp.bias_quant), node, f"the bias quantizer fails without "
                                         f"activation quantization ({str(exc)[:120]}); construct the QuantLSTM with "
                                         "bias_quant=None") from None
            for w, bucket, sbucket, what in ((w_i, ih, s_ih, "weight_ih"), (w_h, hh, s_hh, "weight_hh")):
                v, sp, d = _weight_spec(w, f"{g} gate {what}", node)
                bucket.append(v)
                sbucket.append(sp)
                desc.append(d)
            if biased:
                bias.append(_value(b).detach().reshape(-1))
        hint = "construct the QuantLSTM with shared_intra_layer_weight_quant=True"
        w_ih, w_hh = torch.cat(ih, 0), torch.cat(hh, 0)
        specs[_key(w_ih)] = _same_specs(s_ih, node, f"layer {k} weight_ih", hint)
        specs[_key(w_hh)] = _same_specs(s_hh, node, f"layer {k} weight_hh", hint)
        with torch.no_grad():
            getattr(rnn, f"weight_ih_l{k}").copy_(w_ih)
            getattr(rnn, f"weight_hh_l{k}").copy_(w_hh)
            if biased:
                getattr(rnn, f"bias_ih_l{k}").copy_(torch.cat(bias, 0))
                getattr(rnn, f"bias_hh_l{k}").zero_()
    return _LSTMAdapter.of(torch, rnn, m.cat_output_cell_states)


class _LSTMAdapter:
    """``nn.LSTM`` behind ``QuantLSTM``'s call signature ``(x, hx=None, cx=None)`` (built lazily)."""

    @staticmethod
    def of(torch, rnn, cat_cells: bool):
        class QuantLSTMAsLSTM(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = rnn

            def forward(self, x, hx=None, cx=None):
                state = None if hx is None else (hx, cx if cx is not None else torch.zeros_like(hx))
                y, (h, c) = self.rnn(x, state)
                return y, (h, c if cat_cells else list(c.unbind(0)))

        return QuantLSTMAsLSTM()


def _key(t: Any) -> tuple:
    a = np.asarray(t.detach().to("cpu").float().numpy(), dtype=np.float32)
    return a.shape, a.tobytes()


def _linear(m: Any, node: str, specs: dict) -> Any:
    torch, _ = _imports()
    _refuse_act(m.input_quant, node, "input_quant", "it quantizes the layer's input")
    _refuse_act(m.output_quant, node, "output_quant", "it quantizes the layer's output")
    w, spec, _ = _weight_spec(m.quant_weight(), "weight", node)
    lin = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    with torch.no_grad():
        lin.weight.copy_(w)
        if m.bias is not None:
            try:
                b = m.bias_quant(m.bias, torch.zeros(1, m.in_features), m.quant_weight())
            except RuntimeError as exc:
                raise UnsupportedOpError(_quant_name(m.bias_quant), node, f"the bias quantizer fails without input "
                                         f"quantization ({str(exc)[:120]}); use bias_quant=None") from None
            lin.bias.copy_(_value(b).detach())
    specs[_key(lin.weight)] = spec
    return lin


def _embedding(m: Any, node: str, specs: dict) -> Any:
    torch, _ = _imports()
    _refuse_act(getattr(m, "output_quant", None), node, "output_quant", "it quantizes the looked-up vectors")
    if m.max_norm is not None:
        raise UnsupportedOpError("QuantEmbedding", node, "max_norm renormalizes the weights during forward")
    w, spec, _ = _weight_spec(m.quant_weight(), "weight", node)
    emb = torch.nn.Embedding(m.num_embeddings, m.embedding_dim, padding_idx=m.padding_idx)
    with torch.no_grad():
        emb.weight.copy_(w)
    specs[_key(emb.weight)] = spec
    return emb


def _activation(m: Any, node: str, plain: type) -> Any:
    cls = type(m).__name__
    for attr in ("input_quant", "act_quant"):
        proxy = getattr(m, attr, None)
        if proxy is not None and proxy.is_quant_enabled:
            raise UnsupportedOpError(_quant_name(proxy), node, f"{cls}'s {attr} is enabled (it rounds activations "
                                     f"to a grid the IR does not represent): construct it as {cls}({attr}=None)")
    return plain()


def _replacement(m: Any, node: str, specs: dict) -> Any | None:
    """The plain torch module computing what Brevitas layer ``m`` computes, or None if ``m`` is not one."""
    torch, qnn = _imports()
    nn = torch.nn
    if isinstance(m, qnn.QuantLSTM):
        return _lstm(m, node, specs)
    if isinstance(m, qnn.QuantRNN):
        raise UnsupportedOpError("QuantRNN", node, "an Elman RNN has no IR layer kind (only LSTM and GRU); "
                                 "Brevitas has no QuantGRU")
    if isinstance(m, qnn.QuantLinear):
        return _linear(m, node, specs)
    if isinstance(m, qnn.QuantEmbedding):
        return _embedding(m, node, specs)
    for cls, plain in ((qnn.QuantIdentity, nn.Identity), (qnn.QuantReLU, nn.ReLU), (qnn.QuantTanh, nn.Tanh),
                       (qnn.QuantSigmoid, nn.Sigmoid)):
        if isinstance(m, cls):
            return _activation(m, node, plain)
    if type(m).__module__.startswith("brevitas."):
        raise UnsupportedOpError(type(m).__name__, node, "this Brevitas layer is not supported (QuantLSTM, "
                                 "QuantLinear, QuantEmbedding, QuantIdentity/ReLU/Tanh/Sigmoid without quantizers)")
    return None


def _plain_copy(module: Any, specs: dict) -> Any:
    """A copy of ``module`` with every Brevitas layer replaced by its plain torch equivalent."""
    root = _replacement(module, "<root>", specs)
    if root is not None:
        return root
    plain = copy.deepcopy(module)
    replaced: list[str] = []
    for path, sub in list(module.named_modules()):
        if not path or any(path.startswith(r + ".") for r in replaced):
            continue   # the root, or inside a replaced layer
        parent_path, _, attr = path.rpartition(".")
        new = _replacement(sub, path, specs)
        if new is None:
            continue
        parent = plain.get_submodule(parent_path) if parent_path else plain
        if not hasattr(parent, "_modules") or attr not in parent._modules:
            raise UnsupportedOpError(type(sub).__name__, path, "cannot locate this layer in a copy of the module")
        parent._modules[attr] = new
        replaced.append(path)
    return plain


class _FirstOutput:
    @staticmethod
    def of(torch, inner):
        class FirstOutput(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(x)[0]

        return FirstOutput()


# ------------------------------------------------------------------------------ import


_ADAPTER_NAME = re.compile(r"^(.+)\.rnn(?:\.[A-Za-z_]+)?$")


def _module_path(name: str, paths: set[str]) -> str:
    """An imported layer's name as the module path it came from ('lstm.rnn.LSTM' -> 'lstm',
    'fc.Gemm' -> 'fc'), where that is one."""
    adapter = _ADAPTER_NAME.sub(r"\1", name)
    if adapter != name and adapter in paths:
        return adapter
    head = name.rpartition(".")[0]
    return head if head in paths else name


def _retag(model: Model, specs: dict, paths: set[str]) -> Model:
    """Give every imported weight the exact spec of the Brevitas quantizer it came from."""
    found = set()
    layers = []
    for lay in model.layers:
        changes = {}
        for fname, t in lay.tensors():
            key = (tuple(t.data.shape), np.asarray(t.data, dtype=np.float32).tobytes())
            if key in specs:
                found.add(key)
                sp = specs[key]
                if sp is not None:   # codes x scale exactly (float32 rounding of an int:K product undone)
                    data = np.rint(t.data / sp.scale) * sp.scale if sp.scheme == "int" else t.data
                    changes[fname] = Tensor(data, sp)
        layers.append(lay.replace(**changes) if changes else lay)
    missing = [k for k, sp in specs.items() if sp is not None and k not in found]
    if missing:
        raise UnsupportedOpError("QuantLayer", "<root>", f"{len(missing)} quantized weight tensor(s) of shape "
                                 f"{missing[0][0]} were transformed on import; refusing rather than guessing their "
                                 "quantization")
    names = [_module_path(lay.name, paths) for lay in layers]
    if len(set(names)) == len(names):   # 'lstm.rnn' (the adapter's nn.LSTM) -> 'lstm', the QuantLSTM's path
        layers = [lay.replace(name=n) if n != lay.name else lay for lay, n in zip(layers, names)]
    return Model(tuple(layers), model.input, model.name, dict(model.metadata))


def load_brevitas(module: Any, *, name: str | None = None, input_kind: str | None = None,
                  input_size: int | None = None, example_input: Any = None) -> Model:
    """Import a module holding ``brevitas.nn`` layers (module docstring); ``example_input`` is the
    input it is exported and checked on (default: a small random one of its first layer's shape)."""
    torch, qnn = _imports()
    from ..reference import forward  # noqa: PLC0415
    from .torch_frontend import as_ir_layout, find_example_input, load_torch  # noqa: PLC0415

    if not hasattr(module, "named_modules"):
        raise ModelFormatError(f"cannot import a {type(module).__name__} as a Brevitas model (pass the nn.Module)")
    bare = isinstance(module, qnn.QuantLSTM)
    was_training = module.training
    module.eval()
    try:
        specs: dict = {}
        plain = _plain_copy(module, specs)
        if bare:   # a bare QuantLSTM: its output sequence, not (h_n, c_n)
            plain, module_fn = _FirstOutput.of(torch, plain), _FirstOutput.of(torch, module)
        else:
            module_fn = module
        plain.eval()
        x = (find_example_input(plain, input_kind, input_size) if example_input is None
             else torch.as_tensor(example_input))
        if x.is_floating_point():
            x = x.float()
        model = load_torch(plain, name=name or type(module).__name__, input_kind=input_kind,
                           input_size=input_size, example_input=x)
        with torch.no_grad():
            try:
                expected = copy.deepcopy(module_fn).double()(x.double() if x.is_floating_point() else x)
            except Exception:  # noqa: BLE001 - brevitas may not run in float64: its own float32 output
                expected = module_fn(x)
    except RuntimeError as exc:
        raise UnsupportedOpError(type(module).__name__, "<root>", f"the Brevitas module fails ({str(exc)[:200]})") \
            from None
    finally:
        module.train(was_training)
    expected = _value(expected[0] if isinstance(expected, tuple) else expected)
    if not isinstance(expected, torch.Tensor):
        raise UnsupportedOpError(type(module).__name__, "<root>", "forward must return one tensor")
    model = _retag(model, specs, {p for p, _ in module.named_modules() if p})
    info = model.metadata.get("onnx", {})
    xi = as_ir_layout(x.numpy(), info.get("input_layout"))
    want = as_ir_layout(expected.detach().double().numpy(), info.get("output_layout"))
    got = forward(model, xi if model.input.kind == "tokens" else xi.astype(np.float64))
    err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    scale = 1.0 + float(np.max(np.abs(want))) if want.size else 1.0
    if not err <= MATCH_TOLERANCE * scale:
        raise UnsupportedOpError(type(module).__name__, "<root>",
                                 f"the imported model does not reproduce the Brevitas module (max error {err:.3g}, "
                                 f"shapes {got.shape} vs {want.shape}); refusing rather than guessing")
    import brevitas  # noqa: PLC0415

    meta = {**model.metadata, "source": "brevitas",
            "brevitas": {"version": brevitas.__version__, "max_error_vs_brevitas": err}}
    return Model(model.layers, model.input, model.name, meta).validate()
