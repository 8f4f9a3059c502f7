"""ONNX data-path handlers that select the last time step: the sequence-level heads
``fc(y[:, -1])`` and ``fc(h_n[-1])`` become a :class:`~sccompiler.ir.model.LastStep` layer.

Accepted (anything else raises :class:`~sccompiler.errors.UnsupportedOpError` naming what is not
supported):

* ``Gather`` on the time axis with the constant index ``-1`` or ``T-1`` (a scalar index drops the
  axis, a one-element index keeps it with size 1);
* ``Slice`` of the time axis from ``-1`` (or ``T-1``) to its end (``INT_MAX``, or ``>= T``), step 1;
  other sliced axes must be kept whole;
* the ``Y_h`` output of an LSTM/GRU (h_n; the last step of ``Y``) when ``Y`` itself is unused, then
  ``Gather`` / ``Squeeze`` of its size-1 direction axis;  for a stack exported as one node per layer,
  the ``Concat`` of every layer's ``Y_h`` (PyTorch's ``h_n``) followed by ``Gather`` of the last
  layer (index ``-1`` or ``layers-1``).

``T`` is the input's static length where an index is given as ``T-1``.  The importer (``imp``) is
:mod:`.onnx_frontend`'s walk; these functions only add layers through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.model import LastStep
from .onnx_shapes import FEATURE_LABEL, HALF_LABEL, PAIR_LABEL

#: axis label of PyTorch's stacked ``h_n`` (one row per recurrent layer; the last is the current one)
STACK = "S"
#: the same when the last layer is bidirectional: its rows end with that layer's (forward, backward)
STACK2 = "S2"
#: an ``ends`` value that means "to the end of the axis" (what exporters write for ``x[..., -1:]``)
_TO_END = np.iinfo(np.int64).max // 2


def _labels():
    from .onnx_frontend import DIRECTION, FEATURE, UNIT  # noqa: PLC0415 - the walk module imports this one
    return DIRECTION, FEATURE, UNIT


def _is_time(imp, label: Any) -> bool:
    return isinstance(label, str) and label.startswith("x") and imp.walk.binding.get(label) == "T"


def _axis_name(imp, label: Any) -> str:
    direction, feature, unit = _labels()
    if _is_time(imp, label):
        return "time"
    if isinstance(label, str) and label.startswith("x"):
        role = imp.walk.binding.get(label)
        return {"B": "batch"}.get(role, f"(input {label[1:]})")
    return {feature: "feature", direction: "direction", unit: "size-1", STACK: "layer (h_n)",
            PAIR_LABEL: "direction (size 2)", HALF_LABEL: "one direction's feature",
            STACK2: "layer-and-direction (h_n)"}.get(label, "merged (reshaped)")


def _add_last_step(imp, node: Any) -> None:
    imp.add_layer(node, LastStep(imp.layer_name(node, "last_step")))


def _last_index(imp, node: Any, label: Any, index: int) -> bool:
    """Whether ``index`` selects the last step of time axis ``label`` (-1, or T-1 of a static T)."""
    if index == -1:
        return True
    size = imp.static_size(label)
    return isinstance(size, int) and size > 0 and index == size - 1


def time_gather(imp, node: Any, labels: tuple) -> tuple[str, tuple]:
    """``Gather(data, index)``: the last time step, or the last row of a size-1 / h_n axis."""
    direction, _, unit = _labels()
    if labels is None:
        raise imp.fail(node, "selecting part of data of unknown rank is not supported")
    if len(node.input) < 2 or imp.g.kind(node.input[1]) != "const":
        raise imp.fail(node, "selecting part of the data needs a constant index")
    idx = np.asarray(imp.g.const(node.input[1], node))
    if idx.dtype.kind not in "iu" or idx.size != 1 or idx.ndim > 1:
        raise imp.fail(node, f"selecting part of the data with index {idx.tolist()}; only one constant "
                             "integer index (the last time step) is supported")
    rank = len(labels)
    axis = int(imp.g.attrs(node).get("axis", 0))
    if not -rank <= axis < rank:
        raise imp.fail(node, f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    label, index = labels[axis], int(idx.reshape(-1)[0])
    if _is_time(imp, label):
        if not _last_index(imp, node, label, index):
            raise imp.fail(node, f"selects time step {index}; only the last time step (index -1 or T-1) "
                                 "is supported")
        _add_last_step(imp, node)
    elif label in (direction, unit):
        if index not in (0, -1):
            raise imp.fail(node, f"index {index} of a size-1 axis")
    elif label == STACK:
        rows = imp.stack_rows   # one per layer, two per bidirectional (lower) layer
        if index not in (-1, rows - 1):
            what = f"layer {index}" if rows == imp.stack_size else f"row {index}"
            raise imp.fail(node, f"selects h_n of {what} of {rows}; only the last layer's final "
                                 "state (h_n[-1]) is supported")
    elif label in (PAIR_LABEL, STACK2):
        _select_direction(imp, node, label, [_row(imp, node, label, index)])
        out = labels[:axis] + ((unit,) if idx.ndim == 1 else ()) + labels[axis + 1:]
        return node.output[0], tuple(FEATURE_LABEL if lab == HALF_LABEL else lab for lab in out)
    else:
        raise imp.fail(node, f"selecting part of the data along the {_axis_name(imp, label)} axis is not "
                             "supported; only the last time step (and h_n[-1]) may be selected")
    out = labels[:axis] + ((unit,) if idx.ndim == 1 else ()) + labels[axis + 1:]
    return node.output[0], out


def _slice_args(imp, node: Any, rank: int) -> tuple[list[int], list[int], list[int], list[int]]:
    g = imp.g
    if len(node.input) > 1:                       # opset >= 10: starts, ends, axes, steps as inputs
        def arg(k: int, default):
            if len(node.input) > k and node.input[k]:
                if g.kind(node.input[k]) != "const":
                    raise imp.fail(node, "only constant slice bounds are supported")
                return [int(v) for v in np.asarray(g.const(node.input[k], node)).reshape(-1)]
            return default
        starts, ends = arg(1, None), arg(2, None)
        axes = arg(3, list(range(len(starts))))
        steps = arg(4, [1] * len(starts))
    else:
        a = g.attrs(node)
        starts, ends = list(a.get("starts", [])), list(a.get("ends", []))
        axes, steps = list(a.get("axes", range(len(starts)))), [1] * len(starts)
    if starts is None or ends is None or not (len(starts) == len(ends) == len(axes) == len(steps)):
        raise imp.fail(node, "malformed slice (starts, ends, axes and steps must have one entry per axis)")
    return starts, ends, [int(ax) % rank if -rank <= ax < rank else ax for ax in axes], steps


def time_slice(imp, node: Any, labels: tuple) -> tuple[str, tuple]:
    """``Slice``: the time axis from its last step to its end (size 1 kept), other axes whole."""
    _, _, unit = _labels()
    if labels is None:
        raise imp.fail(node, "slicing data of unknown rank is not supported")
    if node.input[0] != imp.current:
        raise imp.fail(node, "the data must be the sliced input")
    rank = len(labels)
    starts, ends, axes, steps = _slice_args(imp, node, rank)
    out = list(labels)
    took_last = False
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if not (isinstance(axis, int) and 0 <= axis < rank):
            raise imp.fail(node, f"slice axis {axis} is out of range for rank {rank}")
        label = labels[axis]
        size = imp.static_size(label)
        whole_end = end >= _TO_END or (isinstance(size, int) and end >= size)
        if step != 1:
            raise imp.fail(node, f"slice step {step} on the {_axis_name(imp, label)} axis; only step 1 is supported")
        if label in (PAIR_LABEL, STACK2):
            rows = list(range(_rows(imp, label))[slice(start, min(end, _TO_END))])
            if label == PAIR_LABEL and rows == [0, 1]:
                continue                              # the whole direction axis
            _select_direction(imp, node, label, rows)
            if len(rows) == 1:
                out = [FEATURE_LABEL if lab == HALF_LABEL else unit if k == axis else lab for k, lab in enumerate(out)]
            else:
                out[axis] = PAIR_LABEL
            continue
        if start == 0 and whole_end:
            continue                                  # the whole axis
        if _is_time(imp, label) and whole_end and _last_index(imp, node, label, start):
            out[axis] = unit
            took_last = True
            continue
        what = (f"time steps [{start}, {end})" if _is_time(imp, label)
                else f"[{start}, {end}) of the {_axis_name(imp, label)} axis")
        raise imp.fail(node, f"slices {what}; only the last time step (start -1 or T-1 to the end) is supported")
    if took_last:
        _add_last_step(imp, node)
    return node.output[0], tuple(out)


def final_state(imp, node: Any, labels: tuple | None, layout: int) -> tuple[str, tuple | None]:
    """An LSTM/GRU whose ``Y`` is unused and whose ``Y_h`` (h_n, the last step of ``Y``) is: the
    recurrent layer, then a :class:`LastStep`; ``Y_h`` is ``(1, batch, hidden)`` (``layout`` 1:
    ``(batch, 1, hidden)``)."""
    direction, feature, _ = _labels()
    g = imp.g
    outs = list(node.output) + [""] * (3 - len(node.output))

    def used(name: str) -> bool:
        return bool(name) and (bool(g.consumers.get(name)) or name in g.outputs)

    if used(outs[2]):
        raise imp.fail(node, "the final cell state Y_c (c_n) feeds the model's output; only the hidden "
                             "sequence Y or the final hidden state Y_h (h_n) are supported")
    if not used(outs[1]):
        raise imp.fail(node, "none of the outputs Y / Y_h is used")
    bidirectional = getattr(imp.walk.layers[-1], "direction", "forward") == "bidirectional"
    if bidirectional:   # Y_h is (2, batch, hidden): each direction's final state, forward first
        imp.add_layer(node, LastStep(imp.layer_name(node, "last_step"), select="final"))
        direction, feature = PAIR_LABEL, HALF_LABEL
    else:
        _add_last_step(imp, node)
    if labels is None:
        return outs[1], None
    return outs[1], (direction, labels[1], feature) if layout == 0 else (labels[0], direction, feature)


def state_concat(imp, node: Any, labels: tuple) -> tuple[str, tuple]:
    """PyTorch's ``h_n`` of a stack exported one node per layer: ``Concat`` on axis 0 of every
    recurrent layer's ``Y_h`` in order, the current (last) layer's last."""
    direction, _, _ = _labels()
    g = imp.g
    axis = int(g.attrs(node).get("axis", 0))
    rec = imp.rnn_nodes
    want = [n.output[1] if len(n.output) > 1 else "" for n in rec]
    if (labels is None or len(labels) != 3 or axis % 3 != 0 or labels[0] not in (direction, PAIR_LABEL)
            or list(node.input) != want or not want or want[-1] != imp.current):
        raise imp.fail(node, "Concat on the data path is only supported as h_n: the final hidden states "
                             "Y_h of every recurrent layer, in order, on axis 0 (then h_n[-1])")
    imp.stack_size = len(want)
    #: h_n's rows: one per direction of every layer
    imp.stack_rows = sum(2 if _is_bidirectional(imp, n) else 1 for n in rec)
    return node.output[0], (STACK2 if labels[0] == PAIR_LABEL else STACK, labels[1], labels[2])


# ------------------------------------------------------------------ bidirectional h_n


def _is_bidirectional(imp, node: Any) -> bool:
    return imp.g.attrs(node).get("direction", "forward") == "bidirectional"


def _rows(imp, label: Any) -> int:
    """The number of rows of a direction axis: 2, or every layer's directions of a stacked h_n."""
    return 2 if label == PAIR_LABEL else int(imp.stack_rows)


def _row(imp, node: Any, label: Any, index: int) -> int:
    rows = _rows(imp, label)
    if not -rows <= index < rows:
        raise imp.fail(node, f"index {index} is out of range for the {rows} rows of h_n")
    return index % rows


def _select_direction(imp, node: Any, label: Any, rows: list[int]) -> None:
    """Rows ``rows`` (in order) of a bidirectional layer's h_n (``label`` D2: its two rows; S2: the
    stacked h_n whose last two rows are that layer's forward and backward final states): keep both
    (``select="final"``), the forward one or the backward one -- the LastStep ``final_state`` added
    becomes that selection.  Anything else (a lower layer's state, the backward state before the
    forward one, a direction of ``y`` rather than of h_n) is refused."""
    last = imp.walk.layers[-1] if imp.walk.layers else None
    if not (isinstance(last, LastStep) and last.select == "final"):
        raise imp.fail(node, "selecting one direction of a bidirectional layer's output is only supported on its "
                             "final states h_n (h_n[-1]: backward, h_n[-2]: forward)")
    n = _rows(imp, label)
    if rows == [n - 2, n - 1]:
        return                                         # both directions, forward first: what "final" is
    if rows == [n - 1]:
        select = "backward"
    elif rows == [n - 2]:
        select = "forward"
    else:
        shown = ", ".join(str(r) for r in rows) or "none"
        raise imp.fail(node, f"selects rows [{shown}] of h_n's {n} rows; only the last layer's final states are "
                             f"supported: row {n - 1} (h_n[-1], backward), row {n - 2} (h_n[-2], forward) or both "
                             f"in that order")
    imp.walk.layers[-1] = last.replace(select=select)


def direction_pair(imp, users: list, labels: tuple) -> tuple[str, tuple]:
    """``torch.cat((h_n[-2], h_n[-1]), 1)``: h_n (or a stacked h_n) feeds exactly two ``Gather`` nodes
    of single rows on its direction axis whose outputs feed only one ``Concat`` on the feature axis,
    forward row first -- the directions' final states, forward then backward (``select="final"``).
    Returns the Concat's output and labels; any other branching of the data is refused."""
    g = imp.g
    axes = [k for k, lab in enumerate(labels) if lab in (PAIR_LABEL, STACK2)]
    first = users[0]

    def refuse(detail: str):
        names = ", ".join(f"{n.op_type} {g.name(n)!r}" for n in users)
        return imp.fail(first, f"{imp.current!r} feeds several nodes ({names}); "
                               f"only cat((h_n[-2], h_n[-1]), 1) -- two single-row Gathers of the direction axis "
                               f"concatenated on the features, forward first -- is supported ({detail})")

    if len(axes) != 1 or len(users) != 2 or any(n.op_type != "Gather" or n.domain not in ("", "ai.onnx")
                                                or list(n.input[:1]) != [imp.current] for n in users):
        raise refuse("other consumers")
    axis = axes[0]
    rows: dict[str, int] = {}
    for n in users:
        if int(g.attrs(n).get("axis", 0)) % len(labels) != axis or len(n.input) < 2 or g.kind(n.input[1]) != "const":
            raise refuse("a Gather of another axis or of a non-constant index")
        idx = np.asarray(g.const(n.input[1], n))
        if idx.dtype.kind not in "iu" or idx.ndim != 0:
            raise refuse(f"index {idx.tolist()}")
        rows[n.output[0]] = _row(imp, n, labels[axis], int(idx))
    cats = [c for out in rows for c, _ in g.consumers.get(out, [])]
    cat = cats[0] if cats else None
    rest = labels[:axis] + labels[axis + 1:]
    if (len(cats) != 2 or cat is None or cats[1] is not cat or cat.op_type != "Concat" or len(cat.input) != 2
            or set(cat.input) != set(rows) or any(out in g.outputs for out in rows)
            or int(g.attrs(cat).get("axis", 0)) % len(rest) != len(rest) - 1 or rest[-1] != HALF_LABEL):
        raise refuse("the two rows must feed only one Concat on the feature axis")
    _select_direction(imp, cat, labels[axis], [rows[i] for i in cat.input])
    return cat.output[0], tuple(FEATURE_LABEL if lab == HALF_LABEL else lab for lab in rest)
