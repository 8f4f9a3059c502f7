"""Co-simulation testbenches: drive per-cycle vectors, compare per-cycle expectations.

A :class:`Harness` collects DUT instances (Verilog text), driven signals (one value per cycle)
and checks (an expected value per cycle, or one final value), then renders

* ``<name>.v``: a module ``<name>(input clk)`` (simulation only, Verilog-2005, no delays, so the
  same file runs under Verilator with a C++ main) and, outside Verilator, ``<name>_run``, which
  clocks it (``iverilog -g2005 -s <name>_run ... && vvp ...``);
* ``<name>_in.hex`` / ``<name>_exp.hex``: ``$readmemh`` vectors, one packed word per cycle.

Timeline (the contract's cycle semantics): the first clock edge is taken with ``rst = 1``; then
for t = 0..L-1 the inputs of cycle t are applied and, at the rising edge that ends cycle t, every
per-cycle check compares the combinational outputs (functions of the registers at the START of
cycle t and the cycle's inputs) before the registers update.  Final checks compare at the edge
that ends cycle L, i.e. the register values after L updates.  The testbench prints
``MISMATCH cycle=<t> check=<label> expected=<hex> got=<hex>`` (first few per check), one line
``CHECK <label> errors=<n>`` per check, then ``PASS`` or ``FAIL mismatches=<n>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import SCValueError

#: mismatches printed per check
MAX_REPORTED = 5
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(param: str, name: str) -> str:
    if not _IDENT.match(name):
        raise SCValueError(param, f"must be a Verilog identifier, got {name!r}")
    return name


def _as_ints(values, length: int, width: int, param: str) -> list[int]:
    arr = np.asarray(values)
    if arr.shape != (length,):
        raise SCValueError(param, f"needs {length} per-cycle values, got shape {arr.shape}")
    mask = (1 << width) - 1
    return [int(v) & mask for v in arr.tolist()]  # two's complement for signed values


@dataclass
class _Signal:
    name: str
    width: int
    values: list[int]
    signed: bool = False


@dataclass
class _Check:
    label: str
    expr: str
    width: int
    values: list[int] | None  # per cycle
    final: int | None = None


@dataclass
class Harness:
    """A testbench under construction; see the module docstring."""

    name: str
    length: int
    body: list[str] = field(default_factory=list)
    _inputs: list[_Signal] = field(default_factory=list)
    _checks: list[_Check] = field(default_factory=list)

    def __post_init__(self) -> None:
        _ident("name", self.name)
        if not isinstance(self.length, int) or self.length < 1:
            raise SCValueError("length", f"must be an integer >= 1, got {self.length!r}")

    def add(self, verilog: str) -> None:
        """Append declarations / instances to the testbench body (may use ``clk``, ``rst``)."""
        self.body.append(verilog)

    def drive(self, name: str, width: int, values, signed: bool = False) -> str:
        """Declare a wire ``name`` carrying ``values[t]`` in cycle t; returns its name."""
        _ident("name", name)
        self._inputs.append(_Signal(name, width, _as_ints(values, self.length, width, name), signed))
        return name

    def check(self, label: str, expr: str, width: int, values) -> None:
        """Compare ``expr`` (``width`` bits) with ``values[t]`` at the end of every cycle t."""
        _ident("label", label)
        self._checks.append(_Check(label, expr, width, _as_ints(values, self.length, width, label)))

    def check_final(self, label: str, expr: str, width: int, value: int) -> None:
        """Compare ``expr`` with ``value`` after L clock cycles."""
        _ident("label", label)
        self._checks.append(_Check(label, expr, width, None, int(value) & ((1 << width) - 1)))

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self._checks]

    # ------------------------------------------------------------------ rendering
    def _pack(self, items: list[tuple[int, list[int]]]) -> tuple[int, list[str]]:
        total = sum(w for w, _ in items)
        words = []
        for t in range(self.length):
            word, shift = 0, 0
            for w, vals in items:
                word |= vals[t] << shift
                shift += w
            words.append(f"{word:x}")
        return total, words

    def render(self) -> dict[str, str]:
        """File name -> text of the testbench and its vectors."""
        if len({c.label for c in self._checks}) != len(self._checks):
            raise SCValueError("label", "check labels must be unique")
        per_cycle = [c for c in self._checks if c.values is not None]
        in_w, in_words = self._pack([(s.width, s.values) for s in self._inputs])
        ex_w, ex_words = self._pack([(c.width, c.values) for c in per_cycle])
        n = self.length
        lines = [
            f"// {self.name}: co-simulation testbench (simulation only; generated by",
            "// sccompiler.backends.verilog.harness).  See that module for the timeline.",
            f"module {self.name} (",
            "    input wire clk",
            ");",
            f"    localparam integer L = {n};",
            "    integer cyc;",
            "    integer t;",
            "    integer total_errors;",
            "    reg rst;",
            "    initial begin",
            "        cyc = 0;",
            "        total_errors = 0;",
            "    end",
            "    always @* begin",
            "        rst = (cyc == 0);",
            "        t = (cyc == 0) ? 0 : ((cyc > L) ? L - 1 : cyc - 1);",
            "    end",
        ]
        files: dict[str, str] = {}
        if self._inputs:
            lines += [f"    reg [{in_w - 1}:0] in_mem [0:L-1];",
                      f"    initial $readmemh(\"{self.name}_in.hex\", in_mem);",
                      f"    wire [{in_w - 1}:0] in_now = in_mem[t];"]
            shift = 0
            for s in self._inputs:
                sg = "signed " if s.signed else ""
                lines.append(f"    wire {sg}[{s.width - 1}:0] {s.name} = in_now[{shift + s.width - 1}:{shift}];")
                shift += s.width
            files[f"{self.name}_in.hex"] = "\n".join(in_words) + "\n"
        if per_cycle:
            lines += [f"    reg [{ex_w - 1}:0] exp_mem [0:L-1];",
                      f"    initial $readmemh(\"{self.name}_exp.hex\", exp_mem);",
                      f"    wire [{ex_w - 1}:0] exp_now = exp_mem[t];"]
            files[f"{self.name}_exp.hex"] = "\n".join(ex_words) + "\n"
        lines += self.body
        shift = 0
        for i, c in enumerate(self._checks):
            lines.append(f"    integer err_{i};")
            lines.append(f"    initial err_{i} = 0;")
            if c.values is not None:
                lines.append(f"    wire [{c.width - 1}:0] exp_{i} = exp_now[{shift + c.width - 1}:{shift}];")
                shift += c.width
            else:
                lines.append(f"    wire [{c.width - 1}:0] exp_{i} = {c.width}'h{c.final:x};")
            lines.append(f"    wire [{c.width - 1}:0] got_{i} = {c.expr};")
        lines.append("    always @(posedge clk) begin")
        for i, c in enumerate(self._checks):
            when = "cyc >= 1 && cyc <= L" if c.values is not None else "cyc == L + 1"
            lines += [
                f"        if (({when}) && got_{i} !== exp_{i}) begin",
                f"            if (err_{i} < {MAX_REPORTED})",
                f"                $display(\"MISMATCH cycle=%0d check={c.label} expected=%h got=%h\",",
                f"                         {('t' if c.values is not None else 'L')}, exp_{i}, got_{i});",
                f"            err_{i} = err_{i} + 1;",
                "            total_errors = total_errors + 1;",
                "        end",
            ]
        lines.append("        if (cyc == L + 1) begin")
        for i, c in enumerate(self._checks):
            lines.append(f"            $display(\"CHECK {c.label} errors=%0d\", err_{i});")
        lines += [
            "            if (total_errors == 0) $display(\"PASS checks=%0d cycles=%0d\", "
            f"{len(self._checks)}, L);",
            "            else $display(\"FAIL mismatches=%0d\", total_errors);",
            "            $finish;",
            "        end",
            "        cyc <= cyc + 1;",
            "    end",
            "endmodule",
            "",
            "`ifndef VERILATOR",
            "// Free-running clock for event-driven simulators (Icarus: iverilog -s "
            f"{self.name}_run ...).",
            "// Verilator drives clk from its C++ main instead (tools.run_verilator).",
            f"module {self.name}_run;",
            "    reg clk;",
            "    initial clk = 1'b0;",
            "    always #5 clk = ~clk;",
            f"    {self.name} tb (.clk(clk));",
            "endmodule",
            "`endif",
        ]
        files[f"{self.name}.v"] = "\n".join(lines) + "\n"
        return files

    def write(self, directory: str | Path) -> Path:
        """Write the testbench files into ``directory``; returns the path of the ``.v`` file."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for fname, text in self.render().items():
            (d / fname).write_text(text)
        return d / f"{self.name}.v"


def parse_results(stdout: str) -> dict[str, int]:
    """``CHECK <label> errors=<n>`` lines of a harness run -> {label: n}."""
    out = {}
    for m in re.finditer(r"^CHECK (\w+) errors=(\d+)\s*$", stdout, re.MULTILINE):
        out[m.group(1)] = int(m.group(2))
    return out


def mismatches(stdout: str) -> list[str]:
    """The MISMATCH lines of a harness run."""
    return [ln for ln in stdout.splitlines() if ln.startswith("MISMATCH")]
