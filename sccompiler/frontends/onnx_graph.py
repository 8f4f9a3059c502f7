"""Index of an ONNX graph for the importer: initializers, producers and consumers of every tensor,
the kind of each tensor (constant, shape-only, or data: derived from the model input), constant
evaluation (constant folding and QONNX quantizers on weights) and the all-zero initial-state test.

:mod:`.onnx_frontend` walks the data path over this index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ModelFormatError, UnsupportedOpError
from ..ir.model import QuantSpec
from .onnx_constants import evaluate_exporter_op, evaluate_split
from .onnx_quant import QUANT_OPS, qonnx_quant

#: ops whose output equals (a re-arrangement of) their first input's values
VALUE_PRESERVING_OPS = ("Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Cast", "Flatten")
#: ops through which an all-zero tensor stays all zero (initial-state plumbing)
ZERO_PRESERVING_OPS = ("Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Cast", "CastLike", "Slice",
                       "Expand", "Tile", "Flatten")
#: ops whose output depends only on their input's shape
SHAPE_OPS = ("Shape", "Size")


def import_onnx():
    """The ``onnx`` package and its ``numpy_helper`` (an optional dependency: imported on use)."""
    try:
        import onnx  # noqa: PLC0415
        from onnx import numpy_helper  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError("onnx", None, "reading ONNX models") from None
    return onnx, numpy_helper


class OnnxGraph:
    """Index of an ONNX graph: initializers, producers, consumers, constant evaluation."""

    def __init__(self, model: Any, source: str) -> None:
        onnx, numpy_helper = import_onnx()
        self.onnx, self.numpy_helper = onnx, numpy_helper
        self.source = source
        graph = model.graph
        self.graph = graph
        self.opset = {imp.domain or "ai.onnx": imp.version for imp in model.opset_import}
        self.init: dict[str, np.ndarray] = {}
        for t in graph.initializer:
            try:
                self.init[t.name] = numpy_helper.to_array(t)
            except Exception as exc:  # noqa: BLE001 - onnx raises assorted errors for bad tensors
                raise ModelFormatError(f"{source}: initializer {t.name!r} is unreadable: {exc}") from None
        self.nodes = list(graph.node)
        self.producer: dict[str, tuple[Any, int]] = {}
        self.consumers: dict[str, list[tuple[Any, int]]] = {}
        for node in self.nodes:
            for k, out in enumerate(node.output):
                if out:
                    self.producer[out] = (node, k)
            for k, inp in enumerate(node.input):
                if inp:
                    self.consumers.setdefault(inp, []).append((node, k))
        self.inputs = {i.name: i for i in graph.input if i.name not in self.init}
        self.outputs = [o.name for o in graph.output]
        self._kind: dict[str, str] = {}
        for node in self.nodes:  # ONNX requires topological order: fill the cache without deep recursion
            for out in node.output:
                if out:
                    self.kind(out)
        self._const: dict[str, np.ndarray] = {}
        #: the proven integer values of a 'shape'-kind tensor, or None (set by the importer: onnx_shapes)
        self.shape_hook: Any = None
        self.quant_of: dict[str, QuantSpec] = {}
        self._names: dict[int, str] = {}
        for k, node in enumerate(self.nodes):
            self._names[id(node)] = node.name or f"{node.op_type}_{k}"

    # ------------------------------------------------------------------ helpers
    def name(self, node: Any) -> str:
        return self._names[id(node)]

    def attrs(self, node: Any) -> dict[str, Any]:
        out = {}
        for a in node.attribute:
            v = self.onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            elif isinstance(v, list) and v and isinstance(v[0], bytes):
                v = [s.decode("utf-8", "replace") for s in v]
            out[a.name] = v
        return out

    def input_rank(self, name: str) -> int | None:
        vi = self.inputs[name]
        tt = vi.type.tensor_type
        return len(tt.shape.dim) if tt.HasField("shape") else None

    def input_dims(self, name: str) -> list[int | None]:
        tt = self.inputs[name].type.tensor_type
        return [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]

    def kind(self, name: str) -> str:
        """'const' (computable from initializers), 'shape' (from tensor shapes only) or 'data'."""
        if name in self._kind:
            return self._kind[name]
        if name == "" or name in self.init:
            k = "const"
        elif name in self.inputs:
            k = "data"
        elif name in self.producer:
            node, _ = self.producer[name]
            if node.op_type in SHAPE_OPS:  # the shape of a constant is a constant
                k = "const" if node.input and self.kind(node.input[0]) == "const" else "shape"
            else:
                kinds = {self.kind(i) for i in node.input if i}
                k = "data" if "data" in kinds else "shape" if "shape" in kinds else "const"
        else:
            raise ModelFormatError(f"{self.source}: tensor {name!r} is used but never produced")
        self._kind[name] = k
        return k

    def const(self, name: str, user: Any) -> np.ndarray:
        """Value of a constant tensor (evaluating constant-folding and QONNX quant nodes)."""
        if name in self._const:
            return self._const[name]
        if name in self.init:
            return self.init[name]
        kind = self.kind(name)
        if kind == "shape":
            shaped = self._shape_constant(name)
            if shaped is not None:
                return shaped
        elif kind != "const":
            raise UnsupportedOpError(
                user.op_type, self.name(user),
                f"input {name!r} must be a constant (weights/initializer) but depends on the model input")
        node, index = self.producer[name]
        if node.op_type == "Split" and node.domain in ("", "ai.onnx"):
            for out, part in zip(node.output, evaluate_split(self, node)):
                self._const[out] = part
            return self._const[name]
        value = self._evaluate(node)
        self._const[name] = value
        return value

    def _shape_constant(self, name: str) -> np.ndarray | None:
        """A 'shape'-kind tensor that is nevertheless a constant: the output of a ``Shape`` whose
        values :attr:`shape_hook` proves (e.g. the hidden size of a zero state
        whose batch size is dynamic, or a static input size) -- its value; refused when it depends on
        a dynamic size.
        For other 'shape'-kind tensors None: the producer is evaluated on its (so proven) inputs."""
        node, _ = self.producer[name]
        if node.op_type not in SHAPE_OPS:
            return None
        values = self.shape_hook(name, node) if self.shape_hook is not None else None
        if values is None or node.op_type != "Shape":
            raise UnsupportedOpError(node.op_type, self.name(node),
                                     f"{name!r} is used as a constant (weights) but depends on the shape of "
                                     f"the model input")
        value = np.asarray(values, dtype=np.int64)
        self._const[name] = value
        return value

    def _evaluate(self, node: Any) -> np.ndarray:
        op, a = node.op_type, self.attrs(node)
        nh = self.numpy_helper
        if op == "Constant":
            if "value" in a:
                return nh.to_array(a["value"])
            for key in ("value_float", "value_floats", "value_int", "value_ints"):
                if key in a:
                    return np.asarray(a[key], dtype=np.float32 if "float" in key else np.int64)
            raise UnsupportedOpError(op, self.name(node), f"attribute(s) {sorted(a)} not supported")
        ins = [self.const(i, node) if i else None for i in node.input]
        x = ins[0]
        if op in QUANT_OPS:
            out, spec = qonnx_quant(op, ins, a, self.name(node))
            self.quant_of[node.output[0]] = spec
            return out
        if op in VALUE_PRESERVING_OPS and node.input[0] in self.quant_of:
            self.quant_of[node.output[0]] = self.quant_of[node.input[0]]
        if op == "Identity":
            return x
        if op == "Cast":
            return x.astype(self.onnx.helper.tensor_dtype_to_np_dtype(a["to"]))
        if op == "Transpose":
            return np.transpose(x, a.get("perm"))
        if op == "Reshape":
            shape = [int(s) for s in ins[1]]
            shape = [x.shape[k] if s == 0 and not a.get("allowzero") else s for k, s in enumerate(shape)]
            return x.reshape(shape)
        if op in ("Squeeze", "Unsqueeze"):
            axes = a.get("axes") if len(ins) < 2 or ins[1] is None else [int(v) for v in ins[1]]
            if op == "Squeeze":
                return np.squeeze(x, axis=tuple(axes) if axes is not None else None)
            return np.expand_dims(x, tuple(axes))
        if op == "Concat":
            return np.concatenate([v for v in ins if v is not None], axis=a["axis"])
        value = evaluate_exporter_op(self, node, ins, a)
        if value is not None:
            return value
        raise UnsupportedOpError(op, self.name(node), "cannot be evaluated on constant weights")

    def is_zero_state(self, name: str, user: Any, slot: str) -> bool:
        """True if ``name`` is provably all zeros (absent, a zero constant or zero plumbing)."""
        if name == "":
            return True
        k = self.kind(name)
        if k == "const":
            return not np.any(self.const(name, user))
        if k == "data":
            sources = self.input_sources(name)
            src = sources[0] if len(sources) == 1 else "the model input"
            raise UnsupportedOpError(
                user.op_type, self.name(user),
                f"{slot} comes from {src!r}; initial states given as inputs are not supported: a runtime "
                f"value cannot be shown to be zero (create the zero state inside forward, e.g. torch.zeros, "
                f"or omit it)")
        node, _ = self.producer[name]
        if node.op_type == "ConstantOfShape":
            value = self.attrs(node).get("value")
            return value is None or not np.any(self.numpy_helper.to_array(value))
        if node.op_type in ZERO_PRESERVING_OPS:
            return self.is_zero_state(node.input[0], user, slot)
        if node.op_type == "Concat":
            return all(self.is_zero_state(i, user, slot) for i in node.input if i)
        return False

    def input_sources(self, name: str) -> list[str]:
        """The graph inputs that the data-kind tensor ``name`` is computed from (sorted)."""
        seen, stack, found = set(), [name], set()
        while stack:
            t = stack.pop()
            if t in seen or not t:
                continue
            seen.add(t)
            if t in self.inputs:
                found.add(t)
            elif t in self.producer and self.kind(t) == "data":
                stack.extend(self.producer[t][0].input)
        return sorted(found)

    def data_consumers(self, name: str) -> list[tuple[Any, int]]:
        return [(n, k) for n, k in self.consumers.get(name, []) if n.op_type not in SHAPE_OPS]
