"""The naming table: every layer and netlist-node name that reaches the RTL becomes a legal, unique
Verilog-2005 identifier, deterministically.

Model layer names come from users and frontends (torch's ONNX exporter names layers ``rnn.LSTM``,
``rnn.LSTM_1``, ``/fc/Gemm`` ...); Verilog identifiers are ``[A-Za-z_][A-Za-z0-9_$]*`` and must not
be keywords.  :class:`NameTable` maps each layer name to an identifier:

* a name that already is a legal identifier, not a keyword nor a name the top itself declares
  (``clk``, ``rst``, ``busy`` ...), and not the sanitized form of an earlier name, is kept as is
  (so existing designs emit the same text);
* otherwise every character outside ``[A-Za-z0-9_]`` becomes ``_``, a leading digit (or an empty
  name) gets the prefix ``n_``, a keyword or reserved name gets a trailing ``_``, and a clash with
  an identifier already handed out gets ``_2``, ``_3``, ... (the first free one);
* names are assigned in the order given (the netlist's layer order), so the table is a pure
  function of that list.

A node ``<layer>.<suffix>`` (the compiler's convention) becomes ``<layer id>_<suffix>`` with the
suffix sanitized the same way, deduplicated against every identifier handed out.  The emitters
never write a layer or node name into the RTL except through a table (comments quote the original
through :func:`comment_text`); the table's :meth:`NameTable.to_json` goes into ``manifest.json``
and :meth:`NameTable.comment_lines` into the top's header.
"""

from __future__ import annotations

import re
from typing import Iterable

#: Verilog-2005 (IEEE 1364-2005 Annex B) and SystemVerilog keywords: identifiers must avoid them
#: (Verilator parses SystemVerilog keywords in Verilog files too)
VERILOG_KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign default
defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive
endspecify endtable endtask event for force forever fork function generate genvar highz0 highz1 if
ifnone incdir include initial inout input instance integer join large liblist library localparam
macromodule medium module nand negedge nmos nor noshowcancelled not notif0 notif1 or output parameter
pmos posedge primitive pull0 pull1 pulldown pullup pulsestyle_onevent pulsestyle_ondetect rcmos real
realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled signed small
specify specparam strong0 strong1 supply0 supply1 table task time tran tranif0 tranif1 tri tri0 tri1
triand trior trireg unsigned use uwire vectored wait wand weak0 weak1 while wire wor xnor xor
alias always_comb always_ff always_latch assert assume before bind bins binsof bit break byte chandle
class clocking const constraint context continue cover covergroup coverpoint cross dist do endclass
endclocking endgroup endinterface endpackage endprogram endproperty endsequence enum expect export
extends extern final first_match foreach forkjoin iff ignore_bins illegal_bins import inside int
interface intersect join_any join_none local logic longint matches modport new null package packed
priority program property protected pure rand randc randcase randsequence ref return sequence
shortint shortreal solve static string struct super tagged this throughout timeprecision timeunit
type typedef union unique var virtual void wait_order wildcard with within
""".split())
#: names the SC top and its testbench declare themselves (ports, control, testbench state)
RESERVED = frozenset({"clk", "rst", "start", "n_steps", "x_in", "busy", "done", "x_step", "valid",
                      "out_step", "phase", "errors", "seq", "cyc", "seen", "finished", "dut"})
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sanitize(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9_]`` replaced by ``_`` and the prefix
    ``n_`` when it would not start with a letter or ``_`` (legal, possibly a keyword)."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    return out if out[:1].isalpha() or out[:1] == "_" else f"n_{out}"


def legal(name: str) -> bool:
    """True when ``name`` is a Verilog identifier that is no keyword."""
    return bool(IDENTIFIER.match(name)) and name not in VERILOG_KEYWORDS


def comment_text(name: str) -> str:
    """An original name as it may appear in a ``//`` comment: as is when it holds only
    ``[A-Za-z0-9_.:/-]``, else ``ascii``-quoted (one printable line: no character of it can end the
    comment or be read as code)."""
    name = str(name)
    return name if re.fullmatch(r"[A-Za-z0-9_.:/\-]*", name) else ascii(name)


class NameTable:
    """Layer name -> identifier and node name -> identifier, legal, unique and deterministic."""

    def __init__(self, layers: Iterable[str], nodes: Iterable[tuple[str, str]] = (),
                 reserved: Iterable[str] = RESERVED) -> None:
        self._used: set[str] = set(reserved)
        self.layers: dict[str, str] = {}
        self.nodes: dict[str, str] = {}
        for name in layers:
            if name not in self.layers:
                self.layers[name] = self._claim(name)
        for name, layer in nodes:
            if name in self.nodes:
                continue
            if layer in self.layers and name.startswith(f"{layer}."):
                want = f"{self.layers[layer]}_{re.sub(r'[^A-Za-z0-9_]', '_', name[len(layer) + 1:])}"
            else:
                want = sanitize(name)
            self.nodes[name] = self._claim(want)

    @classmethod
    def for_netlist(cls, netlist) -> "NameTable":
        """The table of an SC netlist: its layers in order, then its nodes."""
        return cls([p.name for p in netlist.layers], [(n.name, n.layer) for n in netlist.nodes])

    def _claim(self, name: str) -> str:
        base = sanitize(name)
        if base in VERILOG_KEYWORDS or base in self._used and base != name:
            base = f"{base}_"
        out, k = base, 2
        while out in self._used or out in VERILOG_KEYWORDS:
            out, k = f"{base}_{k}", k + 1
        self._used.add(out)
        return out

    def layer(self, name: str) -> str:
        """The identifier of layer ``name`` (KeyError for a layer not in the table)."""
        return self.layers[name]

    def node(self, name: str) -> str:
        """The identifier of node ``name`` (KeyError for a node not in the table)."""
        return self.nodes[name]

    @property
    def renamed(self) -> dict[str, str]:
        """The layer names whose identifier differs from the name (node names always differ: their
        ``.`` becomes ``_``)."""
        return {k: v for k, v in self.layers.items() if k != v}

    def to_json(self) -> dict:
        """``{"layers": {name: identifier}, "nodes": {name: identifier}}`` for the manifest."""
        return {"layers": dict(self.layers), "nodes": dict(self.nodes)}

    def comment_lines(self) -> list[str]:
        """``//`` lines naming each renamed layer's original (nodes follow their layer's rename)."""
        renamed = self.renamed
        if not renamed:
            return []
        return ["// layer names as Verilog identifiers (original name -> identifier):",
                *[f"//   {comment_text(k)} -> {v}" for k, v in renamed.items()]]
