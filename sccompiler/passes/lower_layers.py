"""Pass ``lower_layers``: every layer -> layer-level SC nodes (:func:`sccompiler.lowering.lower_model`)."""

from __future__ import annotations

from ..lowering import lower_model
from .registry import CompileState, register_pass


@register_pass("lower_layers", requires=("fold_batchnorm",),
               description="lower every layer to layer-level SC nodes "
                           "(XNOR/APC banks, SNGs, WFSMs, counters, registers)")
def lower_layers(state: CompileState) -> None:
    state.netlist = lower_model(state.model, state.plans, state.folded)
