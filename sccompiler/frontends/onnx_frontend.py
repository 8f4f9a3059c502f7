"""Import ONNX models (plain or QONNX-quantized) into the model IR.

The importer follows the *data path*: starting at the graph input it walks the chain of nodes that
consume the data tensor, turning compute nodes into IR layers and checking that every layout node
on the way keeps the meaning of the batch / time / feature axes.  Everything else in the graph is
either a constant (weights, possibly produced by QONNX ``Quant``/``BipolarQuant``/``IntQuant``
nodes, evaluated here in numpy) or shape plumbing that builds the all-zero initial states PyTorch's
exporter emits (``Shape``/``Gather``/``Concat``/``ConstantOfShape``/``Expand``/``Slice``).

Accepted on the data path:

* compute: ``LSTM``, ``GRU`` (forward or bidirectional, default activations, zero initial states of the
  spec's shape, ``sequence_lens`` only when provably the full length, zero peepholes, ``layout`` 0
  or 1), ``Gemm`` (``transA=0``), ``MatMul`` by a
  constant (+ an ``Add`` of a constant bias), ``Gather`` on a constant table (embedding, first
  layer only), ``BatchNormalization`` (inference mode, over a feature axis), ``Sigmoid``/``Tanh``/
  ``Relu``/``Softmax`` (over the feature axis), QONNX ``BipolarQuant`` with scale 1 (the sign
  activation; other activation quantizers are unsupported);
* layout: ``Identity``, ``Transpose``, ``Squeeze``/``Unsqueeze`` of size-1 axes the importer
  created (LSTM/GRU's ``num_directions`` axis), ``Reshape`` that flattens the leading axes to
  ``(-1, features)`` for a ``Gemm`` and restores them (checked against the input's static sizes),
  ``Reshape`` that provably only drops the size-1 direction axis (the dynamo exporter's pattern,
  with a constant or a ``Shape``-computed target: :mod:`.onnx_shapes`), or that merges a
  bidirectional layer's size-2 direction axis with the feature axis right after it into
  ``concat(forward, backward)`` (both exporters; nothing else may touch that axis);
* the last time step (a ``LastStep`` layer, :mod:`.onnx_select`): ``Gather``/``Slice`` of the last
  step of the time axis, an LSTM/GRU's ``Y_h`` (h_n) and PyTorch's stacked ``h_n`` (``Concat`` of
  every layer's ``Y_h``) followed by ``Gather`` of its last row; for a bidirectional last layer its
  final states (``h_n[-1]`` backward, ``h_n[-2]`` forward, both: ``cat((h_n[-2], h_n[-1]), 1)`` or
  ``h_n[-2:].transpose(0, 1).reshape(B, -1)``) as ``LastStep.select``.

Weights in external data files are read by :mod:`.onnx_external` (checked paths and sizes).
What imports and what is refused, and why: docs/frontends.md.

Anything else on the data path, a second graph input that reaches it, or a branching data path
raises :class:`~sccompiler.errors.UnsupportedOpError` naming the op and node.  Extra graph outputs
that do not lie on the data path (e.g. an unused ``h_n``) are dropped and listed in
``model.metadata["onnx"]["ignored_outputs"]``.

Weights are mapped to the IR conventions (gate order i,f,g,o for LSTM and r,z,n for GRU, the
``num_directions`` axis removed); the data layout (ONNX's default time-major ``(seq, batch,
feat)``) is recorded in ``metadata["onnx"]["input_layout"]`` — the IR itself is batch-major.

This module is the data-path walk (one handler per op) and :func:`load_onnx`; the graph index and
constant evaluation are :mod:`.onnx_graph`, the QONNX quantizers :mod:`.onnx_quant`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError
from ..io import regular_file
from ..ir.model import (
    GRU,
    LSTM,
    Activation,
    BatchNorm,
    BatchNormParams,
    Embedding,
    InputSpec,
    LastStep,
    Layer,
    Linear,
    Model,
    QuantSpec,
    Tensor,
)
from ..quantize.detect import detect_quant
from .onnx_external import has_external_data, load_external_data
from .onnx_graph import OnnxGraph, import_onnx
from .onnx_quant import QUANT_OPS
from .onnx_select import STACK2, direction_pair, final_state, state_concat, time_gather, time_slice
from .onnx_shapes import HALF_LABEL, PAIR_LABEL, AxisInfo, ShapeEvaluator, sequence_lens_full, squeeze_reshape

#: ONNX LSTM stacks gates i, o, f, c; the IR wants i, f, g(=c), o
ONNX_TO_IR_LSTM_BLOCKS = (0, 2, 3, 1)
#: ONNX GRU stacks gates z, r, h; the IR wants r, z, n(=h)
ONNX_TO_IR_GRU_BLOCKS = (1, 0, 2)
_ACTIVATION_OPS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Softmax": "softmax"}
_DEFAULT_RNN_ACTIVATIONS = {"LSTM": ("sigmoid", "tanh", "tanh"), "GRU": ("sigmoid", "tanh")}
SUPPORTED_DATA_OPS = ("LSTM", "GRU", "Gemm", "MatMul", "Add", "Gather", "BatchNormalization",
                      *_ACTIVATION_OPS, "Identity", "Transpose", "Squeeze", "Unsqueeze", "Reshape",
                      "Slice", "Concat")

#: axis label of a feature axis, of the size-1 direction axis of LSTM/GRU outputs, of Unsqueeze
FEATURE, DIRECTION, UNIT = "F", "D", "U"
#: labels that only a bidirectional layer's raw outputs carry (its size-2 direction axis, one direction's
#: features, PyTorch's stacked h_n of both directions): only layout ops and selections may see them
BIDIRECTIONAL_LABELS = (PAIR_LABEL, HALF_LABEL, STACK2)
_PAIR_OPS = ("Identity", "Transpose", "Reshape", "Gather", "Slice", "Concat", "Unsqueeze")


def _clean_name(name: str) -> str:
    """An ONNX node name as a valid layer name (native.LAYER_NAME), or "" to use a fallback."""
    clean = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9_.\-]", ".", name.strip("/")))
    return clean.strip(".-")[:120].rstrip(".")


@dataclass
class _Walk:
    """State of the data-path walk."""

    binding: dict[str, str] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    quant: dict[int, dict[str, QuantSpec]] = field(default_factory=dict)  # layer index -> field -> spec
    last_op: str = ""
    last_output: str = ""  # output tensor of the node that made the last layer


# ------------------------------------------------------------------------ data-path walk


class _Importer:
    def __init__(self, g: OnnxGraph) -> None:
        self.g = g
        self.walk = _Walk()
        self.names: set[str] = set()
        self.axes: dict[str, AxisInfo] = {}  # data-path tensor -> its axis labels (for shape plumbing)
        self.shapes = ShapeEvaluator(g, self.axes, self.static_size)
        g.shape_hook = self.shapes.concrete
        self.handlers: dict[str, Callable[[Any, tuple], tuple[str, tuple]]] = {
            "LSTM": self._rnn, "GRU": self._rnn, "Gemm": self._gemm, "MatMul": self._matmul,
            "Add": self._add, "Gather": self._gather, "BatchNormalization": self._batchnorm,
            "Identity": self._identity, "Transpose": self._transpose, "Squeeze": self._squeeze,
            "Unsqueeze": self._unsqueeze, "Reshape": self._reshape,
            **{op: self._activation for op in _ACTIVATION_OPS},
            # the last time step (sequence-level heads): .onnx_select
            "Slice": lambda node, labels: time_slice(self, node, labels),
            "Concat": lambda node, labels: state_concat(self, node, labels),
        }
        #: the recurrent nodes of the walk, in order (h_n of a stack: .onnx_select.state_concat)
        self.rnn_nodes: list[Any] = []
        self.stack_size = 0

    @property
    def current(self) -> str:
        """The data tensor the node being handled reads."""
        return self._current

    # ------------------------------------------------------------------ utilities
    def fail(self, node: Any, detail: str) -> UnsupportedOpError:
        return UnsupportedOpError(node.op_type, self.g.name(node), detail)

    def weight(self, name: str, node: Any) -> np.ndarray:
        """A constant weight/bias tensor: floating point only (integer, bool and complex tensors are
        refused, never cast: an int64 'weight' is almost always a mis-wired shape or index)."""
        arr = np.asarray(self.g.const(name, node))
        if arr.dtype.kind != "f":
            raise self.fail(node, f"weight {name!r} has dtype {arr.dtype}; weights must be floating point")
        return arr

    def layer_name(self, node: Any, fallback: str) -> str:
        base = _clean_name(node.name) or f"{fallback}{len(self.walk.layers)}"
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def add_layer(self, node: Any, layer: Layer, quant: dict[str, QuantSpec] | None = None) -> None:
        self.walk.quant[len(self.walk.layers)] = quant or {}
        self.walk.layers.append(layer)
        self.walk.last_op = node.op_type
        self.walk.last_output = node.output[0]

    def spec_of(self, name: str) -> QuantSpec | None:
        return self.g.quant_of.get(name)

    def bind(self, node: Any, label: Any, role: str) -> None:
        """Record that input axis ``label`` plays ``role``; a conflicting use is unsupported."""
        if isinstance(label, str) and label.startswith("x"):
            prev = self.walk.binding.setdefault(label, role)
            if prev != role:
                raise self.fail(node, f"uses input axis {label[1:]} as {_ROLE[role]} but an earlier layer "
                                      f"used it as {_ROLE[prev]}")
        elif not (role == FEATURE and label == FEATURE):
            raise self.fail(node, f"expects a {_ROLE[role]} axis where the data has a "
                                  f"{_describe(label)} axis (layout not supported)")

    def other_inputs_const(self, node: Any, data_index: int) -> None:
        for k, name in enumerate(node.input):
            if k != data_index and name and self.g.kind(name) == "data":
                raise self.fail(node, f"input {name!r} also depends on the model input; only a chain of "
                                      f"layers with constant weights is supported")

    # ------------------------------------------------------------------ compute ops
    def _rnn(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        g, op = self.g, node.op_type
        a = g.attrs(node)
        ngates = 4 if op == "LSTM" else 3
        direction = a.get("direction", "forward")
        if direction not in ("forward", "bidirectional"):
            raise self.fail(node, f"direction={direction!r}; only forward and bidirectional {op} are supported")
        dirs = 2 if direction == "bidirectional" else 1
        acts = tuple(s.lower() for s in a.get("activations", _DEFAULT_RNN_ACTIVATIONS[op]))
        if acts != _DEFAULT_RNN_ACTIVATIONS[op]:
            raise self.fail(node, f"activations {list(a['activations'])} (only the default "
                                  f"{[s.title() for s in _DEFAULT_RNN_ACTIVATIONS[op]]} are supported)")
        for bad in ("activation_alpha", "activation_beta", "clip"):
            if bad in a:
                raise self.fail(node, f"attribute {bad!r} is not supported")
        for flag in ("input_forget", "layout", "linear_before_reset"):
            if a.get(flag, 0) not in (0, 1):
                raise self.fail(node, f"{flag}={a[flag]!r}; the ONNX spec allows only 0 or 1")
        if op != "GRU" and "linear_before_reset" in a:
            raise self.fail(node, "linear_before_reset is a GRU attribute")
        if a.get("input_forget", 0):
            raise self.fail(node, "input_forget=1 (coupled input/forget gates) is not supported")
        layout = a.get("layout", 0)
        ins = list(node.input) + [""] * (8 - len(node.input))
        if ins[4]:
            self._check_sequence_lens(node, ins[4], labels, layout)
        states = ("initial_h", "initial_c") if op == "LSTM" else ("initial_h",)
        for slot, name in zip(states, ins[5:7]):
            if not g.is_zero_state(name, node, slot):
                raise self.fail(node, f"{slot} is not all zero; nonzero initial states are not supported")
        self._check_state_shapes(node, states, ins[5:7], int(a.get("hidden_size", 0) or 0), layout, dirs)
        if op == "LSTM" and ins[7] and np.any(g.const(ins[7], node)):
            raise self.fail(node, "peephole weights (input P) are not supported")
        self.other_inputs_const(node, 0)
        w, r = self.weight(ins[1], node), self.weight(ins[2], node)
        if w.ndim != 3 or r.ndim != 3 or w.shape[0] != dirs or r.shape[0] != dirs:
            raise self.fail(node, f"W/R must have shape ({dirs}, {ngates}*hidden, ...) (num_directions={dirs}), "
                                  f"got {w.shape} and {r.shape}")
        hidden = int(a.get("hidden_size", r.shape[-1]))
        if isinstance(a.get("hidden_size"), int) and a["hidden_size"] < 1:
            raise self.fail(node, f"hidden_size={a['hidden_size']} must be >= 1")
        if w.shape[1] != ngates * hidden or r.shape[1:] != (ngates * hidden, hidden):
            raise self.fail(node, f"W {w.shape} / R {r.shape} do not match hidden_size={hidden}")
        b = self.weight(ins[3], node) if ins[3] else None
        if b is not None and b.shape != (dirs, 2 * ngates * hidden):
            raise self.fail(node, f"B has shape {b.shape}, expected ({dirs}, {2 * ngates * hidden})")
        if labels is not None:
            if len(labels) != 3:
                raise self.fail(node, f"input has rank {len(labels)}, expected 3")
            t_ax, b_ax = (labels[0], labels[1]) if layout == 0 else (labels[1], labels[0])
            self.bind(node, t_ax, "T")
            self.bind(node, b_ax, "B")
            self.bind(node, labels[2], FEATURE)
        blocks = ONNX_TO_IR_LSTM_BLOCKS if op == "LSTM" else ONNX_TO_IR_GRU_BLOCKS

        def permute(m: np.ndarray) -> np.ndarray:
            parts = np.split(np.asarray(m, dtype=np.float64), ngates, axis=0)
            return np.concatenate([parts[k] for k in blocks], axis=0)

        tensors: dict[str, Tensor] = {}
        quant: dict[str, QuantSpec | None] = {}
        for d, suffix in enumerate(("", "_reverse")[:dirs]):     # ONNX: direction 0 forward, 1 reverse
            tensors |= {f"w_ih{suffix}": Tensor(permute(w[d])), f"w_hh{suffix}": Tensor(permute(r[d]))}
            quant |= {f"w_ih{suffix}": self.spec_of(ins[1]), f"w_hh{suffix}": self.spec_of(ins[2])}
            if b is not None:
                wb, rb = np.split(b[d], 2)
                tensors |= {f"b_ih{suffix}": Tensor(permute(wb)), f"b_hh{suffix}": Tensor(permute(rb))}
                quant |= {f"b_ih{suffix}": self.spec_of(ins[3]), f"b_hh{suffix}": self.spec_of(ins[3])}
        name = self.layer_name(node, op.lower())
        if op == "LSTM":
            layer: Layer = LSTM(name, input_size=int(w.shape[2]), hidden_size=hidden, direction=direction, **tensors)
        else:
            layer = GRU(name, input_size=int(w.shape[2]), hidden_size=hidden, direction=direction,
                        linear_before_reset=bool(a.get("linear_before_reset", 0)), **tensors)
        self.add_layer(node, layer, {k: v for k, v in quant.items() if v is not None})
        self.rnn_nodes.append(node)
        y = node.output[0] if node.output else ""
        if not y or (not g.consumers.get(y) and y not in g.outputs):
            return final_state(self, node, labels, layout)     # h_n: the last step of Y
        if labels is None:
            return y, None
        d_ax, f_ax = (PAIR_LABEL, HALF_LABEL) if dirs == 2 else (DIRECTION, FEATURE)
        out = (labels[0], d_ax, labels[1], f_ax) if layout == 0 else (labels[0], labels[1], d_ax, f_ax)
        return y, out

    def _check_state_shapes(self, node: Any, slots: tuple, names: list[str], hidden: int, layout: int,
                            dirs: int = 1) -> None:
        """A constant initial state must have the shape the spec gives it, (num_directions, batch,
        hidden_size) (layout 0) or (batch, num_directions, hidden_size) (layout 1): torch's dynamo
        exporter writes an LSTM with ``proj_size`` as an LSTM of hidden_size=proj_size whose initial_c
        keeps the cell size, and the projection weights are lost -- such a graph is refused, never read
        as a plain LSTM."""
        for slot, name in zip(slots, names):
            if not name or not hidden:
                continue
            entries = self.shapes.tensor_shape(name, node)
            direction_ax = 0 if layout == 0 else 1
            if entries is None or len(entries) != 3 or None in (entries[direction_ax], entries[2]):
                raise self.fail(node, f"{slot}: its shape cannot be shown to be ({dirs}, batch, hidden_size={hidden})")
            shape = tuple(e[0] if e is not None and not e[1] else "?" for e in entries)
            if entries[direction_ax] != (dirs, ()) or entries[2] != (hidden, ()):
                raise self.fail(node, f"{slot} has shape {shape}, which does not fit hidden_size={hidden} (one "
                                      f"direction); the graph is inconsistent -- an LSTM with proj_size exported "
                                      f"by torch's dynamo exporter looks like this, and proj_size is not supported")

    def _check_sequence_lens(self, node: Any, name: str, labels: tuple | None, layout: int) -> None:
        """``sequence_lens`` is accepted only when it provably equals the full length for every
        sequence (a constant equal to the static time size, or the time axis's own Shape entry)."""
        g = self.g
        if g.kind(name) == "data":
            raise self.fail(node, f"sequence_lens comes from {name!r}, a runtime value; only sequence_lens "
                                  f"provably equal to the full length is supported (export without it)")
        time_label = None if labels is None or len(labels) != 3 else labels[0] if layout == 0 else labels[1]
        verdict = None if time_label is None else sequence_lens_full(self.shapes, name, node, time_label)
        if verdict is True:
            return
        lens = g.const(name, node).reshape(-1).tolist() if g.kind(name) == "const" else "computed"
        if verdict is False:
            raise self.fail(node, f"sequence_lens {lens} differs from the full sequence length "
                                  f"{self.static_size(time_label)}; variable-length sequences are not supported")
        raise self.fail(node, f"sequence_lens ({lens}) cannot be shown equal to the full sequence length "
                              f"(the time axis is dynamic or the value is not a constant); variable-length "
                              f"sequences are not supported")

    def _dense(self, node: Any, labels: tuple, weight: np.ndarray, bias: np.ndarray | None,
               wq: QuantSpec | None, bq: QuantSpec | None) -> None:
        if labels is not None:
            self.bind(node, labels[-1], FEATURE)
        out_size, in_size = weight.shape
        if bias is not None:
            bias = self.bias_vector(node, bias, out_size)
        layer = Linear(self.layer_name(node, "linear"), in_size=int(in_size), out_size=int(out_size),
                       weight=Tensor(weight), bias=Tensor(bias) if bias is not None else None)
        quant = {"weight": wq} if wq is not None else {}
        if bq is not None:
            quant["bias"] = bq
        self.add_layer(node, layer, quant)

    def bias_vector(self, node: Any, bias: np.ndarray, out_size: int) -> np.ndarray:
        """A bias broadcast along the feature axis only: a scalar, (out,), (1, out), ..."""
        arr = np.asarray(bias, dtype=np.float64)
        if arr.size not in (1, out_size) or (arr.ndim and arr.shape[-1] != arr.size):
            raise self.fail(node, f"bias of shape {arr.shape} does not fit {out_size} outputs")
        return np.broadcast_to(arr.reshape(-1), (out_size,)).copy()

    def _gemm(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        a = self.g.attrs(node)
        if node.input[0] != self._current:
            raise self.fail(node, "the data must be input A")
        if a.get("transA", 0):
            raise self.fail(node, "transA=1 is not supported")
        if labels is not None and len(labels) != 2:
            raise self.fail(node, f"input has rank {len(labels)}, expected 2")
        self.other_inputs_const(node, 0)
        wmat = np.asarray(self.weight(node.input[1], node), dtype=np.float64)
        if wmat.ndim != 2:
            raise self.fail(node, f"B must be a matrix, got shape {wmat.shape}")
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        weight = alpha * (wmat if a.get("transB", 0) else wmat.T)
        c = node.input[2] if len(node.input) > 2 else ""
        bias = beta * np.asarray(self.weight(c, node), dtype=np.float64) if c else None
        wq = self.spec_of(node.input[1]) if alpha == 1.0 else None
        bq = self.spec_of(c) if c and beta == 1.0 else None
        self._dense(node, labels, weight, bias, wq, bq)
        return node.output[0], labels and (labels[0], FEATURE)

    def _matmul(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        if node.input[0] != self._current:
            raise self.fail(node, "only data @ constant-matrix is supported (the data must be the first input)")
        self.other_inputs_const(node, 0)
        wmat = np.asarray(self.weight(node.input[1], node), dtype=np.float64)
        if wmat.ndim != 2:
            raise self.fail(node, f"the constant operand must be a matrix, got shape {wmat.shape}")
        self._dense(node, labels, wmat.T, None, self.spec_of(node.input[1]), None)
        return node.output[0], labels and (*labels[:-1], FEATURE)

    def _add(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        prev = self.walk.layers[-1] if self.walk.layers else None
        if not (isinstance(prev, Linear) and prev.bias is None and self.walk.last_op in ("MatMul", "Gemm")
                and self.walk.last_output == self._current):
            raise self.fail(node, "Add is only supported as the bias added directly to a MatMul/Gemm output")
        other = [i for i in node.input if i != self._current]
        if len(other) != 1:
            raise self.fail(node, "expected one constant bias operand")
        self.other_inputs_const(node, list(node.input).index(self._current))
        full = self.bias_vector(node, self.weight(other[0], node), prev.out_size)
        self.walk.layers[-1] = prev.replace(bias=Tensor(full))
        bq = self.spec_of(other[0])
        if bq is not None:
            self.walk.quant[len(self.walk.layers) - 1]["bias"] = bq
        self.walk.last_op = "Add"
        return node.output[0], labels

    def _gather(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        a = self.g.attrs(node)
        if node.input[0] == self._current:
            return time_gather(self, node, labels)             # the last time step (.onnx_select)
        if self.walk.layers:
            raise self.fail(node, "an embedding (Gather) is only supported as the first layer")
        if len(node.input) < 2 or node.input[1] != self._current or a.get("axis", 0) != 0:
            raise self.fail(node, "only Gather(table, token_ids) on axis 0 of a constant table is supported")
        table = np.asarray(self.weight(node.input[0], node), dtype=np.float64)
        if table.ndim != 2:
            raise self.fail(node, f"embedding table must be 2-D, got shape {table.shape}")
        layer = Embedding(self.layer_name(node, "embedding"), num_embeddings=int(table.shape[0]),
                          embedding_dim=int(table.shape[1]), weight=Tensor(table))
        spec = self.spec_of(node.input[0])
        self.add_layer(node, layer, {"weight": spec} if spec else {})
        self.tokens = True
        return node.output[0], labels and (*labels, FEATURE)

    def _batchnorm(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        a = self.g.attrs(node)
        if a.get("training_mode", 0):
            raise self.fail(node, "training_mode=1 is not supported (export in eval mode)")
        if node.input[0] != self._current:
            raise self.fail(node, "the data must be input X")
        if labels is not None:
            if len(labels) < 2:
                raise self.fail(node, "input must have rank >= 2 (channel axis 1)")
            self.bind(node, labels[1], FEATURE)
        self.other_inputs_const(node, 0)
        gamma, beta, mean, var = (np.asarray(self.weight(n, node), dtype=np.float64) for n in node.input[1:5])
        params = BatchNormParams(gamma, beta, mean, var, eps=float(a.get("epsilon", 1e-5)))
        self.add_layer(node, BatchNorm(self.layer_name(node, "batchnorm"), params=params))
        if len(node.output) > 1 and any(node.output[1:]):
            raise self.fail(node, "running-statistics outputs are not supported (export in eval mode)")
        return node.output[0], labels

    def _activation(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        func = _ACTIVATION_OPS[node.op_type]
        if func == "softmax" and labels is not None:
            rank = len(labels)
            opset = self.g.opset.get("ai.onnx", 13)
            axis = self.g.attrs(node).get("axis", -1 if opset >= 13 else 1)
            if axis % rank != rank - 1:
                raise self.fail(node, f"softmax over axis {axis} of a rank-{rank} tensor; only the last "
                                      f"(feature) axis is supported")
            self.bind(node, labels[-1], FEATURE)
        self.add_layer(node, Activation(self.layer_name(node, func), function=func))
        return node.output[0], labels

    def _quant_activation(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        """A QONNX quantizer on the data: BipolarQuant with scale 1 is the sign activation."""
        self.other_inputs_const(node, 0)
        if node.op_type == "BipolarQuant" and node.input[0] == self._current and len(node.input) > 1:
            scale = np.asarray(self.g.const(node.input[1], node), dtype=np.float64)
            if np.all(scale == 1.0):
                self.add_layer(node, Activation(self.layer_name(node, "sign"), function="sign"))
                return node.output[0], labels
            raise self.fail(node, "BipolarQuant on activations needs scale 1 (the sign function), "
                                  f"got {scale.tolist()}")
        raise self.fail(node, "quantized activations are not supported; only BipolarQuant with scale 1 (the sign "
                              "function) may act on the data")

    # ------------------------------------------------------------------ layout ops
    def _identity(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        return node.output[0], labels

    def _transpose(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        if labels is None:
            raise self.fail(node, "cannot follow a transpose of a tensor of unknown rank")
        perm = self.g.attrs(node).get("perm", list(range(len(labels)))[::-1])
        return node.output[0], tuple(labels[p] for p in perm)

    def _axes(self, node: Any) -> list[int] | None:
        if len(node.input) > 1 and node.input[1]:
            return [int(v) for v in self.g.const(node.input[1], node)]
        return self.g.attrs(node).get("axes")

    def _squeeze(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        axes = self._axes(node)
        if labels is None or axes is None:
            raise self.fail(node, "only squeezing explicit size-1 axes of known rank is supported")
        axes = {ax % len(labels) for ax in axes}
        for ax in axes:
            if labels[ax] not in (DIRECTION, UNIT):
                raise self.fail(node, f"squeezes a {_describe(labels[ax])} axis; only the size-1 direction "
                                      f"axis of LSTM/GRU outputs may be squeezed")
        return node.output[0], tuple(lab for k, lab in enumerate(labels) if k not in axes)

    def _unsqueeze(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        axes = self._axes(node)
        if labels is None or axes is None:
            raise self.fail(node, "unsqueeze of a tensor of unknown rank")
        out = list(labels)
        rank = len(labels) + len(axes)
        for ax in sorted(ax % rank for ax in axes):
            out.insert(ax, UNIT)
        return node.output[0], tuple(out)

    def _reshape(self, node: Any, labels: tuple) -> tuple[str, tuple]:
        g = self.g
        if labels is None:
            raise self.fail(node, "reshape of a tensor of unknown rank")
        squeezed = self._squeeze_reshape(node, labels)
        if squeezed is not None:
            return node.output[0], squeezed
        if any(lab in BIDIRECTIONAL_LABELS for lab in labels):
            raise self.fail(node, "reshape of a bidirectional layer's output that cannot be shown to merge its "
                                  "direction axis into the features exactly: only (..., 2, H) -> (..., 2*H) with the "
                                  "direction axis directly before the feature axis (forward then backward) is "
                                  "supported")
        if g.kind(node.input[1]) == "shape":
            raise self.fail(node, "the target shape is computed from the data's shape in a way that cannot be "
                                  "shown to keep the batch/time/feature axes")
        if g.kind(node.input[1]) != "const":
            raise self.fail(node, "only reshapes to a constant shape are supported")
        shape = [int(v) for v in g.const(node.input[1], node)]
        width = self.feature_width()
        core = [lab for lab in labels if lab not in (DIRECTION, UNIT)]
        # (..., features) -> (-1, features) or (B*T, -1) with the static sizes of an export: merge
        # the leading axes (row-major keeps each vector)
        lead = [self.static_size(lab) for lab in core[:-1]]
        merged = None not in lead and len(shape) == 2 and shape[0] == int(np.prod(lead)) and shape[1] in (-1, width)
        if (len(shape) == 2 and labels[-1] == FEATURE and (shape[0] == -1 and shape[1] == width or merged)
                and len(core) >= 2 and not any(isinstance(lab, tuple) for lab in core)):
            return node.output[0], (tuple(core[:-1]), FEATURE)
        # (merged, features) -> (a, b, ..., features): the exact inverse, checked on static sizes
        if len(labels) == 2 and isinstance(labels[0], tuple) and labels[1] == FEATURE:
            group = labels[0]
            sizes = [self.static_size(lab) for lab in group]
            ok = (len(shape) == len(group) + 1 and shape[-1] in (width, -1) and None not in sizes
                  and all(want == size for want, size in zip(shape[:-1], sizes)))
            if ok:
                return node.output[0], (*group, FEATURE)
            raise self.fail(node, f"reshape to {shape} cannot be shown to restore the axes merged earlier "
                                  f"(their static sizes are {sizes})")
        raise self.fail(node, f"reshape of the data to {shape} changes the meaning of its axes; only "
                              f"(-1, features) flattening before a Gemm and its exact inverse are supported")

    def _squeeze_reshape(self, node: Any, labels: tuple) -> tuple | None:
        """A Reshape that provably only drops size-1 axes (the dynamo exporter's removal of the
        LSTM/GRU direction axis, with a constant or a Shape-computed target): its labels, else None."""
        out, why = squeeze_reshape(self.shapes, node, AxisInfo(labels, self.feature_width()))
        if why:
            what = ("reshape that would drop the size-1 direction axis" if len(out or ()) != len(labels)
                    and any(lab in (DIRECTION, UNIT) for lab in labels) else "reshape")
            raise self.fail(node, f"{what}: {why}")
        return out

    def feature_width(self) -> int | None:
        halve = False
        for layer in reversed(self.walk.layers):
            halve = halve or (isinstance(layer, LastStep) and layer.select in ("forward", "backward"))
            if layer.out_features is not None:
                return layer.out_features // 2 if halve else layer.out_features
        dims = self.g.input_dims(self.main_input)
        return dims[-1] if dims else None

    def static_size(self, label: Any) -> int | None:
        if isinstance(label, str) and label.startswith("x"):
            dims = self.g.input_dims(self.main_input)
            return dims[int(label[1:])]
        return None

    # ------------------------------------------------------------------ driver
    def run(self) -> tuple[list[Layer], dict]:
        g = self.g
        if not g.inputs:
            raise ModelFormatError(f"{g.source}: the graph has no input")
        self.main_input = _pick_main_input(g)
        self.tokens = False
        rank = g.input_rank(self.main_input)
        labels = tuple(f"x{k}" for k in range(rank)) if rank is not None else None
        current = self.main_input
        visited: set[int] = set()
        while True:
            users = g.data_consumers(current)
            if not users:
                break
            if len(users) > 1 and labels is not None and any(lab in (PAIR_LABEL, STACK2) for lab in labels):
                self._current = current
                self.axes[current] = AxisInfo(labels, self.feature_width())
                current, labels = direction_pair(self, [n for n, _ in users], labels)   # cat(h_n[-2], h_n[-1])
                continue
            if len(users) > 1:
                names = ", ".join(f"{n.op_type} {g.name(n)!r}" for n, _ in users)
                raise UnsupportedOpError(users[1][0].op_type, g.name(users[1][0]),
                                         f"tensor {current!r} feeds several nodes ({names}); only a chain of "
                                         f"layers is supported")
            node, _ = users[0]
            if labels is not None and any(lab in BIDIRECTIONAL_LABELS for lab in labels) \
                    and node.op_type not in _PAIR_OPS:
                raise self.fail(node, "the data still has a bidirectional layer's direction axis (2, ..., H); merge it "
                                      "into the features first ((..., 2, H) -> (..., 2*H), forward then backward) or "
                                      "select one direction's final state of h_n")
            if id(node) in visited:  # pragma: no cover - ONNX graphs are acyclic
                raise ModelFormatError(f"{g.source}: cycle at node {g.name(node)!r}")
            visited.add(id(node))
            handler = self.handlers.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if node.op_type in QUANT_OPS:
                handler = self._quant_activation
            if handler is None:
                raise UnsupportedOpError(node.op_type, g.name(node),
                                         f"not supported on the data path (supported: {', '.join(SUPPORTED_DATA_OPS)})")
            if node.op_type in ("Identity", "Transpose", "Squeeze", "Unsqueeze", "Reshape", *_ACTIVATION_OPS):
                self.other_inputs_const(node, 0)
            self._current = current
            if labels is not None:
                self.axes[current] = AxisInfo(labels, self.feature_width())
            current, labels = handler(node, labels)
        if current not in g.outputs:
            raise ModelFormatError(f"{g.source}: the data path ends at {current!r}, which is not a graph output")
        if labels is not None and any(lab in BIDIRECTIONAL_LABELS for lab in labels):
            raise UnsupportedOpError("output", current, "the model's output keeps a bidirectional layer's direction "
                                                        "axis (2, ..., H); merge it into the features ((..., 2*H)) "
                                                        "or select a direction's final state")
        if not self.walk.layers:
            raise ModelFormatError(f"{g.source}: no supported layer found on the data path")
        layout_in = _layout(labels_in=[f"x{k}" for k in range(rank)] if rank is not None else None,
                            binding=self.walk.binding)
        layout_out = _layout(labels_in=list(labels) if labels is not None else None, binding=self.walk.binding)
        info = {
            "input_name": self.main_input,
            "output_name": current,
            "input_layout": layout_in,
            "output_layout": layout_out,
            "ignored_outputs": [o for o in g.outputs if o != current],
            "opset": g.opset.get("ai.onnx"),
        }
        return self.walk.layers, info

    _current: str = ""


_ROLE = {"B": "batch", "T": "time", FEATURE: "feature"}


def _describe(label: Any) -> str:
    if isinstance(label, tuple):
        return "merged (reshaped)"
    names = {FEATURE: "feature", DIRECTION: "direction", UNIT: "size-1", PAIR_LABEL: "direction (size 2)",
             HALF_LABEL: "one direction's feature", STACK2: "layer-and-direction (h_n)"}
    return names.get(label, f"input axis {label}")


def _layout(labels_in: list | None, binding: dict[str, str]) -> str | None:
    """Layout string like 'BTF' ('?' for an axis no layer gave a role), or None if rank unknown."""
    if labels_in is None:
        return None
    out = []
    for lab in labels_in:
        if isinstance(lab, tuple):
            out.append("(" + "".join(binding.get(x, "?") for x in lab) + ")")
        elif lab == FEATURE:
            out.append("F")
        elif lab in (DIRECTION, UNIT):
            out.append("1")
        elif lab in BIDIRECTIONAL_LABELS:
            out.append("?")
        else:
            out.append(binding.get(lab, "?"))
    return "".join(out)


def _pick_main_input(g: OnnxGraph) -> str:
    """The graph input that carries the data (not one that only feeds initial-state slots)."""
    for name in g.inputs:
        uses = g.consumers.get(name, [])
        if any(not (n.op_type in ("LSTM", "GRU") and k >= 4) for n, k in uses):
            return name
    return next(iter(g.inputs))


def _finish_quant(layers: list[Layer], quant: dict[int, dict[str, QuantSpec]]) -> list[Layer]:
    """Attach the Quant-node specs, and detect the quantization of every other tensor."""
    out = []
    for k, layer in enumerate(layers):
        given = quant.get(k, {})
        changes = {}
        for fname, t in layer.tensors():
            spec = given.get(fname) or detect_quant(t.data)
            changes[fname] = Tensor(t.data, spec)
        out.append(layer.replace(**changes) if changes else layer)
    return out


#: the largest ONNX model file (protobuf's 2 GiB limit); weights beyond it live in external data
MAX_ONNX_BYTES = 2 << 30
#: the oldest ai.onnx opset the importer reads (LSTM/GRU semantics as in opset 7+)
MIN_OPSET = 7


def load_onnx(source: str | os.PathLike | Any, *, name: str | None = None,
              input_kind: str | None = None, input_size: int | None = None) -> Model:
    """Import an ONNX model (a path or an ``onnx.ModelProto``) into the IR.

    Raises :class:`~sccompiler.errors.ModelFormatError` for an unreadable/invalid file and
    :class:`~sccompiler.errors.UnsupportedOpError` (naming op and node) for anything outside the
    supported subset described in this module's docstring.
    """
    onnx, _ = import_onnx()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise ModelFormatError(f"{path}: file not found")
        regular_file(path, "ONNX model", ModelFormatError, MAX_ONNX_BYTES)
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - protobuf/onnx raise many types for corrupt files
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFormatError(f"{path}: not a readable ONNX model ({msg})") from None
        if isinstance(proto, onnx.ModelProto) and proto.HasField("graph"):
            load_external_data(proto, path, onnx)
        default_name = path.stem
    else:
        proto, label, default_name = source, "<onnx model>", None
    if not isinstance(proto, onnx.ModelProto) or not proto.HasField("graph"):
        raise ModelFormatError(f"{label}: not an ONNX model (no graph)")
    if has_external_data(proto, onnx):
        raise ModelFormatError(f"{label}: the model's weights are in external data files that were not loaded; "
                               f"pass the model's file path so they are read (checked) from its directory")
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # noqa: BLE001 - ValidationError, and UnicodeDecodeError etc. for damaged strings
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{label}: invalid ONNX model ({first})") from None
    opsets = {imp.domain or "ai.onnx": imp.version for imp in proto.opset_import}
    supported = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opsets.get("ai.onnx", supported) <= supported:
        raise ModelFormatError(f"{label}: ONNX opset {opsets['ai.onnx']} is not supported "
                               f"(this installation reads opsets {MIN_OPSET}..{supported})")
    g = OnnxGraph(proto, label)
    importer = _Importer(g)
    layers, info = importer.run()
    declared = g.input_dims(importer.main_input) if not importer.tokens else []
    width = next((lay.in_features for lay in layers if lay.in_features is not None), None)
    if declared and isinstance(declared[-1], int) and declared[-1] > 0 and width is not None \
            and declared[-1] != width:
        raise ModelFormatError(f"{label}: input {importer.main_input!r} declares {declared[-1]} features but the "
                               f"first layer's weights expect {width}")
    layers = _finish_quant(layers, importer.walk.quant)
    first = layers[0]
    if importer.tokens:
        spec = InputSpec("tokens", int(first.num_embeddings))
    else:
        width = next((lay.in_features for lay in layers if lay.in_features is not None), None)
        spec = InputSpec("features", int(width or 0))
    if input_kind is not None or input_size is not None:
        spec = InputSpec(input_kind or spec.kind, int(input_size) if input_size is not None else spec.size)
    info |= {"producer": f"{proto.producer_name} {proto.producer_version}".strip()}
    model = Model(tuple(layers), spec, name=name or default_name or proto.graph.name or "model",
                  metadata={"source": "onnx", "onnx": info})
    return model.validate()
