"""The SC netlist's op handlers, by family, and the table dispatching each ``node.op`` to its
handler ``handler(emitter, node)``:

* :mod:`.sources` -- the input port, embedding lookup, SNG banks (LFSR + comparator);
* :mod:`.tables` -- gate tables and the threshold ROMs over their pre-activations / state counts;
* :mod:`.arith` -- XNOR / MUX gates, XNOR + APC banks, APCs, sign flips, slices;
* :mod:`.fsm` -- weighted FSMs (one table, or a per-step bank of tables);
* :mod:`.counters` -- up and up/down counters, decoders, state registers;
* :mod:`.dense` -- the binary XNOR-popcount product and the dense head's host affine;
* :mod:`.sequence` -- a bidirectional layer's sequence buffers and its ``concat``.
"""

from __future__ import annotations

from . import arith, counters, dense, fsm, sequence, sources, tables

#: node.op -> handler(emitter, node)
HANDLERS = {op: handler for family in (sources, tables, arith, fsm, counters, dense, sequence)
            for op, handler in family.HANDLERS.items()}
