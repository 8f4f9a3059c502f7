"""Pass ``calibrate``: the quantized reference on the calibration inputs (ranges, levels, traces)."""

from __future__ import annotations

import numpy as np

from ..lowering.common import exact_levels
from ..reference import forward
from .registry import CompileState, register_pass

#: calibration samples kept for input models and scheduling
MAX_CALIBRATION = 64


@register_pass("calibrate", optional=True, requires=("check_model",),
               description="run the quantized reference on calibration inputs: ranges, levels, operand statistics")
def calibrate(state: CompileState) -> None:
    if state.calibration is None:
        state.info["calibration"] = {"samples": 0}
        return
    x = np.asarray(state.calibration)[:MAX_CALIBRATION]
    _, trace = forward(state.model, x, return_trace=True)
    stats: dict = {"samples": int(x.shape[0]), "steps": int(x.shape[1])}
    if state.model.input.kind == "features":
        stats["input_max_abs"] = float(np.max(np.abs(x)))
        stats["input_levels"] = exact_levels(x)
    for lay in state.model.layers:
        rec = trace.get(lay.name, {})
        stats[lay.name] = {f"{key}_max_abs": float(np.max(np.abs(rec[key]))) for key in ("c", "h", "pre", "out")
                           if key in rec}
    state.info["calibration"] = stats
    state.calibration_inputs = x
    state.calibration_trace = trace
