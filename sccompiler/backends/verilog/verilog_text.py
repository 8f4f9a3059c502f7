"""A small builder for Verilog-2005 text: a module's header comments, ports, declarations,
continuous assigns, instances, always blocks and comments, collected in named sections and
rendered once by :meth:`VerilogModule.text`.

Declarations are records (:class:`Decl`) until rendering, so a fact learned after a wire was
declared (no consumer reads it: waive Verilator's UNUSEDSIGNAL) is recorded on the record
instead of editing an already written line.  Every method writes exactly one construct; the
emitters decide what to write before calling it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: indentation of a module item, and of one nesting level inside it
INDENT = "    "
LINT_OFF = "/* verilator lint_off UNUSEDSIGNAL */"
LINT_ON = "/* verilator lint_on UNUSEDSIGNAL */"


def ident(name: str) -> str:
    """A netlist name as a safe Verilog identifier: every character outside ``[A-Za-z0-9_]``
    becomes ``_`` and a name not starting with a letter or ``_`` gets the prefix ``n_``, so no
    name (however it reached the netlist) can inject text into the RTL."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    return out if out[:1].isalpha() or out[:1] == "_" else f"n_{out}"


def concat(items) -> str:
    """``{items[-1], ..., items[0]}``: element 0 lands at bit 0."""
    return "{" + ", ".join(reversed(list(items))) + "}"


def sign_extend(expr: str, width: int, to: int) -> str:
    """A signed ``width``-bit signal sign-extended to ``to`` bits (a concatenation)."""
    if to == width:
        return expr
    return f"{{{{{to - width}{{{expr}[{width - 1}]}}}}, {expr}}}"


def vrange(width: int | None) -> str:
    """``[width-1:0] `` (with its trailing space), or nothing for a scalar."""
    return "" if width is None else f"[{width - 1}:0] "


@dataclass
class Decl:
    """A net or variable declaration: ``wire``/``reg``, optionally ``signed``, a packed range
    (None: scalar), one or more names, an initializer (wires only), a trailing comment, and an
    UNUSEDSIGNAL waiver (``unused``: None, or the reason, possibly empty) placed around the
    declaration (``waive_statement`` False: ``/*off*/ wire x /*on*/;``) or around the whole
    statement (``/*off*/ wire x = e; /*on*/``)."""

    kind: str
    names: tuple[str, ...]
    width: int | None = None
    signed: bool = False
    init: str | None = None
    comment: str | None = None
    unused: str | None = None
    waive_statement: bool = False

    def text(self) -> str:
        # "reg " padded to the width of "wire": the names of a block of declarations line up
        body = (f"{self.kind:<4} {'signed ' if self.signed else ''}{vrange(self.width)}{', '.join(self.names)}"
                + (f" = {self.init}" if self.init is not None else ""))
        note = f"   // {self.comment}" if self.comment else ""
        if self.unused is None:
            return f"{INDENT}{body};{note}"
        why = f"   // {self.unused}" if self.unused else ""
        if self.waive_statement:
            return f"{INDENT}{LINT_OFF} {body}; {LINT_ON}{why}"
        return f"{INDENT}{LINT_OFF} {body} {LINT_ON};{why}"


@dataclass
class Port:
    """One entry of a module's port list (``input  wire [w-1:0] name,   // comment``)."""

    direction: str          # "input" / "output"
    name: str
    width: int | None = None
    comment: str | None = None
    net: str = "wire"       # "reg" for an output driven by an always block

    def text(self, last: bool) -> str:
        note = f"   // {self.comment}" if self.comment else ""
        return f"{INDENT}{self.direction:<6} {self.net:<4} {vrange(self.width)}{self.name}{'' if last else ','}{note}"


class Section:
    """An ordered run of module items (lines and :class:`Decl` records); one method per construct."""

    def __init__(self) -> None:
        self.items: list = []

    def line(self, *lines: str) -> None:
        """Verbatim lines (already indented): a construct this builder has no method for."""
        self.items.extend(lines)

    def blank(self) -> None:
        self.items.append("")

    def comment(self, *texts: str) -> None:
        self.items.extend(f"{INDENT}// {t}" for t in texts)

    def decl(self, kind: str, names: str | tuple[str, ...] | list[str], width: int | None = None, *,
             signed: bool = False, init: str | None = None, comment: str | None = None, unused: str | None = None,
             waive_statement: bool = False) -> Decl:
        d = Decl(kind, (names,) if isinstance(names, str) else tuple(names), width, signed, init, comment, unused,
                 waive_statement)
        self.items.append(d)
        return d

    def wire(self, name: str, width: int | None = None, **kw) -> Decl:
        return self.decl("wire", name, width, **kw)

    def reg(self, name: str | tuple[str, ...], width: int | None = None, **kw) -> Decl:
        return self.decl("reg", name, width, **kw)

    def assign(self, lhs: str, rhs: str, comment: str | None = None) -> None:
        self.items.append(f"{INDENT}assign {lhs} = {rhs};" + (f"   // {comment}" if comment else ""))

    def instance(self, module: str, name: str, params: list[tuple[str, object]], ports: list[tuple[str, str]],
                 *, params_per_line: int | None = None, ports_below: bool = False) -> None:
        """``module #(.P(v), ...) name (.p(x), ...);``; ``params_per_line`` wraps the parameter
        list after that many, ``ports_below`` puts the connections on their own line."""
        head = f"{INDENT}{module}"
        if params:
            ps = [f".{k}({v})" for k, v in params]
            if params_per_line is not None and len(ps) > params_per_line:
                head += f" #({', '.join(ps[:params_per_line])},\n{INDENT * 2}{', '.join(ps[params_per_line:])})"
            else:
                head += f" #({', '.join(ps)})"
        conns = ", ".join(f".{k}({v})" for k, v in ports)
        sep = f"\n{INDENT * 2}" if ports_below else ""
        self.items.append(f"{head} {name} ({sep}{conns});")

    def always(self, event: str, statements: list[str]) -> None:
        """``always @(event) begin`` + statements (their relative indentation kept) + ``end``."""
        self.items.append(f"{INDENT}always @({event}) begin")
        self.items.extend(f"{INDENT * 2}{st}" for st in statements)
        self.items.append(f"{INDENT}end")

    def always_single(self, event: str, statement: str) -> None:
        """``always @(event) statement`` on one line."""
        self.items.append(f"{INDENT}always @({event}) {statement}")

    def case_table(self, target: str, select: str, entries: list[tuple[str, str]], default: str) -> None:
        """A combinational ``case`` assigning the reg ``target`` per value of ``select``."""
        self.always("*", [f"case ({select})",
                          *[f"{INDENT}{k}: {target} = {v};" for k, v in entries],
                          f"{INDENT}default: {target} = {default};",
                          "endcase"])

    def lines(self) -> list[str]:
        return [it.text() if isinstance(it, Decl) else it for it in self.items]


@dataclass
class VerilogModule:
    """One module: header comment lines, a name, optional ``parameters``, its ports (or one
    inline port list such as a testbench's ``input wire clk``), and named sections of items
    rendered in the order the sections were first asked for."""

    name: str
    comments: list[str] = field(default_factory=list)
    parameters: str | None = None       # e.g. "parameter integer FINISH = 1"
    inline_ports: str | None = None     # e.g. "input wire clk"
    ports: list[Port] = field(default_factory=list)
    sections: dict[str, Section] = field(default_factory=dict)

    def section(self, name: str) -> Section:
        """The section ``name`` (created after the existing ones on first use)."""
        return self.sections.setdefault(name, Section())

    def port(self, direction: str, name: str, width: int | None = None, comment: str | None = None,
             net: str = "wire") -> None:
        self.ports.append(Port(direction, name, width, comment, net))

    def text(self) -> str:
        params = f" #({self.parameters})" if self.parameters else ""
        if self.inline_ports is not None:
            head = [f"module {self.name}{params} ({self.inline_ports});"]
        elif not self.ports:
            head = [f"module {self.name}{params};"]
        else:
            head = [f"module {self.name}{params} (",
                    *[p.text(k == len(self.ports) - 1) for k, p in enumerate(self.ports)], ");"]
        body = [ln for sec in self.sections.values() for ln in sec.lines()]
        return "\n".join(self.comments + head + body + ["endmodule", ""])
