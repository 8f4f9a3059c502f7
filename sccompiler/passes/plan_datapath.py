"""Pass ``plan_datapath``: the typed per-layer plans (:func:`sccompiler.lowering.plan_layers`)."""

from __future__ import annotations

from ..lowering import plan_layers
from .registry import CompileState, register_pass


@register_pass("plan_datapath", requires=("check_model",),
               description="choose per layer: gate input (table / integral WFSM), hidden encoding, L, SNG width, "
                           "operand scales")
def plan_datapath(state: CompileState) -> None:
    state.plans = plan_layers(state.model, state.config, state.info.get("calibration", {}))
