"""Pass ``gate_zero_inputs``: exact inputs that are zero switch their XNORs off.

An ``xnor_apc`` bank whose operand streams encode an exact input (values {-s, 0, s}: binary or
one-hot/ternary model inputs, ternary embeddings) reads the input's values as well: a zero
operand contributes exactly 0 to the row's APC instead of the random +-1 of a p = 1/2 stream.
The mean is unchanged (E[2b - 1] = 0 either way), but on a one-hot input of V symbols the V - 1
zero streams were pure noise in every gate's APC (spread sqrt(V - 1) per cycle), which a gate FSM
cannot average away (E[f(d)] != f(E[d])).  Hardware: one AND per weight-active operand with the
input's "nonzero" bit, and the APC subtracts the number of enabled operands instead of a constant
(docs/compiler.md §3).  Disabled: zeros are streams of value 0.
"""

from __future__ import annotations

from .registry import CompileState, register_pass


@register_pass("gate_zero_inputs", optional=True, requires=("lower_layers",),
               description="exact inputs that are zero switch their XNORs off (as zero ternary weights do)")
def gate_zero_inputs(state: CompileState) -> None:
    by_name = {nd.name: nd for nd in state.netlist}
    gated, out = [], []
    for nd in state.netlist:
        if nd.op == "xnor_apc" and len(nd.inputs) == 1:
            enc = by_name[nd.inputs[0]]
            src = by_name.get(enc.inputs[0]) if enc.op == "encode" and enc.inputs else None
            if src is not None and src.op == "input" and src.params.get("exact"):
                nd = nd.replace(inputs=(nd.inputs[0], src.name), params={**nd.params, "gated": True})
                gated.append(nd.name)
        out.append(nd)
    state.netlist = state.netlist.with_nodes(out).check()
    state.info["gated_banks"] = gated
