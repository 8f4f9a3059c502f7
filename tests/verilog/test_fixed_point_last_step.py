"""The fixed-point BASELINE RTL of sequence classifiers (LastStep, then optionally a Linear head):
co-simulated bit-exact against FixedPointModel.forward (every layer checked every step with its
own valid_, the last step's h and the head once per sequence with ``valid``), one ``valid`` per
sequence (a corrupted final value is caught, a value at another step is never looked at), T = 1,
lint, Yosys flip-flops = the emitter's registers, and ``scc baseline --verify`` on a LastStep
model."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from sccompiler.backends.verilog.design import verify_design, verify_designs
from sccompiler.backends.verilog.fixed_point import emit_fixed_point_design
from sccompiler.backends.verilog.tools import verilator_lint
from sccompiler.cli.baseline_cmd import baseline_cmd
from sccompiler.frontends.native import save_model
from sccompiler.ir.model import LastStep
from sccompiler.quantize.fixed_point import FixedPointModel
from sccompiler.testing import require_tool
from verilog.test_fixed_point import _flip_and_verify, _inputs, rnn

pytestmark = pytest.mark.hw


def classifier(cells, I, H, seed, scale=0.6, head=0):
    m = rnn(cells, I, H, seed, scale, head)
    lays = list(m.layers)
    k = max(i for i, lay in enumerate(lays) if lay.kind in ("lstm", "gru"))
    return m.with_layers(lays[:k + 1] + [LastStep("last")] + lays[k + 1:])


#: name -> (cells, I, H, T, bits, weights, seed, head outputs)
CASES = {
    "ls_lstm_head_H3_T4_k6": (("lstm",), 2, 3, 4, 6, "wired", 0, 2),
    "ls_gru0x2_H3_T3_k5_load": (("gru0", "gru0"), 2, 3, 3, 5, "loadable", 1, 0),
    "ls_gru_head_H4_T3_k8_load": (("gru",), 3, 4, 3, 8, "loadable", 2, 3),
    "ls_lstm_gru_head_T1_k7": (("lstm", "gru"), 2, 3, 1, 7, "wired", 3, 2),
}


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    out = {}
    for name, (cells, I, H, T, bits, weights, seed, head) in CASES.items():
        d = tmp_path_factory.mktemp(name)
        emit_fixed_point_design(classifier(cells, I, H, seed, head=head), d, bits=bits, weights=weights,
                                inputs=_inputs(I, T, seed, B=3), top=f"fx_{name}")
        out[name] = d
    return out


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cosim_bit_exact(emitted, simulator, tmp_path):
    for prog in {"icarus": ("iverilog", "vvp"), "verilator": ("verilator",)}[simulator]:
        require_tool(prog)
    passed, res = verify_designs(list(emitted.values()), simulator, run_dir=tmp_path)
    assert "MISMATCH" not in res.stdout, res.stdout
    assert all(passed.values()) and len(passed) == len(CASES), (passed, res.stdout)
    for name, (_, _, _, T, *_rest) in CASES.items():
        assert f"PASS fx_{name}: 3 sequences x {T} steps" in res.stdout


def test_manifest_vectors_and_ports(emitted):
    d = emitted["ls_lstm_head_H3_T4_k6"]
    man = json.loads((d / "tb" / "manifest.json").read_text())
    m = classifier(("lstm",), 2, 3, 0, head=2)
    fpm = FixedPointModel.from_model(m, 6)
    yw = fpm.head_bits()
    assert [(c["node"], c["width"]) for c in man["checks"]] == \
        [("lstm0.h", 6)] * 3 + [("lstm0.c", 6)] * 3 + [("last.h", 6)] * 3 + [("head.y", yw)] * 2
    assert man["last_step"]["name"] == "last" and "once per sequence" in man["head"]["timing"]
    assert man["registers"]["last_h"] == 3 * 6 and man["registers"]["seq_valid"] == 1
    exp = fpm.forward(fpm.quantize_input(_inputs(2, 4, 0, B=3)))
    words = [int(w, 16) for w in (d / "tb" / f"{man['testbench']}_exp.hex").read_text().split()]
    assert len(words) == 3 * 4

    def field(w, off, width):
        v = (w >> off) & ((1 << width) - 1)
        return v - (1 << width) if v >> (width - 1) else v

    for b in range(3):
        final = words[b * 4 + 3]                                     # step T - 1
        assert [field(final, 36 + 6 * u, 6) for u in range(3)] == exp["last"]["h"][b, 0].tolist()
        assert [field(final, 54 + yw * o, yw) for o in range(2)] == exp["head"]["y"][b, 0].tolist()
        assert exp["last"]["h"][b, 0].tolist() == exp["lstm0"]["h"][b, -1].tolist()
        for t in range(3):                                           # not checked before the last step
            assert words[b * 4 + t] >> 36 == 0
    top = (d / "rtl" / f"{man['top']}.v").read_text()
    assert "output wire valid_lstm0" in top and "assign valid = seq_valid;" in top
    assert f"output wire [{2 * yw - 1}:0] o_head_y" in top and "output wire [17:0] o_last_h" in top
    tb = (d / "tb" / f"{man['testbench']}.v").read_text()
    assert "seen == 1" in tb                                         # one valid per sequence


def test_one_valid_per_sequence_and_corruptions_caught(tmp_path):
    require_tool("iverilog")
    m = classifier(("gru0",), 2, 3, 5, head=2)
    fpm = FixedPointModel.from_model(m, 6)
    yw, T = fpm.head_bits(), 4
    x = _inputs(2, T, 5)

    def emit(name):
        d = tmp_path / name
        emit_fixed_point_design(fpm, d, inputs=x, top=f"fx_{name}")
        return d

    # the head's output 1, bit 2, at sequence 1's last step: caught once, at step T - 1
    out = _flip_and_verify(emit("head"), "fx_head", 1 * T + T - 1, 3 * 6 + 3 * 6 + yw + 2)
    assert re.search(rf"MISMATCH seq=1 step={T - 1} layer=head node=head\.y neuron=1", out)
    # the last step's h, neuron 2
    out = _flip_and_verify(emit("ls"), "fx_ls", T - 1, 3 * 6 + 2 * 6 + 1)
    assert re.search(rf"MISMATCH seq=0 step={T - 1} layer=last node=last\.h neuron=2", out)
    # the GRU's h at a middle step: still checked every step (valid_gru0)
    out = _flip_and_verify(emit("mid"), "fx_mid", 1 * T + 1, 6 + 3)
    assert re.search(r"MISMATCH seq=1 step=1 layer=gru0 node=gru0\.h neuron=1", out)
    # the head's field at a step before the last is never compared (valid is high once)
    d = emit("early")
    exp = d / "tb" / "fx_early_tb_exp.hex"
    words = exp.read_text().split()
    words[1] = f"{int(words[1], 16) ^ (1 << (3 * 6 + 3 * 6 + 2)):x}"
    exp.write_text("\n".join(words) + "\n")
    passed, res = verify_design(d, "icarus")
    assert passed and "PASS fx_early: 2 sequences x 4 steps" in res.stdout, res.stdout


def test_lint_clean(emitted):
    require_tool("verilator")
    for d in emitted.values():
        man = json.loads((d / "tb" / "manifest.json").read_text())
        assert verilator_lint([d / "rtl" / f for f in man["rtl"]], man["top"]) == []


def test_cli_baseline_on_a_last_step_model(tmp_path):
    """`scc baseline --verify --synth --json` on a saved LSTM -> LastStep -> Linear classifier:
    bit-exact, the report costs the head once per sequence, Yosys counts the emitter's registers
    (h, c, pre-activations, i f o, g, the last step's h, control + the per-layer and final valid)."""
    require_tool("iverilog")
    require_tool("yosys")
    k, I, H = 6, 3, 4
    src = tmp_path / "model"
    save_model(classifier(("lstm",), I, H, 7, head=2), src)
    out = tmp_path / "out"
    res = CliRunner().invoke(baseline_cmd, [str(src), "-o", str(out), "--bits", str(k), "--verify", "--synth",
                                            "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["verify"]["passed"] and doc["verify"]["mismatches"] == []
    assert doc["verify"]["summary"] == ["PASS fx_design: 2 sequences x 3 steps, every value bit-exact"]
    man = json.loads((out / "tb" / "manifest.json").read_text())
    syn = doc["synth"]
    assert syn["flip_flops"] == sum(man["registers"].values()) == \
        2 * H * k + 4 * H * k + 3 * H * (k - 1) + H * k + H * k + (2 + 16 + 16 + 4)
    rep = json.loads((out / "report.json").read_text())["cost"]
    d = rep["designs"][rep["sc"]]
    assert "once per sequence" in rep["note"] and "head once per sequence" in d["description"]
    assert d["cost"]["latency_cycles"] > 0


@pytest.mark.parametrize("kind, head", [("GRU", "last"), ("LSTM", "hn")])
def test_cli_baseline_on_an_onnx_classifier(torch, tmp_path, kind, head):
    """torch's fc(y[:, -1]) / fc(h_n[-1]) exported to ONNX, then `scc baseline --verify`."""
    from test_frontends_last_step import classifier as torch_classifier
    from test_frontends_last_step import export_onnx

    require_tool("iverilog")
    path = export_onnx(torch, torch_classifier(torch, kind, True, head, 1), torch.randn(2, 4, 3), tmp_path / "m.onnx")
    res = CliRunner().invoke(baseline_cmd, [str(path), "-o", str(tmp_path / "o"), "--bits", "6", "--verify",
                                            "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["verify"]["passed"] and doc["verify"]["mismatches"] == []
    man = json.loads((tmp_path / "o" / "tb" / "manifest.json").read_text())
    assert man["last_step"] is not None and man["head"] is not None
