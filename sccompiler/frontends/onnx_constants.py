"""Constant folding of the ops exporters use to assemble weights and constant initial states
(the dynamo exporter with ``optimize=False`` slices, scales and concatenates the torch parameters
into ONNX's gate order; static zero states are ``Expand`` of a scalar).

Each op is evaluated with its exact ONNX semantics in numpy, in the tensors' own dtypes (float32
stays float32, as in onnxruntime); anything outside what is implemented here returns None and the
caller refuses the node.  Called by :meth:`.onnx_graph.OnnxGraph.const`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnsupportedOpError

_ELEMENTWISE = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract}


def _ints(value: Any) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


def evaluate_exporter_op(g: Any, node: Any, ins: list, a: dict) -> np.ndarray | None:
    """``node`` evaluated on constant inputs ``ins`` (None for an absent optional input), or None."""
    op = node.op_type
    if node.domain not in ("", "ai.onnx"):
        return None
    x = ins[0] if ins else None
    if op in _ELEMENTWISE and len(ins) == 2:
        lhs, rhs = np.asarray(ins[0]), np.asarray(ins[1])
        if lhs.dtype != rhs.dtype:
            raise UnsupportedOpError(op, g.name(node), f"operands of dtypes {lhs.dtype} and {rhs.dtype}")
        return _ELEMENTWISE[op](lhs, rhs)
    if op == "Div" and len(ins) == 2 and np.asarray(x).dtype.kind == "f":
        return np.divide(np.asarray(ins[0]), np.asarray(ins[1]))
    if op == "CastLike":
        return np.asarray(x).astype(np.asarray(ins[1]).dtype)
    if op == "Neg":
        return np.negative(x)
    if op == "Expand":
        shape = _ints(ins[1])
        return np.broadcast_to(x, np.broadcast_shapes(np.shape(x), tuple(shape))).copy()
    if op == "ConstantOfShape":
        value = a.get("value")
        fill = g.numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
        return np.full(tuple(_ints(x)), fill[0], dtype=fill.dtype)
    if op == "Gather":
        return np.take(x, np.asarray(ins[1]), axis=int(a.get("axis", 0)))
    if op == "Flatten":
        axis = int(a.get("axis", 1)) % max(np.ndim(x), 1) if np.ndim(x) else 0
        return np.reshape(x, (int(np.prod(np.shape(x)[:axis], dtype=np.int64)), -1))
    if op == "Tile":
        return np.tile(x, tuple(_ints(ins[1])))
    if op == "Slice":
        return _slice(g, node, ins, a)
    if op == "Shape":
        dims = list(np.shape(x))
        return np.asarray(dims[_onnx_slice(int(a.get("start", 0)), int(a.get("end", len(dims))), 1, len(dims))],
                          dtype=np.int64)
    if op == "Size":
        return np.asarray(np.size(x), dtype=np.int64)
    return None


def _slice(g: Any, node: Any, ins: list, a: dict) -> np.ndarray:
    x = np.asarray(ins[0])
    if g.opset.get("ai.onnx", 13) < 10:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        padded = ins + [None] * (5 - len(ins))
        starts, ends = _ints(padded[1]), _ints(padded[2])
        axes = _ints(padded[3]) if padded[3] is not None else None
        steps = _ints(padded[4]) if padded[4] is not None else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0 or not -x.ndim <= axis < x.ndim:
            raise UnsupportedOpError("Slice", g.name(node), f"invalid axis {axis} or step {step}")
        index[axis] = _onnx_slice(start, end, step, x.shape[axis])
    return x[tuple(index)]


def _onnx_slice(start: int, end: int, step: int, n: int) -> slice:
    """ONNX Slice clamping (negative from the end; start to [0, n] or [0, n-1] for negative steps,
    end to [0, n] or [-1, n-1]), as a Python slice."""
    start = start + n if start < 0 else start
    end = end + n if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), n), min(max(end, 0), n)
        return slice(start, end, step)
    start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
    return slice(start, end if end >= 0 else None, step)


def evaluate_split(g: Any, node: Any) -> list[np.ndarray]:
    """All outputs of a constant ``Split`` (sizes from the ``split`` input/attribute, or equal parts)."""
    a = g.attrs(node)
    x = np.asarray(g.const(node.input[0], node))
    axis = int(a.get("axis", 0))
    if len(node.input) > 1 and node.input[1]:
        sizes = _ints(g.const(node.input[1], node))
    elif "split" in a:
        sizes = [int(v) for v in a["split"]]
    else:
        parts = len(node.output)
        n = x.shape[axis]
        size = -(-n // parts)  # opset 18 num_outputs: ceil, the last part smaller
        sizes = [min(size, n - k * size) for k in range(parts)]
    if sum(sizes) != x.shape[axis] or len(sizes) != len(node.output) or min(sizes) < 0:
        raise UnsupportedOpError("Split", g.name(node), f"split sizes {sizes} do not fit axis {axis} of "
                                                        f"shape {x.shape} into {len(node.output)} outputs")
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)
