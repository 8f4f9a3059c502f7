"""Pass ``insert_sngs``: every value -> stream crossing (``encode``) becomes an SNG bank.

Each ``encode`` node (a value that must become a bit stream: inputs, gate values, stored c and
h, bias constants) becomes an ``sng`` bank with the layer's comparator width n (``sng_bits``,
default max(4, ceil(log2 L)): the SNG's quantization 2^-n stays below the 1/sqrt(L) stream
noise).  Sources and seeds are the next pass's job.
"""

from __future__ import annotations

from .registry import CompileState, register_pass


@register_pass("insert_sngs", requires=("lower_layers",),
               description="turn every value->stream crossing (encode) into an SNG bank: comparator width, encoding")
def insert_sngs(state: CompileState) -> None:
    nodes, count = [], 0
    for node in state.netlist:
        if node.op == "encode":
            node = node.replace(op="sng", params={**node.params, "bits": int(state.plans[node.layer].sng_bits)})
            count += node.size
        nodes.append(node)
    state.netlist = state.netlist.with_nodes(nodes).check()
    state.info["sngs"] = count
