"""Pass ``allocate_sources``: the random-source registers of the design and the bits each
comparator reads (docs/semantics.md §2.4).

``sources: private`` gives every SNG element and WFSM weight comparator its own LFSR (phase-spaced
seeds of one m-sequence).  ``sources: shared`` (:mod:`sccompiler.sharing`) colours the
comparators' conflict graph and gives each colour a window of disjoint bits of few shared
registers; comparators whose streams only meet zero weights are pruned in both modes.
``source: sobol | auto`` puts all comparators (or those whose streams feed no FSM) on Sobol
registers (docs/semantics.md §2.5).
"""

from __future__ import annotations

from ..sharing import allocate
from .registry import CompileState, register_pass


@register_pass("allocate_sources", requires=("insert_sngs",),
               description="source registers (private or shared by conflict-graph colouring), the bits each "
                           "comparator reads, pruning of comparators that meet only zero weights")
def allocate_sources(state: CompileState) -> None:
    cfg = state.config
    state.netlist, summary = allocate(state.netlist, mode=cfg.sources, width=cfg.lfsr_width, seed=cfg.seed,
                                      kind=cfg.source, fanout=cfg.source_fanout)
    state.info["sources"] = summary
