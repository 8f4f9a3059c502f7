"""Pass ``calibrate``: the quantized reference on the calibration inputs (ranges, levels, traces)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from ..lowering.common import exact_levels
from ..reference import forward
from .registry import CompileState, register_pass

#: calibration samples kept for input models and scheduling
MAX_CALIBRATION = 64
#: reference traces kept per process: a design-space exploration compiles one model on one
#: calibration set many times (one trial each), and the trace is the same every time
TRACE_CACHE_SIZE = 4
_TRACES: OrderedDict[str, dict] = OrderedDict()


def _key(model, x: np.ndarray) -> str:
    """Content digest of the model's tensors and structure and of the calibration inputs."""
    h = hashlib.sha256(repr((model.input, [(type(lay).__name__, lay.name) for lay in model.layers])).encode())
    for lay in model.layers:
        for name, t in lay.tensors():
            h.update(name.encode())
            h.update(np.ascontiguousarray(t.data, dtype=np.float64).tobytes())
        h.update(repr(lay).encode())
    h.update(repr((x.dtype.str, x.shape)).encode())
    h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def reference_trace(model, x: np.ndarray) -> dict:
    """The quantized reference's trace on ``x``, shared by compiles of the same model and inputs
    (read-only arrays, so no pass can change what another compile reads)."""
    key = _key(model, x)
    if key in _TRACES:
        _TRACES.move_to_end(key)
        return _TRACES[key]
    _, trace = forward(model, x, return_trace=True)
    for rec in trace.values():
        for arr in (rec.values() if isinstance(rec, dict) else ()):
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)
    _TRACES[key] = trace
    while len(_TRACES) > TRACE_CACHE_SIZE:
        _TRACES.popitem(last=False)
    return trace


@register_pass("calibrate", optional=True, requires=("check_model",),
               description="run the quantized reference on calibration inputs: ranges, levels, operand statistics")
def calibrate(state: CompileState) -> None:
    if state.calibration is None:
        state.info["calibration"] = {"samples": 0}
        return
    x = np.asarray(state.calibration)[:MAX_CALIBRATION]
    trace = reference_trace(state.model, x)
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
