"""Summaries of a model: layers, shapes, parameter counts, quantization and memory.

Memory is counted as the storage the weights need: ``bits`` per element of each tensor (32 for a
float tensor), plus one 32-bit scale per quantized tensor, plus 32 bits per batch-norm parameter
(batch norms stay in full precision).  ``memory_ratio`` compares that with storing every parameter
as float32 — the "up to 12x memory saving" of Ardakani et al. (ICLR 2019) is this ratio.
"""

from __future__ import annotations

from typing import Any

from .ir.model import Model, QuantSpec, Tensor

FLOAT32_BITS = 32
#: levels are listed in full when a tensor has at most this many
MAX_LISTED_LEVELS = 8


def _tensor_info(field: str, tensor: Tensor) -> dict[str, Any]:
    q: QuantSpec = tensor.quant
    size = int(tensor.data.size)
    bits = q.bits if q.is_quantized else FLOAT32_BITS
    scale_bits = FLOAT32_BITS if q.is_quantized and q.scale is not None else 0
    count = len(q.levels) if q.levels is not None else None
    return {
        "name": field,
        "shape": list(tensor.shape),
        "params": size,
        "scheme": q.scheme,
        "bits": int(bits),
        "scale": q.scale,
        "levels_count": count,
        "levels": list(q.levels) if count is not None and count <= MAX_LISTED_LEVELS else None,
        "stochastic": bool(q.stochastic),
        "memory_bits": size * int(bits) + scale_bits,
        "float32_bits": size * FLOAT32_BITS,
    }


def inspect_model(model: Model) -> dict[str, Any]:
    """Return a JSON-ready description of ``model`` (see the module docstring for memory)."""
    layers = []
    totals = {"params": 0, "quantized_params": 0, "memory_bits": 0, "float32_bits": 0}
    for layer in model.layers:
        tensors = [_tensor_info(f, t) for f, t in layer.tensors()]
        bns = []
        for field, bn in layer.batchnorms():
            n = int(sum(a.size for a in bn.arrays().values()))
            bns.append({"name": field, "features": bn.features, "per_step": bn.per_step,
                        "steps": int(bn.mean.shape[0]) if bn.per_step else None, "params": n,
                        "memory_bits": n * FLOAT32_BITS, "float32_bits": n * FLOAT32_BITS})
        params = sum(t["params"] for t in tensors) + sum(b["params"] for b in bns)
        memory = sum(t["memory_bits"] for t in tensors) + sum(b["memory_bits"] for b in bns)
        f32 = params * FLOAT32_BITS
        quantized = sum(t["params"] for t in tensors if t["scheme"] != "float")
        attrs = {k: v for k, v in layer.attrs().items()}
        layers.append({
            "name": layer.name, "kind": layer.kind, "attrs": attrs,
            "in_features": layer.in_features, "out_features": layer.out_features,
            "params": params, "quantized_params": quantized, "tensors": tensors, "batchnorms": bns,
            "memory_bits": memory, "float32_bits": f32,
        })
        totals["params"] += params
        totals["quantized_params"] += quantized
        totals["memory_bits"] += memory
        totals["float32_bits"] += f32
    totals["memory_bytes"] = (totals["memory_bits"] + 7) // 8
    totals["memory_ratio"] = totals["float32_bits"] / totals["memory_bits"] if totals["memory_bits"] else None
    return {
        "name": model.name,
        "input": {"kind": model.input.kind, "size": model.input.size},
        "layers": layers,
        "totals": {"layers": len(model.layers), **totals},
        "metadata": model.metadata,
    }


__all__ = ["inspect_model", "FLOAT32_BITS", "MAX_LISTED_LEVELS"]
