"""Names reaching Verilog: layer names are checked at load time, and every identifier the
emitter writes is mapped to ``[A-Za-z_][A-Za-z0-9_]*``."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sccompiler.backends.verilog.verilog_text import ident
from sccompiler.errors import ModelFormatError
from sccompiler.frontends.native import check_layer_name

VERILOG_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@pytest.mark.parametrize("name", ["", "../evil", "a/../b", "a/b", "a b", 'x; initial $system("id"); //', "a..b",
                                  ".hidden", "-x", "x" * 129, "é", "a\nb", None, 3])
def test_bad_layer_names_refused(name):
    with pytest.raises(ModelFormatError, match="invalid layer name"):
        check_layer_name(name)


@pytest.mark.parametrize("name", ["lstm0", "0", "rnn.l0", "head-1", "_x", "a.b.c"])
def test_good_layer_names_accepted(name):
    assert check_layer_name(name) == name


@settings(max_examples=200, deadline=1000)
@given(st.text(min_size=1, max_size=40))
def test_ident_is_always_a_plain_verilog_identifier(name):
    assert VERILOG_IDENT.fullmatch(ident(name))


def test_ident_keeps_the_usual_mapping():
    assert ident("lstm0.gates-s") == "lstm0_gates_s" and ident("0") == "n_0"
