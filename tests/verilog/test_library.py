"""The emitted library as text (no tools needed): the LFSR XOR network is exactly `stride` Galois
steps for every width, names are deterministic, and synthesizable files carry no
simulation-only constructs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sim.naive import lfsr_leap  # the naive reading of the contract (tests/sim)

from sccompiler.backends.verilog.library import (
    FIXED_MODULES,
    closure,
    emit_lfsr,
    emit_library,
    lfsr_module_name,
    module_text,
)
from sccompiler.errors import SCValueError
from sccompiler.sim.sources import TAPS


def _network(width: int, stride: int):
    """Parse ``assign next_state[i] = state[a] ^ state[b] ...;`` into row lists."""
    rows = {}
    for m in re.finditer(r"assign next_state\[(\d+)\] = ([^;]+);", emit_lfsr(width, stride)):
        rows[int(m.group(1))] = [int(j) for j in re.findall(r"state\[(\d+)\]", m.group(2))]
    assert sorted(rows) == list(range(width))
    return rows


def _apply(rows, s: int) -> int:
    out = 0
    for i, js in rows.items():
        out |= (sum((s >> j) & 1 for j in js) & 1) << i
    return out


@given(width=st.integers(3, 32), stride=st.sampled_from([1, 2, 3, 7, 16, 32, 33, 100]),
       data=st.data())
def test_emitted_network_is_stride_galois_steps(width, stride, data):
    rows = _network(width, stride)
    for s in (1, (1 << width) - 1, data.draw(st.integers(1, (1 << width) - 1))):
        assert _apply(rows, s) == lfsr_leap(s, width, stride)


def test_default_stride_and_names():
    assert lfsr_module_name(16) == f"sc_lfsr_w16_t{TAPS[16]:x}_s16"
    assert emit_lfsr(16) == emit_lfsr(16, 16)
    assert module_text(lfsr_module_name(9, 4)) == emit_lfsr(9, 4)
    assert lfsr_module_name(9, 4, enable=True) == lfsr_module_name(9, 4) + "_en"
    assert module_text(lfsr_module_name(9, 4, enable=True)) == emit_lfsr(9, 4, enable=True)
    for bad in ("sc_lfsr_w16_t1_s16", "sc_lfsr_wx", "sc_nothing", "sc_lfsr_w16_t1_s16_en", "sc_lfsr_wx_en"):
        with pytest.raises(SCValueError):
            module_text(bad)
    with pytest.raises(SCValueError):
        emit_lfsr(33)
    with pytest.raises(SCValueError):
        emit_lfsr(8, 0)


def test_closure_puts_dependencies_first():
    order = closure(["sc_wfsm", "sc_apc_bipolar", "sc_apc"])
    assert order.index("sc_fsm_lin") < order.index("sc_wfsm")
    assert order.index("sc_apc") < order.index("sc_apc_bipolar")
    assert len(order) == len(set(order))


@pytest.mark.parametrize("name", sorted(FIXED_MODULES) + [lfsr_module_name(12, 5), lfsr_module_name(12, 5, True)])
def test_synthesizable_text(name):
    text = module_text(name)
    assert text.startswith(f"// {name}: ") and "docs/semantics.md, §" in text
    assert re.search(rf"^module {name}\b", text, re.MULTILINE)
    code = "\n".join(ln.split("//")[0] for ln in text.splitlines())
    for forbidden in ("initial", "$display", "#(1", "#1", "$finish", "logic", "always_ff", "`"):
        assert forbidden not in code, forbidden
    assert "posedge clk" in code or "always @(posedge" not in code


def test_library_contains_each_module_once():
    text = emit_library()
    for name in FIXED_MODULES:
        assert len(re.findall(rf"^module {name}\b", text, re.MULTILINE)) == 1


@pytest.mark.hw
def test_lfsr_with_enable_holds_in_disabled_cycles(tmp_path):
    """The ``_en`` LFSR advances exactly in the cycles with en high: its r sequence is the plain
    LFSR's with each value repeated while en is low (en pattern: low every third cycle)."""
    from sccompiler.backends.verilog.tools import run_icarus  # noqa: PLC0415
    from sccompiler.testing import require_tool  # noqa: PLC0415

    require_tool("iverilog")
    require_tool("vvp")
    w, cycles, seed = 10, 40, 0x2a5
    tb = f"""module lfsr_en_tb (input wire clk);
    reg rst = 1'b1; reg [7:0] cyc = 0;
    wire en = (cyc % 3) != 2;
    wire [{w - 1}:0] r;
    {lfsr_module_name(w, enable=True)} #(.SEED({w}'h{seed:x})) u (.clk(clk), .rst(rst), .en(en), .r(r));
    always @(posedge clk) begin
        cyc <= cyc + 1;
        if (cyc == 0) rst <= 1'b0;
        else begin
            $display("R %0d %0d", en, r);
            if (cyc == {cycles}) $finish;
        end
    end
endmodule
"""
    (tmp_path / "lfsr.v").write_text(emit_lfsr(w, enable=True))
    (tmp_path / "tb.v").write_text(tb)
    res = run_icarus([tmp_path / "lfsr.v", tmp_path / "tb.v"], "lfsr_en_tb")
    rows = [tuple(int(v) for v in ln.split()[1:]) for ln in res.stdout.splitlines() if ln.startswith("R ")]
    assert len(rows) == cycles
    state, expect = seed, []
    for en, _ in rows:
        expect.append(state)
        if en:
            state = lfsr_leap(state, w, w)
    assert [r for _, r in rows] == expect
