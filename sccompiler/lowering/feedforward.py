"""Dense layers (exact XNOR + popcount, or counted streams) and the binary-domain layers that
need no streams (embedding lookup, standalone batch norm, activations, the last-step select)."""

from __future__ import annotations

import numpy as np

from ..ir.model import Activation, BatchNorm, Embedding, LastStep, Linear
from ..ir.sc import SCNode
from .common import affine_tables, bias_vector, node, weight_levels
from .plans import DensePlan


def lower_dense(lay: Linear, plan: DensePlan, prev: str) -> list[SCNode]:
    n = lay.name
    w, alpha = weight_levels(lay.weight, "weight", n)
    b = bias_vector(lay.bias, lay.out_size)
    inp = plan.input
    if plan.mode == "exact":
        return [node(f"{n}.k", "xnor_popcount", (prev,), (lay.out_size,), n, "integral", (-lay.in_size, lay.in_size),
                     {"operand_scale": inp.scale}, {"weights": w}),
                node(f"{n}.y", "dense_out", (f"{n}.k",), (lay.out_size,), n, "binary", (-np.inf, np.inf),
                     {"mode": "exact"}, {"gain": np.full(lay.out_size, alpha * inp.scale), "bias": b})]
    R = float(inp.range)
    L = plan.length
    return [node(f"{n}.x_s", "encode", (prev,), (lay.in_size,), n, "bipolar", (-1, 1), {"scale": R, "repeat": 1}),
            node(f"{n}.p", "xnor_apc", (f"{n}.x_s",), (lay.out_size,), n, "integral", (-lay.in_size, lay.in_size),
                 {}, {"weights": w}),
            node(f"{n}.cnt", "updown_counter", (f"{n}.p",), (lay.out_size,), n, "integral",
                 (-lay.in_size * L, lay.in_size * L)),
            node(f"{n}.y", "dense_out", (f"{n}.cnt",), (lay.out_size,), n, "binary", (-np.inf, np.inf),
                 {"mode": "counted"}, {"gain": np.full(lay.out_size, alpha * R), "bias": b})]


def lower_binary_domain(lay: Embedding | BatchNorm | Activation | LastStep, prev: SCNode) -> SCNode:
    """One binary-domain node reading ``prev`` per time step (``last_step``: the value of the last
    step; the runtimes keep only that step of the layer's output)."""
    unbounded = (-np.inf, np.inf)
    if isinstance(lay, LastStep):
        return node(f"{lay.name}.y", "last_step", (prev.name,), prev.shape, lay.name, prev.encoding, prev.range)
    if isinstance(lay, Embedding):
        return node(f"{lay.name}.y", "lookup", (prev.name,), (lay.embedding_dim,), lay.name, "binary", unbounded,
                    {}, {"table": lay.weight.data})
    if isinstance(lay, BatchNorm):
        s, m = affine_tables(lay.params, lay.params.features)
        return node(f"{lay.name}.y", "affine", (prev.name,), (lay.params.features,), lay.name, "binary", unbounded,
                    {}, {"scale": s, "shift": m})
    return node(f"{lay.name}.y", "activation", (prev.name,), prev.shape, lay.name, "binary", unbounded,
                {"function": lay.function})
