"""Dense layers (exact XNOR + popcount, counted streams, or a fixed-point head) and the binary-domain layers that
need no streams (embedding lookup, standalone batch norm, activations, the last-step select)."""

from __future__ import annotations

import numpy as np

from ..ir.model import Activation, BatchNorm, Embedding, LastStep, Linear
from ..ir.sc import SCNode
from ..quantize.schemes import head_codes
from .common import affine_tables, bias_vector, node, weight_levels
from .plans import DensePlan


def lower_dense(lay: Linear, plan: DensePlan, prev: str) -> list[SCNode]:
    if plan.mode == "fixed":
        return lower_fixed_head(lay, plan, prev)
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


def lower_fixed_head(lay: Linear, plan: DensePlan, prev: str) -> list[SCNode]:
    """A fixed-point head (weights not binary/ternary): acc_r = sum_j Wq_rj o_j, exact in integers,
    then y = gain * acc + bias.  The operands o are the integer h the SC core produces: the exact
    codes round(h / scale) in {-1, 0, 1} of an exact input (``hidden: sign``), or for a real input
    2 c_j - L of one up counter per input stream (c_j its ones over the step's L cycles: the
    bipolar count, E = L h_j / R; then y = gain * (acc / L) + bias, as a counted head)."""
    n = lay.name
    codes, scale, bits = head_codes(lay.weight, plan.weight_bits)
    b = bias_vector(lay.bias, lay.out_size)
    inp = plan.input
    row_sum = int(np.abs(codes).sum(1).max())
    # macs: the sequential MAC's units P (absent: fully parallel); the values do not depend on it
    mac = {"weight_bits": bits} | ({"macs": int(plan.macs)} if plan.macs is not None else {})
    if inp.exact:
        span = row_sum
        pre = [node(f"{n}.acc", "int_mac", (prev,), (lay.out_size,), n, "integral", (-span, span),
                    mac | {"operands": "codes", "operand_scale": inp.scale}, {"wq": codes})]
        gain = scale * inp.scale
    else:
        R, L = float(inp.range), plan.length
        span = row_sum * L
        pre = [node(f"{n}.x_s", "encode", (prev,), (lay.in_size,), n, "bipolar", (-1, 1), {"scale": R, "repeat": 1}),
               node(f"{n}.x_cnt", "counter", (f"{n}.x_s",), (lay.in_size,), n, "binary", (0, L)),
               node(f"{n}.acc", "int_mac", (f"{n}.x_cnt",), (lay.out_size,), n, "integral", (-span, span),
                    mac | {"operands": "counts", "length": L}, {"wq": codes})]
        gain = scale * R                         # y = gain * (acc / L) + bias, L the run's length
    mode = "fixed" if inp.exact else "fixed_counted"
    return pre + [node(f"{n}.y", "dense_out", (f"{n}.acc",), (lay.out_size,), n, "binary", (-np.inf, np.inf),
                       {"mode": mode}, {"gain": np.full(lay.out_size, gain), "bias": b})]


def lower_binary_domain(lay: Embedding | BatchNorm | Activation | LastStep, prev: SCNode) -> SCNode:
    """One binary-domain node reading ``prev`` per time step (``last_step``: the value of the last
    step, or after a bidirectional layer's ``concat`` the directions' final states, param
    ``select``; the runtimes keep only that step of the layer's output,
    :func:`sccompiler.sim.rules.last_step_select`)."""
    unbounded = (-np.inf, np.inf)
    if isinstance(lay, LastStep):
        width = prev.shape[0] // 2 if lay.select in ("forward", "backward") else prev.shape[0]
        return node(f"{lay.name}.y", "last_step", (prev.name,), (width,), lay.name, prev.encoding, prev.range,
                    {"select": lay.select})
    if isinstance(lay, Embedding):
        return node(f"{lay.name}.y", "lookup", (prev.name,), (lay.embedding_dim,), lay.name, "binary", unbounded,
                    {}, {"table": lay.weight.data})
    if isinstance(lay, BatchNorm):
        s, m = affine_tables(lay.params, lay.params.features)
        return node(f"{lay.name}.y", "affine", (prev.name,), (lay.params.features,), lay.name, "binary", unbounded,
                    {}, {"scale": s, "shift": m})
    return node(f"{lay.name}.y", "activation", (prev.name,), prev.shape, lay.name, "binary", unbounded,
                {"function": lay.function})
