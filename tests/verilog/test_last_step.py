"""Sequence-level heads in RTL: a dense head after a ``last_step`` layer runs once per sequence
(a streamed head is launched when the last recurrent layer finishes its last step; an exact head
is read in the flush cycle), ``valid`` is high once per sequence with ``out_step = T - 1``, and
the testbench checks the head there against the runtime, bit for bit, under Icarus and
Verilator -- including a torch-exported ``fc(h_n[-1])`` GRU classifier."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from compiler.models import FAST, SIGN_OUT, gru_model, lstm_model
from test_frontends_last_step import classifier, export_onnx

from sccompiler.backends.verilog.design import emit_design, verify_design
from sccompiler.backends.verilog.tools import verilator_lint
from sccompiler.cost.timing import netlist_timing
from sccompiler.design import compile_model
from sccompiler.frontends.onnx_frontend import load_onnx
from sccompiler.ir.model import LastStep, Linear, Tensor
from sccompiler.quantize import quantize_model
from sccompiler.testing import require_tool


def _with_last_step(model, head: int = 0, seed: int = 0):
    k = max(i for i, lay in enumerate(model.layers) if lay.kind in ("lstm", "gru"))
    layers = model.layers[:k + 1] + (LastStep("last"),) + model.layers[k + 1:]
    if head:
        rng = np.random.default_rng(seed)
        H = model.layers[k].hidden_size
        w = Tensor(np.where(rng.random((head, H)) < 0.5, -0.2, 0.2))
        layers += (Linear("head", in_size=H, out_size=head, weight=w, bias=Tensor(rng.normal(0, 0.1, head))),)
    return model.with_layers(layers)


def _exact(shape, seed):
    return np.random.default_rng(seed).choice([-1.0, 0.0, 1.0], size=shape)


def _real(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


#: name -> (model, config, inputs)
CASES = {
    # exact inputs, table gates, sign(h): an exact (XNOR-popcount) head read in the flush cycle
    "exact_head": lambda: (_with_last_step(lstm_model(I=3, H=4, dense=2, seed=1)),
                           {"length": 16, "defaults": SIGN_OUT, **FAST}, _exact((2, 4, 3), 1)),
    # real inputs, integral WFSM gates, stream h: a streamed head launched after the last step
    "stream_head": lambda: (_with_last_step(lstm_model(I=2, H=3, dense=2, seed=2)),
                            {"length": 16, **FAST}, _real((2, 3, 2), 2)),
    "stream_head_2layers": lambda: (_with_last_step(lstm_model(I=2, H=3, layers=2, dense=2, seed=3)),
                                    {"length": 16, **FAST}, _real((2, 4, 2), 3)),
    "gru_stream_head_T1": lambda: (_with_last_step(gru_model(I=2, H=3, layers=1, seed=4), head=2, seed=4),
                                   {"length": 16, **FAST}, _real((2, 1, 2), 4)),
    # no head: the last step's h is the output (the recurrent layer's checks, per step)
    "no_head": lambda: (_with_last_step(lstm_model(I=3, H=4, seed=5)), {"length": 16, "defaults": SIGN_OUT, **FAST},
                        _exact((2, 3, 3), 5)),
}
VERILATOR_CASES = ("exact_head", "stream_head_2layers")


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    out = {}
    for name, make in CASES.items():
        model, cfg, x = make()
        design = compile_model(model, cfg, calibration=x)
        d = tmp_path_factory.mktemp(name)
        emit_design(design, d, inputs=x)
        out[name] = (design, d, x)
    return out


@pytest.mark.hw
@pytest.mark.parametrize("case, simulator",
                         [(c, "icarus") for c in CASES] + [(c, "verilator") for c in VERILATOR_CASES])
def test_last_step_head_matches_runtime_bit_for_bit(emitted, case, simulator):
    for prog in {"icarus": ("iverilog", "vvp"), "verilator": ("verilator",)}[simulator]:
        require_tool(prog)
    _, outdir, _ = emitted[case]
    passed, res = verify_design(outdir, simulator)
    assert passed, res.stdout[-2000:]
    assert "MISMATCH" not in res.stdout


@pytest.mark.parametrize("case, head_nodes", [("exact_head", {"head.k"}), ("stream_head", {"head.cnt"}),
                                              ("stream_head_2layers", {"head.cnt"}), ("no_head", set())])
def test_head_is_expected_once_at_the_last_step(emitted, case, head_nodes):
    """The expected words hold the head's counts at step T - 1 only (0 before), those counts are
    the runtime's one head step, and the host affine on them is simulate()'s output."""
    design, outdir, x = emitted[case]
    man = json.loads((outdir / "tb" / "manifest.json").read_text())
    assert man["per_sequence"] == sorted({"last"} | ({"head"} if head_nodes else set()))
    words = [int(w, 16) for w in (outdir / "tb" / f"{man['testbench']}_exp.hex").read_text().split()]
    B, T = x.shape[:2]
    _, runs = design._runtime().run(x, trace=True)
    shift = 0
    for chk in man["checks"]:
        w, node = chk["width"], chk["node"]
        got = np.array([(word >> shift) & ((1 << w) - 1) for word in words]).reshape(B, T)
        if chk["signed"]:
            got = np.where(got >= 1 << (w - 1), got - (1 << w), got)
        if node in head_nodes:
            np.testing.assert_array_equal(got[:, :-1], 0)
            np.testing.assert_array_equal(got[:, -1], runs["head"].trace[node][:, 0, chk["neuron"]])
        shift += w
    assert head_nodes <= {c["node"] for c in man["checks"]}
    if head_nodes:
        host = man["host_affine"]
        k = runs["head"].trace[host["input"]] / host.get("length", 1)
        np.testing.assert_array_equal(np.asarray(host["gain"]) * k + np.asarray(host["bias"]), design.simulate(x))
    top = (outdir / "rtl" / "sc_design.v").read_text()
    assert "valid is high once, out_step = n_steps - 1" in top
    # the one timing model still describes the RTL: a streamed head occupies step T - 1's slot
    assert man["timing"] == netlist_timing(design.netlist, steps=T).to_json()


@pytest.mark.hw
@pytest.mark.parametrize("case, node", [("exact_head", "head.k"), ("stream_head", "head.cnt")])
def test_corrupted_head_expectation_is_reported_at_the_last_step(emitted, tmp_path, case, node):
    require_tool("iverilog")
    _, outdir, x = emitted[case]
    bad = tmp_path / "bad"
    shutil.copytree(outdir, bad)
    man = json.loads((bad / "tb" / "manifest.json").read_text())
    exp = bad / "tb" / f"{man['testbench']}_exp.hex"
    words = exp.read_text().split()
    shift = 0
    for chk in man["checks"]:
        if chk["node"] == node and chk["neuron"] == 1:
            break
        shift += chk["width"]
    T = x.shape[1]
    idx = 1 * T + T - 1                               # sequence 1, the last step
    words[idx] = f"{int(words[idx], 16) ^ (1 << shift):x}"
    exp.write_text("\n".join(words) + "\n")
    passed, res = verify_design(bad, "icarus")
    assert not passed
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("MISMATCH")]
    assert len(lines) == 1, res.stdout
    assert re.match(rf"MISMATCH seq=1 step={T - 1} layer=head node={re.escape(node)} neuron=1 ", lines[0]), lines[0]
    assert "FAIL mismatches=1" in res.stdout


@pytest.mark.hw
def test_lint_wall_clean(emitted):
    require_tool("verilator")
    for case in ("exact_head", "stream_head", "no_head"):
        _, outdir, _ = emitted[case]
        man = json.loads((outdir / "tb" / "manifest.json").read_text())
        assert verilator_lint([outdir / "rtl" / f for f in man["rtl"]], "sc_design") == []


@pytest.mark.hw
def test_torch_h_n_classifier_cosimulates(torch, tmp_path):
    """``fc(h_n[-1])`` of a torch GRU, exported (legacy exporter, opset 17), binarized, compiled
    with exact inputs and sign(h), emitted and co-simulated: the head is checked once per sequence."""
    require_tool("iverilog")
    module = classifier(torch, "GRU", False, "hn", 1)
    model = quantize_model(load_onnx(export_onnx(torch, module, torch.randn(4, 2, 3), tmp_path / "m.onnx")), "binary")
    x = _exact((2, 4, 3), 9)
    design = compile_model(model, {"length": 16, "defaults": {"hidden": "sign"}, **FAST}, calibration=x)
    assert [p.kind for p in design.netlist.layers] == ["gru", "last_step", "dense"]
    emit_design(design, tmp_path / "out", inputs=x)
    passed, res = verify_design(tmp_path / "out", "icarus")
    assert passed, res.stdout[-2000:]
    man = json.loads((tmp_path / "out" / "tb" / "manifest.json").read_text())
    assert man["per_sequence"] and any(c["node"].endswith(".k") for c in man["checks"])
