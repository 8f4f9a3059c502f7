"""Pass ``allocate_sources``: every SNG and WFSM comparator gets its own LFSR phase."""

from __future__ import annotations

import numpy as np

from ..sim.seeds import SourceAllocator
from .registry import CompileState, register_pass


@register_pass("allocate_sources", requires=("insert_sngs",),
               description="give every SNG and WFSM its own LFSR source (phase-spaced seeds), check capacity")
def allocate_sources(state: CompileState) -> None:
    cfg = state.config
    banks = [nd for nd in state.netlist if nd.op in ("sng", "wfsm")]
    need = sum(nd.size for nd in banks)
    max_len = max([p.length for p in state.netlist.layers] + [1])
    alloc = SourceAllocator(kind=cfg.source, width=cfg.lfsr_width, length=max_len, master_seed=cfg.seed,
                            max_sources=max(need, 1))
    seeds = alloc.bank_seeds(0, need) if need else np.zeros(0, dtype=np.uint64)
    nodes, k = [], 0
    for nd in state.netlist:
        if nd.op in ("sng", "wfsm"):
            key = "seeds" if nd.op == "sng" else "wseeds"
            nd = nd.replace(arrays={**nd.arrays, key: seeds[k:k + nd.size].reshape(nd.shape)},
                            params={**nd.params, "source_index": k})
            k += nd.size
        nodes.append(nd)
    state.netlist = state.netlist.with_nodes(nodes).replace(sources={
        "kind": cfg.source, "width": cfg.lfsr_width, "stride": cfg.lfsr_width, "master_seed": cfg.seed,
        "count": need, "spacing": alloc.spacing, "windows_disjoint": bool(alloc.windows_disjoint),
        "window_cycles": max_len})
