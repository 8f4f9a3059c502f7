"""Pass ``correlation_report``: SCC between the operands of every XNOR / MUX bank, and the measured
correlation between the random numbers of conflicting comparators (:mod:`sccompiler.sharing.measure`)."""

from __future__ import annotations

import numpy as np

from ..runtime import Runtime
from ..sharing.measure import source_correlation
from ..sim.seeds import scc
from .registry import CompileState, register_pass

#: cycles per step of the measurement run (at most) and the time steps simulated
MEASURE_LENGTH, MEASURE_STEPS = 256, 4


def measure_correlation(state: CompileState) -> dict:
    """Mean and max |SCC| between the operands of every XNOR / MUX bank, measured on one short
    simulated run (first calibration sequence, or zeros), last time step."""
    netlist = state.netlist
    x = state.calibration_inputs
    if x is None:
        shape = (1, 2, state.model.input.size) if state.model.input.kind == "features" else (1, 2)
        x = np.zeros(shape, dtype=np.float64 if len(shape) == 3 else np.int64)
    x = np.asarray(x)[:1, :MEASURE_STEPS]
    seen: dict[str, np.ndarray] = {}

    def collect(layer, node, bits, t):
        seen[node.name] = bits[0]

    length = min(MEASURE_LENGTH, max([p.length for p in netlist.layers] + [64]))
    Runtime(netlist).run(x, length=length, collect=collect)
    out = {}
    for n in netlist:
        if n.op not in ("xnor", "mux") or not all(i in seen for i in n.inputs):
            continue
        a, b = np.broadcast_arrays(seen[n.inputs[0]], seen[n.inputs[1]])
        s = np.abs(np.nan_to_num(scc(a, b)))
        out[n.name] = {"mean_abs_scc": float(s.mean()), "max_abs_scc": float(s.max()), "pairs": int(s.size),
                       "length": length}
    mode = netlist.sources.get("mode", "private")
    return {"gates": out, "sources": source_correlation(netlist, seed=state.config.seed),
            "note": (f"{mode} source registers; gate SCC measured on one simulated step, source correlation "
                     "between sampled conflicting comparator pairs (their streams meet) over 4096 cycles")}


@register_pass("correlation_report", optional=True, requires=("allocate_sources",),
               description="measure SCC between the operands of every XNOR/MUX bank on a short simulation")
def correlation_report(state: CompileState) -> None:
    state.info["correlation"] = measure_correlation(state)
