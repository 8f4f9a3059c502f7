"""Exact symbolic evaluation of the shape plumbing exporters build around the data path.

PyTorch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``) removes the size-1
``num_directions`` axis of an LSTM/GRU output with ``Transpose(perm=[0, 2, 1, 3])`` followed by a
``Reshape`` whose target shape is either a constant (``[T, B, H]``, ``[T, -1, H]``) or, with
dynamic axes, computed from the data's own shape::

    s = Shape(y);  Concat(Slice(s, 0, 1), Slice(s, 1, 2), Reshape(Slice(s, 2, 3) * Slice(s, 3, 4), [-1]))

This module evaluates such shape tensors *symbolically*: every entry of a 1-D shape tensor is a
product ``coefficient * axis * axis ...`` over the axis labels of the data-path tensors (the labels
of :mod:`.onnx_frontend`), so ``Shape(y)[2] * Shape(y)[3]`` is ``1 * F`` when axis 2 is the
direction axis and axis 3 the feature axis.  A reshape is accepted by :func:`squeeze_reshape` only
when its target provably equals the input's sizes with the size-1 axes removed, which makes the
row-major reshape exactly a squeeze; any op or value the evaluator cannot follow yields ``None``,
and the caller refuses the reshape.  Nothing is guessed.

A bidirectional LSTM/GRU writes ``Y`` as ``(T, 2, B, H)`` (labels ``D2`` for the size-2 direction
axis, ``FH`` for one direction's H features); both exporters turn it into ``(T, B, 2H)`` with
``Transpose(perm=[0, 2, 1, 3])`` and a ``Reshape`` (``[0, 0, -1]``, ``[T, B, 2H]`` or computed from
``Shape``: ``s[2] * s[3]`` is ``2 * H``).  :func:`direction_merge` accepts the merge only when the
direction axis lies directly before the feature axis, which makes the row-major result exactly
``concat(forward, backward)``; every other reshape of a ``D2`` axis is refused.

:func:`sequence_lens_full` decides, by the same evaluation, whether an LSTM/GRU ``sequence_lens``
input provably equals the full sequence length for every batch entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: the labels of size-1 axes (the LSTM/GRU direction axis, Unsqueeze-created axes)
UNIT_LABELS = ("D", "U")
FEATURE_LABEL = "F"
#: a bidirectional LSTM/GRU output's size-2 direction axis (index 0 forward, 1 backward) and its
#: per-direction feature axis (H features: half the layer's width ``AxisInfo.width`` = 2H)
PAIR_LABEL, HALF_LABEL = "D2", "FH"
#: a shape-tensor entry: (integer coefficient, sorted tuple of symbolic axis labels)
Entry = tuple[int, tuple]


@dataclass(frozen=True)
class AxisInfo:
    """What the walk knows about one data-path tensor: its axis labels and feature width."""

    labels: tuple
    width: int | None


def label_entry(label: Any, width: int | None) -> Entry | None:
    """The size of an axis with ``label`` as an entry (None if the size cannot be expressed)."""
    if label in UNIT_LABELS:
        return (1, ())
    if label == PAIR_LABEL:
        return (2, ())
    if label == FEATURE_LABEL:
        return (int(width), ()) if width is not None else None
    if label == HALF_LABEL:
        return (int(width) // 2, ()) if width is not None and width % 2 == 0 else None
    if isinstance(label, tuple):
        return (1, tuple(sorted(label)))
    return (1, (label,))


class ShapeEvaluator:
    """Symbolic values of the 'shape'/'const' tensors of an :class:`~.onnx_graph.OnnxGraph`.

    ``axes`` maps a data-path tensor the walk has visited to its :class:`AxisInfo`;
    ``static_size`` gives the static size of an input-axis label (or None).
    """

    def __init__(self, g: Any, axes: dict[str, AxisInfo], static_size: Callable[[Any], int | None]) -> None:
        self.g = g
        self.axes = axes
        self.static_size = static_size

    # ------------------------------------------------------------------ evaluation
    def value(self, name: str, user: Any, depth: int = 0) -> list[Entry] | None:
        """The entries of a rank-0/1 integer tensor ``name``, or None when not provably known."""
        g = self.g
        if depth > 64 or not name:
            return None
        kind = g.kind(name)
        if kind == "const":
            arr = np.asarray(g.const(name, user))
            if arr.dtype.kind not in "iu" or arr.ndim > 1:
                return None
            return [(int(v), ()) for v in arr.reshape(-1)]
        if kind != "shape" or name not in g.producer:
            return None
        node, _ = g.producer[name]
        if node.domain not in ("", "ai.onnx"):
            return None
        op, a = node.op_type, g.attrs(node)
        ins = list(node.input)
        if op == "Shape":
            info = self.axes.get(ins[0])
            if info is not None:
                full = [label_entry(lab, info.width) for lab in info.labels]
            elif g.kind(ins[0]) != "data":  # the shape of a constant or of shape plumbing (zeros_like)
                full = self.tensor_shape(ins[0], node, depth + 1)
            else:
                return None
            if full is None:
                return None
            rank = len(full)
            entries = full[_clamp(a.get("start", 0), rank):_clamp(a.get("end", rank), rank)]
            return None if any(e is None for e in entries) else entries
        if op in ("Identity", "Cast", "CastLike", "Squeeze", "Unsqueeze", "Flatten"):
            return self.value(ins[0], node, depth + 1)
        if op == "Reshape":  # only to a rank-1 shape or a scalar: the entries are unchanged
            target = self.value(ins[1], node, depth + 1) if len(ins) > 1 else None
            if target is None or len(target) > 1 or (target and target[0][1]):
                return None
            return self.value(ins[0], node, depth + 1)
        if op == "Concat":
            if a.get("axis", 0) not in (0, -1):
                return None
            parts = [self.value(i, node, depth + 1) for i in ins if i]
            return None if any(p is None for p in parts) else [e for p in parts for e in p]
        if op == "Slice":
            return self._slice(node, ins, depth)
        if op == "Gather":
            data = self.value(ins[0], node, depth + 1)
            index = self._ints(ins[1], node) if len(ins) > 1 else None
            if data is None or index is None or a.get("axis", 0) != 0:
                return None
            n = len(data)
            if any(not -n <= k < n for k in index):
                return None
            return [data[k] for k in index]
        if op in ("Mul", "Add"):
            lhs, rhs = (self.value(i, node, depth + 1) for i in ins[:2])
            if lhs is None or rhs is None or len(ins) != 2:
                return None
            if len(lhs) != len(rhs):
                if 1 not in (len(lhs), len(rhs)):
                    return None
                lhs, rhs = (lhs * len(rhs), rhs) if len(lhs) == 1 else (lhs, rhs * len(lhs))
            if op == "Mul":
                return [(c1 * c2, tuple(sorted(l1 + l2))) for (c1, l1), (c2, l2) in zip(lhs, rhs)]
            if any(l1 or l2 for (_, l1), (_, l2) in zip(lhs, rhs)):
                return None  # a symbolic sum is not followed
            return [(c1 + c2, ()) for (c1, _), (c2, _) in zip(lhs, rhs)]
        return None

    def concrete(self, name: str, user: Any) -> list[int] | None:
        """The integer values of ``name`` when every entry is a constant or a product of axes of
        static size, else None."""
        entries = self.value(name, user)
        if entries is None:
            return None
        out = []
        for coef, labels in entries:
            sizes = [self.static_size(lab) for lab in labels]
            if None in sizes:
                return None
            out.append(int(coef * np.prod(sizes, dtype=np.int64)))
        return out

    def _ints(self, name: str, user: Any) -> list[int] | None:
        if not name or self.g.kind(name) != "const":
            return None
        arr = np.asarray(self.g.const(name, user))
        if arr.dtype.kind not in "iu" or arr.ndim > 1:
            return None
        return [int(v) for v in arr.reshape(-1)]

    def _slice(self, node: Any, ins: list[str], depth: int) -> list[Entry] | None:
        data = self.value(ins[0], node, depth + 1)
        if data is None:
            return None
        opset = self.g.opset.get("ai.onnx", 13)
        if opset < 10:
            a = self.g.attrs(node)
            starts, ends, axes, steps = a.get("starts"), a.get("ends"), a.get("axes"), None
        else:
            padded = ins + [""] * (5 - len(ins))
            starts, ends = self._ints(padded[1], node), self._ints(padded[2], node)
            axes = self._ints(padded[3], node) if padded[3] else None
            steps = self._ints(padded[4], node) if padded[4] else None
        if starts is None or ends is None or len(starts) != 1 or len(ends) != 1:
            return None
        if axes not in (None, [0], [-1]) or steps not in (None, [1]):
            return None
        n = len(data)
        return data[_clamp(starts[0], n):_clamp(ends[0], n)]

    def tensor_shape(self, name: str, user: Any, depth: int = 0) -> list[Entry | None] | None:
        """The shape of a constant or shape-derived tensor (the zero initial-state plumbing:
        ``ConstantOfShape``, ``Expand``, ``Slice``, ``Transpose``, ``Identity``, ``Cast``) as entries,
        an entry None where unknown; None when even the rank is unknown."""
        g = self.g
        if depth > 64 or not name:
            return None
        kind = g.kind(name)
        if kind == "const":
            return [(int(d), ()) for d in np.shape(g.const(name, user))]
        if kind != "shape" or name not in g.producer:
            return None
        node, _ = g.producer[name]
        op, ins = node.op_type, list(node.input)
        if op == "ConstantOfShape":
            return self.value(ins[0], node, depth + 1)
        if op in ("Identity", "Cast", "CastLike"):
            return self.tensor_shape(ins[0], node, depth + 1)
        if op == "Transpose":
            shape = self.tensor_shape(ins[0], node, depth + 1)
            perm = g.attrs(node).get("perm", list(range(len(shape or ())))[::-1])
            return None if shape is None or sorted(perm) != list(range(len(shape))) else [shape[p] for p in perm]
        if op == "Expand":
            src, target = self.tensor_shape(ins[0], node, depth + 1), self.value(ins[1], node, depth + 1)
            if src is None or target is None:
                return None
            rank = max(len(src), len(target))
            src, target = [(1, ())] * (rank - len(src)) + src, [(1, ())] * (rank - len(target)) + target
            return [b if a == (1, ()) else a if b == (1, ()) or a == b else None for a, b in zip(src, target)]
        if op in ("Squeeze", "Unsqueeze"):
            shape = self.tensor_shape(ins[0], node, depth + 1)
            axes = self._ints(ins[1], node) if len(ins) > 1 and ins[1] else g.attrs(node).get("axes")
            if shape is None or axes is None:
                return None
            if op == "Squeeze":
                drop = {ax % len(shape) for ax in axes} if shape else set()
                if any(shape[ax] != (1, ()) for ax in drop):
                    return None
                return [e for k, e in enumerate(shape) if k not in drop]
            out = list(shape)
            for ax in sorted(ax % (len(shape) + len(axes)) for ax in axes):
                out.insert(ax, (1, ()))
            return out
        if op == "Reshape":
            shape, target = self.tensor_shape(ins[0], node, depth + 1), self.value(ins[1], node, depth + 1)
            if shape is None or target is None:
                return None
            zero_copies = not g.attrs(node).get("allowzero", 0)
            return [None if e == (-1, ()) else (shape[k] if k < len(shape) else None)
                    if e == (0, ()) and zero_copies else e for k, e in enumerate(target)]
        if op == "Slice" and g.opset.get("ai.onnx", 13) >= 10:
            shape = self.tensor_shape(ins[0], node, depth + 1)
            padded = ins + [""] * (5 - len(ins))
            starts, ends = self._ints(padded[1], node), self._ints(padded[2], node)
            axes = self._ints(padded[3], node) if padded[3] else list(range(len(starts or ())))
            steps = self._ints(padded[4], node) if padded[4] else [1] * len(starts or ())
            if shape is None or None in (starts, ends, axes, steps) or not len(starts) == len(ends) == len(axes):
                return None
            out = list(shape)
            for start, end, ax, step in zip(starts, ends, axes, steps):
                if not -len(shape) <= ax < len(shape):
                    return None
                entry = out[ax]
                out[ax] = (len(range(entry[0])[slice(start, end, step)]), ()) \
                    if entry is not None and not entry[1] and step != 0 else None
            return out
        return None

    # ------------------------------------------------------------------ decisions
    def matches(self, entry: Entry, label: Any, width: int | None) -> bool:
        """True if ``entry`` provably equals the size of the axis labelled ``label``."""
        want = label_entry(label, width)
        if want is not None and entry == want:
            return True
        if entry[1]:
            return False
        if label in (FEATURE_LABEL, HALF_LABEL, PAIR_LABEL) or label in UNIT_LABELS:
            return False  # their sizes are constants: the equality above was the test
        members = label if isinstance(label, tuple) else (label,)
        sizes = [self.static_size(m) for m in members]
        return None not in sizes and int(np.prod(sizes)) == entry[0]


def _clamp(index: int, n: int) -> int:
    """An ONNX start/end index (negative from the end, out of range clamped) on a length-n axis."""
    index = int(index)
    if index < 0:
        index += n
    return min(max(index, 0), n)


def squeeze_reshape(ev: ShapeEvaluator, node: Any, info: AxisInfo) -> tuple[tuple | None, str]:
    """``(labels, "")`` if this ``Reshape`` of a tensor with ``info`` provably only removes its
    size-1 axes (direction/unsqueezed) or changes nothing -- or, for a bidirectional layer's output,
    merges its size-2 direction axis with the per-direction feature axis right after it (see
    :func:`direction_merge`) -- else ``(None, why)`` (``why`` is "" when the reshape is not of that
    kind at all: a different rank or an unknown target).

    Every entry of the target must be shown equal to the size of the corresponding remaining axis:
    a symbolic ``Shape`` entry of that very axis, a constant equal to its static size, ``0``
    (``allowzero=0``) copying the same axis, or at most one ``-1`` (then equal to the one axis left,
    since a reshape keeps the element count)."""
    labels = info.labels
    if len(node.input) < 2:
        return None, ""
    target = ev.value(node.input[1], node)
    if target is None:
        return None, ""
    core = tuple(lab for lab in labels if lab not in UNIT_LABELS)
    merged, why = direction_merge(labels)
    if merged is not None and len(target) == len(merged):
        return _prove(ev, node, info, target, merged)
    if len(target) != len(core):
        return None, why if merged is None and PAIR_LABEL in labels and len(target) == len(core) - 1 else ""
    return _prove(ev, node, info, target, core)


def direction_merge(labels: tuple) -> tuple[tuple | None, str]:
    """The labels after merging a bidirectional output's direction axis with its feature axis:
    ``(..., D2, FH, ...) -> (..., F, ...)`` (size-1 axes dropped), else ``(None, why)``.

    Row-major, element ``(d, j)`` of the pair goes to ``d * H + j``: the merged axis is exactly
    ``concat(forward, backward)`` -- the IR's bidirectional output -- and only when the direction
    axis comes *directly before* the feature axis; any other order interleaves or mixes them."""
    if PAIR_LABEL not in labels:
        return None, ""
    k = labels.index(PAIR_LABEL)
    if k + 1 >= len(labels) or labels[k + 1] != HALF_LABEL:
        return None, ("it would mix the two directions of a bidirectional layer: only merging the direction axis "
                      "with the feature axis right after it, (..., 2, H) -> (..., 2*H) (forward then backward), is "
                      "supported (Transpose the direction axis next to the features first)")
    out = labels[:k] + (FEATURE_LABEL,) + labels[k + 2:]
    return tuple(lab for lab in out if lab not in UNIT_LABELS), ""


def _prove(ev: ShapeEvaluator, node: Any, info: AxisInfo, target: list[Entry], core: tuple) -> tuple[tuple | None, str]:
    labels = info.labels
    allowzero = ev.g.attrs(node).get("allowzero", 0)
    wildcards = 0
    for k, (entry, lab) in enumerate(zip(target, core)):
        if entry == (-1, ()):
            wildcards += 1
            continue
        if entry == (0, ()) and not allowzero and labels[k] == lab:
            continue  # 0 copies the input's axis k, which is this same axis
        if not ev.matches(entry, lab, info.width):
            shown = entry[0] if not entry[1] else "*".join([str(entry[0])] + [str(x) for x in entry[1]])
            size = ev.static_size(lab) if isinstance(lab, str) and lab.startswith("x") else None
            dynamic = (f"; input axis {lab[1:]} is dynamic in the graph, so the exported reshape only fits one "
                       f"length (re-export with static shapes or fix the exporter's output)"
                       if isinstance(lab, str) and lab.startswith("x") and size is None and not entry[1] else "")
            return None, f"target entry {k} ({shown}) cannot be shown equal to the size of that axis{dynamic}"
    if wildcards > 1:
        return None, "more than one -1 in the target shape"
    return core, ""


def sequence_lens_full(ev: ShapeEvaluator, name: str, user: Any, time_label: Any) -> bool | None:
    """True if ``sequence_lens`` provably equals the full length (every entry the time axis's
    size), False if provably not, None if it cannot be decided (a runtime value)."""
    entries = ev.value(name, user)
    if entries is None:
        return None
    if not entries:
        return False
    if all(ev.matches(e, time_label, None) for e in entries):
        return True
    size = ev.static_size(time_label) if not isinstance(time_label, tuple) else None
    if size is not None and all(not e[1] for e in entries):
        return False
    return None
