"""Pass ``cost``: the compiled netlist's primitives costed against the baselines."""

from __future__ import annotations

from ..cost.netlist_cost import cost_report
from .registry import CompileState, register_pass


@register_pass("cost", optional=True, requires=("allocate_sources",),
               description="count the netlist's primitives (cost Inventory) and compare with the baselines")
def cost(state: CompileState) -> None:
    state.info["cost"] = cost_report(state.netlist, state.model, state.config)
