"""Legal Verilog identifiers for every layer / node name (backends/verilog/names.py): the mapping
is legal, unique and deterministic (property test), keeps legal names, and a torch-exported ONNX
model (layer names ``rnn.LSTM``, ``rnn.LSTM_1``, ``fc.MatMul``) compiles, emits and co-simulates
bit for bit under Icarus and Verilator (before the table, the RTL said ``reg [6:0] rnn.LSTM_cyc;``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from compiler.models import FAST  # tests/compiler (tests/ is on sys.path)
from hypothesis import given, settings
from hypothesis import strategies as st

from sccompiler.backends.verilog.design import emit_design, verify_design
from sccompiler.backends.verilog.names import IDENTIFIER, RESERVED, VERILOG_KEYWORDS, NameTable, comment_text
from sccompiler.design import compile_model
from sccompiler.quantize import quantize_model
from sccompiler.testing import require_tool, require_torch

NAMES = st.lists(st.one_of(st.text(min_size=0, max_size=12),
                           st.sampled_from(["rnn.LSTM", "rnn_LSTM", "rnn.LSTM_1", "reg", "wire", "input",
                                            "clk", "1abc", "n_1abc", "a b", "a_b", "a__b", "", "_", "module"])),
                 min_size=1, max_size=12, unique=True)


@settings(max_examples=300, deadline=None)
@given(NAMES, st.lists(st.text(max_size=6), max_size=6))
def test_mapping_is_legal_unique_deterministic(layers, suffixes):
    nodes = [(f"{lay}.{s}", lay) for lay in layers for s in suffixes]
    table = NameTable(layers, nodes)
    ids = list(table.layers.values()) + list(table.nodes.values())
    for v in ids:
        assert IDENTIFIER.match(v), v
        assert v not in VERILOG_KEYWORDS and v not in RESERVED, v
    assert len(set(ids)) == len(ids)                    # layers and nodes together
    assert set(table.layers) == set(layers) and set(table.nodes) == {n for n, _ in nodes}
    again = NameTable(list(layers), list(nodes))
    assert again.to_json() == table.to_json()
    for i, lay in enumerate(layers):                    # a legal name no earlier layer took is kept
        if IDENTIFIER.match(lay) and lay not in VERILOG_KEYWORDS and lay not in RESERVED and \
                lay not in [table.layer(o) for o in layers[:i]]:
            assert table.layer(lay) == lay


def test_examples():
    t = NameTable(["rnn.LSTM", "rnn_LSTM", "rnn.LSTM_1", "reg", "7up", "clk"],
                  [("rnn.LSTM.c_cnt", "rnn.LSTM"), ("rnn_LSTM.c_cnt", "rnn_LSTM")])
    assert t.layers == {"rnn.LSTM": "rnn_LSTM", "rnn_LSTM": "rnn_LSTM_2", "rnn.LSTM_1": "rnn_LSTM_1",
                        "reg": "reg_", "7up": "n_7up", "clk": "clk_2"}
    assert t.nodes == {"rnn.LSTM.c_cnt": "rnn_LSTM_c_cnt", "rnn_LSTM.c_cnt": "rnn_LSTM_2_c_cnt"}
    assert t.renamed["reg"] == "reg_"
    assert NameTable(["lstm0", "head"], [("lstm0.c_cnt", "lstm0")]).renamed == {}
    assert comment_text("rnn.LSTM") == "rnn.LSTM"
    assert "\n" not in comment_text("a\n$finish;") and comment_text("a\n$finish;").startswith("'")


@pytest.fixture(scope="module")
def torch_design(tmp_path_factory):
    torch = require_torch()
    from sccompiler.frontends.onnx_frontend import load_onnx

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y)

    d = tmp_path_factory.mktemp("names")
    with pytest.warns(Warning):      # the legacy exporter's deprecation / batch-size warnings
        torch.onnx.export(Net().eval(), torch.randn(1, 5, 3), str(d / "m.onnx"), dynamo=False, opset_version=17)
    model = load_onnx(d / "m.onnx")
    assert [lay.name for lay in model.layers] == ["rnn.LSTM", "rnn.LSTM_1", "fc.MatMul"]
    x = np.random.default_rng(0).choice([-1.0, 0.0, 1.0], size=(2, 3, 3))
    design = compile_model(quantize_model(model, "binary"),
                           {"length": 16, "defaults": {"hidden": "sign", "sign_from": "output"}, **FAST},
                           calibration=x)
    emit_design(design, d / "out", inputs=x)
    return d / "out"


def test_torch_names_reach_rtl_as_identifiers(torch_design):
    top = (torch_design / "rtl" / "sc_design.v").read_text()
    code = "\n".join(ln.split("//")[0] for ln in top.splitlines())
    assert "rnn.LSTM" not in code and "rnn_LSTM_cyc" in code and "rnn_LSTM_1_cyc" in code
    assert "//   rnn.LSTM -> rnn_LSTM" in top                # the original name in a comment
    man = json.loads((torch_design / "tb" / "manifest.json").read_text())
    assert man["names"]["layers"] == {"rnn.LSTM": "rnn_LSTM", "rnn.LSTM_1": "rnn_LSTM_1", "fc.MatMul": "fc_MatMul"}
    assert man["names"]["nodes"]["rnn.LSTM.c_cnt"] == "rnn_LSTM_c_cnt"
    assert {c["node"] for c in man["checks"]} >= {"rnn.LSTM.c_cnt", "rnn.LSTM_1.h_cnt"}   # originals


@pytest.mark.hw
@pytest.mark.parametrize("simulator, programs", [("icarus", ("iverilog", "vvp")), ("verilator", ("verilator",))])
def test_torch_names_cosimulate(torch_design, simulator, programs):
    for prog in programs:
        require_tool(prog)
    passed, res = verify_design(torch_design, simulator)
    assert passed, res.stdout[-2000:]
