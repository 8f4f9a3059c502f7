"""Pass ``cost``: the compiled netlist's primitives costed against the baselines.

A design with ternary hidden states (XNOR banks that skip zero states) is simulated on (at most
64 of) the calibration inputs with the engine runtime: the measured fraction of skipped XNOR
evaluations enters the report (``state_skipping``, :func:`~sccompiler.cost.netlist_cost.state_skipping`)."""

from __future__ import annotations

from ..cost.netlist_cost import cost_report, skipping_banks, state_skipping
from ..runtime.engine import Runtime
from .registry import CompileState, register_pass

#: calibration sequences simulated to measure the skipped fraction
SKIPPING_SEQUENCES = 64


@register_pass("cost", optional=True, requires=("allocate_sources",),
               description="count the netlist's primitives (cost Inventory) and compare with the baselines")
def cost(state: CompileState) -> None:
    skipping = None
    x = state.calibration_inputs
    if skipping_banks(state.netlist) and x is not None:
        x = x[:SKIPPING_SEQUENCES]
        _, runs = Runtime(state.netlist).run(x, trace=True)
        skipping = state_skipping(state.netlist, runs, source=f"engine simulation of {x.shape[0]} calibration "
                                  f"sequences x {x.shape[1]} steps")
    state.info["cost"] = cost_report(state.netlist, state.model, state.config, skipping=skipping)
