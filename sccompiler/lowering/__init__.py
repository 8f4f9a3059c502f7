"""Lowering recipes: model layers -> layer-level SC netlist nodes (docs/compiler.md §3).

:mod:`.plans` decides (typed, frozen per-layer plans and folded batch norms), :mod:`.recurrent`,
:mod:`.lstm`, :mod:`.gru` and :mod:`.feedforward` build the nodes of each layer kind,
:mod:`.wfsm_banks` the WFSM banks, :mod:`.common` what they share.  :func:`lower_model` is the
whole recipe; the ``lower_layers`` pass only stores its result.
"""

from __future__ import annotations

from ..errors import UnsupportedOpError
from ..ir.model import GRU, LSTM, Activation, BatchNorm, Embedding, LastStep, Linear, Model, direction_layers
from ..ir.sc import LayerOptions, LayerPlan, SCNetlist, SCNode, concat_name
from .common import GateDerived, node
from .feedforward import lower_binary_domain, lower_dense
from .plans import (
    DensePlan,
    Feed,
    FoldedRecurrent,
    LayerPlanT,
    PassThroughPlan,
    RecurrentPlan,
    fold_recurrent,
    plan_json,
    plan_layers,
)
from .recurrent import lower_recurrent

__all__ = ["DensePlan", "Feed", "FoldedRecurrent", "LayerPlanT", "PassThroughPlan", "RecurrentPlan",
           "fold_recurrent", "layer_options", "lower_model", "plan_json", "plan_layers"]

MODEL_INPUT = "model.input"


def layer_options(plan: RecurrentPlan, derived: GateDerived, folded: FoldedRecurrent, *,
                  direction: str | None = None, max_steps: int | None = None) -> LayerOptions:
    """The netlist's record of a recurrent layer's choices (what the runtime, emitter and cost read)."""
    bn_c_tables = int(folded.scale_c.shape[0]) if folded.scale_c is not None else None
    return LayerOptions(
        direction=direction, max_steps=max_steps,
        sng_bits=plan.sng_bits, gate_input=plan.gate_input, hidden=plan.hidden, cell_range=plan.cell_range,
        gate_fsm_states=plan.gate_fsm_states, cell_fsm_states=plan.cell_fsm_states,
        fsm_weight_bits=plan.fsm_weight_bits, fsm_state=plan.fsm_state, bias_encoding=plan.bias_encoding,
        fsm_input_model=plan.fsm_input_model, bn_steps=plan.bn_steps, gate_sngs=plan.gate_sngs,
        sign_from=plan.sign_from if plan.hidden == "sign" else None,
        unit=derived.unit, bias_streams=derived.bias_streams, bias_offset_max=derived.bias_offset_max,
        x_streams=derived.x_streams, bn_gate_tables=derived.bn_gate_tables, bn_c_tables=bn_c_tables)


def lower_model(model: Model, plans: dict[str, LayerPlanT], folded: dict[str, FoldedRecurrent]) -> SCNetlist:
    """The whole model as an SC netlist (sources not yet allocated, FSMs not yet synthesized)."""
    inp = node(MODEL_INPUT, "input", (), (model.input.size if model.input.kind == "features" else 1,), "model",
               "binary", (-float("inf"), float("inf")), {"kind": model.input.kind})
    nodes: list[SCNode] = [inp]
    records: list[LayerPlan] = []
    prev = inp
    for lay in model.layers:
        plan = plans[lay.name]
        if isinstance(lay, (LSTM, GRU)) and lay.direction == "bidirectional":
            new, out = _lower_bidirectional(lay, plans, folded, prev, records)
        elif isinstance(lay, (LSTM, GRU)):
            low = lower_recurrent(lay, plan, folded[lay.name], prev.name)
            new = list(low.nodes)
            records.append(LayerPlan(lay.name, lay.kind, plan.length,
                                     layer_options(plan, low.derived, folded[lay.name])))
            out = next(nd for nd in new if nd.name == f"{lay.name}.h")
        elif isinstance(lay, Linear):
            new = lower_dense(lay, plan, prev.name)
            records.append(LayerPlan(lay.name, "dense", plan.length if plan.streamed else 0,
                                     LayerOptions(mode=plan.mode, sng_bits=plan.sng_bits,
                                                  weight_bits=plan.weight_bits,
                                                  macs=getattr(plan, "macs", None))))
            out = new[-1]
        elif isinstance(lay, (Embedding, BatchNorm, Activation, LastStep)):
            new = [lower_binary_domain(lay, prev)]
            kind = {"embedding": "embedding", "batchnorm": "affine", "activation": "activation",
                    "last_step": "last_step"}[lay.kind]
            records.append(LayerPlan(lay.name, kind, 0, LayerOptions(function=getattr(lay, "function", None),
                                                                     select=getattr(lay, "select", None))))
            out = new[-1]
        else:  # check_model rejects these before lowering
            raise UnsupportedOpError(lay.kind, lay.name, "no SC lowering")
        nodes.extend(new)
        prev = out
    # every recurrent layer's input node reads the previous layer's output (kept as a param, not
    # an edge: a step program's input is a per-step value handed over by the runtime)
    return SCNetlist(tuple(nodes), tuple(records), {},
                     {"model": model.name, "output": prev.name, "input_kind": model.input.kind}).check()


def _lower_bidirectional(lay: LSTM | GRU, plans: dict[str, LayerPlanT], folded: dict[str, FoldedRecurrent],
                         prev: SCNode, records: list[LayerPlan]) -> tuple[list[SCNode], SCNode]:
    """A bidirectional layer as three netlist layers (docs/semantics.md, "Bidirectional layers"):
    the forward direction ``NAME`` and the backward one ``NAME.reverse`` -- each an ordinary
    recurrent datapath reading the same input node -- and ``NAME.concat``, one ``concat`` node
    (forward h_t, backward h_t) read from the sequence buffers."""
    cat = plans[concat_name(lay.name)]
    new: list[SCNode] = []
    outs = []
    for d, direction in zip(direction_layers(lay), ("forward", "backward")):
        plan = plans[d.name]
        low = lower_recurrent(d, plan, folded[d.name], prev.name)
        new.extend(low.nodes)
        records.append(LayerPlan(d.name, d.kind, plan.length,
                                 layer_options(plan, low.derived, folded[d.name], direction=direction,
                                               max_steps=cat.max_steps)))
        outs.append(next(nd for nd in low.nodes if nd.name == f"{d.name}.h"))
    f, b = outs
    out = node(cat.name, "concat", (f.name, b.name), (f.shape[0] + b.shape[0],), cat.name, "binary",
               (min(f.range[0], b.range[0]), max(f.range[1], b.range[1])))
    records.append(LayerPlan(cat.name, "concat", 0, LayerOptions(max_steps=cat.max_steps)))
    return [*new, out], out
