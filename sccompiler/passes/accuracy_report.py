"""Pass ``accuracy_report``: the design's accuracy vs L on a few calibration inputs."""

from __future__ import annotations

import numpy as np

from ..errors import SCCError
from ..quantize.fixed_point import FixedPointModel
from ..reference import forward
from ..runtime import golden_forward
from ..runtime.packed import PackedRuntime
from .registry import CompileState, register_pass

#: calibration sequences simulated for the curve
CURVE_SAMPLES = 4


def accuracy_curve(state: CompileState, max_samples: int = CURVE_SAMPLES) -> dict | None:
    """Mean |output - quantized reference| and |output - design reference| (golden: the design's
    own quantization points) at L/4, L/2, L, 2L (same netlist, L overridden)."""
    if state.calibration is None:
        return None
    x = np.asarray(state.calibration)[:max_samples]
    ref = forward(state.model, x)
    gold, _ = golden_forward(state.model, {p.name: p.options for p in state.netlist.layers}, x)
    rt = PackedRuntime(state.netlist)
    base = max(p.length for p in state.netlist.layers if p.length)
    points = []
    for L in sorted({max(8, base // 4), max(8, base // 2), base, 2 * base}):
        out, _ = rt.run(x, length=L)
        points.append({"length": L, "error_vs_quantized": float(np.abs(out - ref).mean()),
                       "error_vs_design_reference": float(np.abs(out - gold).mean())})
    return {"metric": "mean_abs", "samples": int(x.shape[0]), "curve": points,
            "design_vs_quantized": float(np.abs(gold - ref).mean()),
            "fixed_point": fixed_point_match(state, x, ref, points),
            "note": "error_vs_design_reference shrinks ~1/sqrt(L); design_vs_quantized is the floor the "
                    "design's own quantization points (sign(h), saturation, a fixed-point head's K-bit weights) add"}


def fixed_point_match(state: CompileState, x: np.ndarray, ref: np.ndarray, points: list[dict]) -> dict | None:
    """The k-bit fixed-point model's error against the quantized reference on the same inputs
    (k = cost_bits, the baseline of the cost report) and the shortest L of the curve at which the
    SC design is at least as accurate (None: not within the curve); None where the fixed-point
    baseline does not cover the model (embeddings, batch norm)."""
    try:
        fpm = FixedPointModel.from_model(state.model, state.config.cost_bits)
        fixed = float(np.abs(fpm.forward_float(x) - ref).mean())
    except SCCError:
        return None
    match = next((pt["length"] for pt in points if pt["error_vs_quantized"] <= fixed), None)
    return {"bits": fpm.bits, "error_vs_quantized": fixed, "sc_length_to_match": match,
            "longest_simulated": points[-1]["length"]}


@register_pass("accuracy_report", optional=True, requires=("allocate_sources",),
               description="simulate the design on calibration inputs at L/4..2L: accuracy-vs-L curve")
def accuracy_report(state: CompileState) -> None:
    curve = accuracy_curve(state)
    if curve is not None:
        state.info["accuracy"] = curve
