"""Pass ``accuracy_report``: the design's accuracy vs L on a few calibration inputs."""

from __future__ import annotations

import numpy as np

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
            "note": "error_vs_design_reference shrinks ~1/sqrt(L); design_vs_quantized is the floor the "
                    "design's own quantization points (sign(h), saturation) add"}


@register_pass("accuracy_report", optional=True, requires=("allocate_sources",),
               description="simulate the design on calibration inputs at L/4..2L: accuracy-vs-L curve")
def accuracy_report(state: CompileState) -> None:
    curve = accuracy_curve(state)
    if curve is not None:
        state.info["accuracy"] = curve
