"""What every layer's lowering uses: weight levels, folded affine tables, the node builder and the
activation codes of WFSM/table targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidWeightsError, UnsupportedOpError
from ..ir.model import Tensor
from ..ir.sc import SIGMOID, SIGMOID_UNIPOLAR, TANH, SCNode
from ..quantize.bnfold import bn_affine, bn_affine_table

#: gate activations per row block, in the IR's gate orders
GATE_ACTS = {"lstm": ("sigmoid", "sigmoid", "tanh", "sigmoid"), "gru": ("sigmoid", "sigmoid", "tanh")}
GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
#: activation codes stored in WFSM / gate-table arrays (``target_act``, ``act``)
ACT_CODE = {"sigmoid": SIGMOID, "tanh": TANH, "sigmoid_unipolar": SIGMOID_UNIPOLAR}


def is_sc_levels(t: Tensor) -> bool:
    """Whether a tensor is binary/ternary ({-a, 0, a}): weights an XNOR/AND multiplies by."""
    nz = np.abs(t.data[t.data != 0])
    return nz.size == 0 or bool(np.allclose(nz, float(nz.max()), rtol=1e-6, atol=0))


def weight_levels(t: Tensor | None, what: str, layer: str) -> tuple[np.ndarray, float]:
    """(integer weights in {-1, 0, 1} as int8, scale alpha) of a binary/ternary tensor."""
    if t is None:
        raise InvalidWeightsError(f"layer {layer!r}: {what} is missing")
    data = t.data
    nz = np.abs(data[data != 0])
    if nz.size == 0:
        return np.zeros(data.shape, dtype=np.int8), 1.0
    alpha = float(nz.max())
    if not is_sc_levels(t):
        distinct = np.unique(np.round(data, 12)).size
        scheme = t.quant.scheme if t.quant.is_quantized else None
        if scheme is None:
            op, why = "float-weights", "quantize the model first, e.g. `scc quantize MODEL --scheme binary`"
        else:
            # quantized, but to more levels than an XNOR/AND multiplies by: no k-bit weight planes
            label = f"int:{t.quant.bits}" if scheme == "int" else scheme
            op = f"{label}-weights"
            why = (f"it is {label}-quantized; re-quantize it `scc quantize MODEL --scheme ternary --requantize` "
                   f"(check the metric it keeps with --targets), or cost it as a k-bit fixed-point design: "
                   f"`scc baseline MODEL`")
        raise UnsupportedOpError(
            op, layer, f"{what} takes {distinct} distinct values; the SC datapath needs binary or ternary "
                       f"weights (every multiplication an XNOR or AND): {why}")
    return np.round(data / alpha).astype(np.int8), alpha


def exact_levels(values: np.ndarray) -> float | None:
    """The level a if every value is in {-a, 0, a} (a > 0), else None."""
    v = np.asarray(values, dtype=np.float64)
    nz = np.abs(v[v != 0])
    if nz.size == 0:
        return 1.0
    a = float(nz.max())
    return a if np.allclose(nz, a, rtol=1e-9, atol=0) else None


def affine_tables(bn, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch norm's (scale, shift) as (T, rows) arrays (T = 1 when not per-step; identity for None)."""
    if bn is None:
        return np.ones((1, rows)), np.zeros((1, rows))
    if bn.per_step:
        s, m = bn_affine_table(bn, bn.mean.shape[0])
        return np.array(s), np.array(m)
    s, m = bn_affine(bn)
    return s[None, :].copy(), m[None, :].copy()


def bias_vector(t: Tensor | None, rows: int) -> np.ndarray:
    return np.zeros(rows) if t is None else t.data.astype(np.float64)


def node(name, op, inputs, shape, layer, encoding="binary", rng=(-1.0, 1.0), params=None, arrays=None) -> SCNode:
    """An :class:`SCNode` with normalized shape/range types."""
    return SCNode(name, op, tuple(inputs), tuple(int(s) for s in shape), layer, encoding,
                  (float(rng[0]), float(rng[1])), dict(params or {}), dict(arrays or {}))


def gate_act_codes(kind: str, hidden: int) -> np.ndarray:
    """Activation code per gate row (rows of gate k are k H .. (k+1) H)."""
    return np.repeat([ACT_CODE[a] for a in GATE_ACTS[kind]], hidden).astype(np.int8)


@dataclass(frozen=True)
class GateDerived:
    """What lowering derived for integral gates (None where the datapath has no such thing):
    the operand unit u, bias SNGs per row, the largest wired APC offset, how x streams are banked
    under general bn_x/bn_h (shared / per_row / per_gate) and the rows of their per-step tables."""

    unit: float | None = None
    bias_streams: int | None = None
    bias_offset_max: int | None = None
    x_streams: str | None = None
    bn_gate_tables: int | None = None


@dataclass(frozen=True)
class Lowered:
    """A lowered layer: its nodes (topological) and the derived gate figures."""

    nodes: tuple[SCNode, ...]
    derived: GateDerived = GateDerived()
