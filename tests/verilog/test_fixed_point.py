"""The fixed-point BASELINE RTL (sccompiler.backends.verilog.fixed_point): small random LSTM/GRU
stacks (both GRU reset orders, 1-2 layers, H 2-8, T 2-4, k 4-8, wired and scan-chain weights)
co-simulated bit-exact against FixedPointModel.forward under Icarus and Verilator (all designs in
one build per simulator), a corrupted expected vector caught, lint, Yosys flip-flops equal to the
registers the architecture defines, Linear heads (LSTM+head, GRU+head, the bundled quickstart
example through the CLI), refusals and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler.backends.verilog.design import verify_design, verify_designs
from sccompiler.backends.verilog.fixed_point import emit_fixed_point_design
from sccompiler.backends.verilog.tools import verilator_lint
from sccompiler.cli.baseline_cmd import baseline_cmd
from sccompiler.errors import OutputExistsError, SCValueError, ToolMissingError, UnsupportedOpError
from sccompiler.frontends.native import save_model
from sccompiler.ir.model import GRU, LSTM, InputSpec, Linear, Model, Tensor
from sccompiler.quantize.fixed_point import FixedPointModel
from sccompiler.testing import require_tool

pytestmark = pytest.mark.hw
SIM_PROGRAMS = {"icarus": ("iverilog", "vvp"), "verilator": ("verilator",)}


def rnn(cells, I, H, seed, scale=0.5, head=0) -> Model:
    """A stack of ``cells`` ("lstm", "gru" = linear_before_reset True, "gru0" = False), plus a
    Linear head with ``head`` outputs when ``head`` > 0."""
    rng = np.random.default_rng(seed)
    lays, fin = [], I
    for k, cell in enumerate(cells):
        G = 4 if cell == "lstm" else 3
        args = dict(input_size=fin, hidden_size=H, w_ih=Tensor(rng.normal(0, scale, (G * H, fin))),
                    w_hh=Tensor(rng.normal(0, scale, (G * H, H))), b_ih=Tensor(rng.normal(0, 0.4, G * H)),
                    b_hh=Tensor(rng.normal(0, 0.4, G * H)))
        lays.append(LSTM(f"lstm{k}", **args) if cell == "lstm" else
                    GRU(f"gru{k}", linear_before_reset=cell == "gru", **args))
        fin = H
    if head:
        lays.append(Linear("head", in_size=H, out_size=head, weight=Tensor(rng.normal(0, 1.5 * scale, (head, H))),
                           bias=Tensor(rng.normal(0, 0.5, head))))
    return Model(tuple(lays), InputSpec("features", I), "toy")


#: name -> (cells, I, H, T, bits, weights, seed, weight scale); the big scales saturate
CASES = {
    "lstm_H2_T2_k4": (("lstm",), 2, 2, 2, 4, "wired", 0, 0.5),
    "lstm2_H3_T3_k6_load": (("lstm", "lstm"), 3, 3, 3, 6, "loadable", 1, 0.6),
    "gru_H4_T4_k8": (("gru",), 3, 4, 4, 8, "wired", 2, 0.5),
    "gru0x2_H3_T3_k5_load": (("gru0", "gru0"), 2, 3, 3, 5, "loadable", 3, 0.7),
    "gru0_H8_T2_k8_big": (("gru0",), 3, 8, 2, 8, "wired", 4, 2.5),
    "lstm_gru_H5_T4_k7_big": (("lstm", "gru"), 2, 5, 4, 7, "wired", 5, 2.0),
    "lstm_head_H3_T3_k6": (("lstm",), 2, 3, 3, 6, "wired", 6, 0.6),
    "gru0_head_H4_T3_k5_load": (("gru0",), 3, 4, 3, 5, "loadable", 7, 0.8),
}
#: cases with a Linear head -> its outputs
HEADS = {"lstm_head_H3_T3_k6": 2, "gru0_head_H4_T3_k5_load": 3}


def _inputs(I, T, seed, B=2):
    return np.random.default_rng(100 + seed).uniform(-1, 1, (B, T, I))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    out = {}
    for name, (cells, I, H, T, bits, weights, seed, scale) in CASES.items():
        d = tmp_path_factory.mktemp(name)
        emit_fixed_point_design(rnn(cells, I, H, seed, scale, HEADS.get(name, 0)), d, bits=bits, weights=weights,
                                inputs=_inputs(I, T, seed), top=f"fx_{name}")
        out[name] = d
    return out


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cosim_bit_exact(emitted, simulator, tmp_path):
    for prog in SIM_PROGRAMS[simulator]:
        require_tool(prog)
    passed, res = verify_designs(list(emitted.values()), simulator, run_dir=tmp_path)
    assert "MISMATCH" not in res.stdout, res.stdout
    assert all(passed.values()), (passed, res.stdout)
    assert len(passed) == len(CASES)


def test_manifest_and_expected_vectors(emitted):
    d = emitted["lstm_gru_H5_T4_k7_big"]
    man = json.loads((d / "tb" / "manifest.json").read_text())
    assert man["top"] == "fx_lstm_gru_H5_T4_k7_big" and man["rtl"][-1] == f"{man['top']}.v"
    assert man["cycles_per_step"] == man["length"] == 4            # max(LSTM 3, GRU lbr 4)
    assert [c["node"] for c in man["checks"]] == ["lstm0.h"] * 5 + ["lstm0.c"] * 5 + ["gru1.h"] * 5
    fpm = FixedPointModel.from_model(rnn(("lstm", "gru"), 2, 5, 5, 2.0), 7)
    exp = fpm.forward(fpm.quantize_input(_inputs(2, 4, 5)))
    words = (d / "tb" / f"{man['testbench']}_exp.hex").read_text().split()
    w = int(words[1 * 4 + 2], 16)                               # sequence 1, step 2
    field = lambda n: ((w >> (7 * n)) & 0x7F) - (((w >> (7 * n)) & 0x40) << 1)  # noqa: E731
    assert [field(n) for n in range(5)] == exp["lstm0"]["h"][1, 2].tolist()
    assert [field(10 + n) for n in range(5)] == exp["gru1"]["h"][1, 2].tolist()
    rep = json.loads((d / "report.json").read_text())
    assert rep["cost"]["sc"] == "fixed7" and rep["cost"]["designs"]["fixed7"]["cost"]["flip_flops"] > 0


def test_head_manifest_and_vectors(emitted):
    """The head's outputs are checked at full accumulator width, after the recurrent fields."""
    d = emitted["lstm_head_H3_T3_k6"]
    man = json.loads((d / "tb" / "manifest.json").read_text())
    fpm = FixedPointModel.from_model(rnn(("lstm",), 2, 3, 6, 0.6, 2), 6)
    yw = fpm.head_bits()
    assert man["head"]["output_bits"] == yw and man["head"]["acc_frac"] == fpm.head.acc_frac
    assert [(c["node"], c["width"]) for c in man["checks"]] == \
        [("lstm0.h", 6)] * 3 + [("lstm0.c", 6)] * 3 + [("head.y", yw)] * 2
    assert man["cycles_per_step"] == 3                           # the head adds no cycle
    assert not [r for r in man["registers"] if r.startswith("head")]   # nor a register
    exp = fpm.forward(fpm.quantize_input(_inputs(2, 3, 6)))["head"]["y"]
    assert np.abs(exp).max() > 0
    w = int((d / "tb" / f"{man['testbench']}_exp.hex").read_text().split()[1 * 3 + 2], 16)   # seq 1, step 2
    got = [((w >> (36 + yw * o)) & ((1 << yw) - 1)) for o in range(2)]
    assert [g - (1 << yw) if g >> (yw - 1) else g for g in got] == exp[1, 2].tolist()
    assert f"output wire [{2 * yw - 1}:0] o_head_y" in (d / "rtl" / f"{man['top']}.v").read_text()
    # loadable: the head's weights and biases are in the scan chain too
    d = emitted["gru0_head_H4_T3_k5_load"]
    man = json.loads((d / "tb" / "manifest.json").read_text())
    lay, k = man["layers"][0], 5
    want = 3 * 4 * (3 + 4) * k + 3 * 4 * lay["bias_bits"] + 3 * 4 * k + 3 * man["head"]["bias_bits"]
    assert man["scan_chain_bits"] == want


def _flip_and_verify(d: Path, top: str, word: int, bit: int):
    """Flip one bit of one expected word of the emitted testbench, re-run it under Icarus."""
    exp = d / "tb" / f"{top}_tb_exp.hex"
    words = exp.read_text().split()
    words[word] = f"{int(words[word], 16) ^ (1 << bit):x}"
    exp.write_text("\n".join(words) + "\n")
    passed, res = verify_design(d, "icarus")
    assert not passed and "FAIL mismatches=1" in res.stdout
    return res.stdout


def test_corrupted_head_output_fails(tmp_path):
    require_tool("iverilog")
    d = tmp_path / "badhead"
    fpm = FixedPointModel.from_model(rnn(("gru",), 2, 3, 0, head=2), 6)
    emit_fixed_point_design(fpm, d, inputs=_inputs(2, 3, 0), top="fx_badhead")
    out = _flip_and_verify(d, "fx_badhead", 4, 3 * 6 + fpm.head_bits() + 2)   # seq 1, step 1, output 1, bit 2
    assert re.search(r"MISMATCH seq=1 step=1 layer=head node=head\.y neuron=1 expected=-?\d+ got=-?\d+", out)


def test_corrupted_expected_vector_fails(tmp_path):
    require_tool("iverilog")
    d = tmp_path / "bad"
    emit_fixed_point_design(rnn(("gru0",), 2, 3, 0), d, bits=6, inputs=_inputs(2, 3, 0), top="fx_bad")
    out = _flip_and_verify(d, "fx_bad", 4, 7)                    # sequence 1, step 1, neuron 1, bit 1
    assert re.search(r"MISMATCH seq=1 step=1 layer=gru0 node=gru0\.h neuron=1 expected=-?\d+ got=-?\d+", out)


def test_cli_quickstart_ternary_example_with_head(tmp_path):
    """The bundled 1x8 ternary LSTM + Linear head, through `scc baseline --verify` (Icarus)."""
    require_tool("iverilog")
    src = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "model" / "ternary"
    res = CliRunner().invoke(baseline_cmd, [str(src), "-o", str(tmp_path), "--verify", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["verify"]["passed"] and doc["verify"]["mismatches"] == []
    man = json.loads((tmp_path / "tb" / "manifest.json").read_text())
    assert [c["node"] for c in man["checks"]][-2:] == ["head.y", "head.y"]


def test_lint_clean(emitted):
    require_tool("verilator")
    for name in ("gru0x2_H3_T3_k5_load", "lstm_gru_H5_T4_k7_big", "lstm_head_H3_T3_k6", "gru0_head_H4_T3_k5_load"):
        d = emitted[name]
        man = json.loads((d / "tb" / "manifest.json").read_text())
        assert verilator_lint([d / "rtl" / f for f in man["rtl"]], man["top"]) == []


def test_yosys_flip_flops_and_cli(tmp_path):
    """LSTM, k = 8, I = 3, H = 4, wired weights, through `scc baseline --verify --synth --json`:
    flip-flops = h, c (2Hk) + pre-activations (4Hk) + i f o (3H(k-1), sigmoid codes are >= 0)
    + g (Hk) + control (phase 2 + mstep 16 + steps 16 + busy + done + valid 1)."""
    require_tool("iverilog")
    require_tool("yosys")
    k, I, H = 8, 3, 4
    src = tmp_path / "model"
    save_model(rnn(("lstm",), I, H, 7), src)
    out = tmp_path / "out"
    res = CliRunner().invoke(baseline_cmd,
                             [str(src), "-o", str(out), "--bits", str(k), "--verify", "--simulator", "icarus",
                              "--synth", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["verify"]["passed"] and doc["verify"]["mismatches"] == []
    syn = doc["synth"]
    assert syn["flip_flops"] == 2 * H * k + 4 * H * k + 3 * H * (k - 1) + H * k + (2 + 16 + 16 + 3)
    assert syn["analytic"]["design"] == "fixed8" and syn["analytic"]["gate_equivalents"] > 0
    assert json.loads((out / "synth.json").read_text())["cells"] == syn["cells"]
    # the emitter's own register list agrees
    man = json.loads((out / "tb" / "manifest.json").read_text())
    assert sum(man["registers"].values()) == syn["flip_flops"]
    # the CLI refuses to overwrite without --force
    again = CliRunner().invoke(baseline_cmd, [str(src), "-o", str(out)])
    assert again.exit_code != 0 and isinstance(again.exception, OutputExistsError)


def test_loadable_scan_chain_bits(emitted):
    """The scan chain holds every weight (k bits) and bias (bias_bits) exactly once."""
    d = emitted["lstm2_H3_T3_k6_load"]
    man = json.loads((d / "tb" / "manifest.json").read_text())
    k, H = 6, 3
    want = sum(4 * H * (lay["input_size"] + H) * k + 4 * H * lay["bias_bits"] for lay in man["layers"])
    assert man["scan_chain_bits"] == want == man["registers"]["wchain"]
    assert man["load_cycles"] == -(-want // k)
    assert len((d / "tb" / f"{man['testbench']}_w.hex").read_text().split()) == man["load_cycles"]


def test_refusals(tmp_path):
    base = rnn(("lstm",), 3, 4, 0)
    mid = Linear("mid", in_size=4, out_size=4, weight=Tensor(np.ones((4, 4))))
    head = Linear("head", in_size=4, out_size=2, weight=Tensor(np.ones((2, 4))))
    with pytest.raises(UnsupportedOpError, match="mid"):       # one trailing head at most
        emit_fixed_point_design(base.with_layers([base.layers[0], mid, head]), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    with pytest.raises(SCValueError):
        emit_fixed_point_design(base, tmp_path / "b", weights="rom")
    with pytest.raises(SCValueError):
        emit_fixed_point_design(base, tmp_path / "b", top="bad name")
    with pytest.raises(SCValueError):
        emit_fixed_point_design(base, tmp_path / "b", bits=14)
    emit_fixed_point_design(base, tmp_path / "c", bits=4)
    with pytest.raises(OutputExistsError):
        emit_fixed_point_design(base, tmp_path / "c", bits=4)
    emit_fixed_point_design(base, tmp_path / "c", bits=5, force=True)
    assert "5-bit" in (tmp_path / "c" / "rtl" / "fx_design.v").read_text()
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.startswith(".")]   # no temp dirs left


def test_missing_simulator_is_a_clear_error(tmp_path, monkeypatch):
    d = tmp_path / "m"
    emit_fixed_point_design(rnn(("gru",), 2, 2, 0), d, bits=4)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(ToolMissingError, match="iverilog"):
        verify_design(d, "icarus")
    with pytest.raises(ToolMissingError, match="verilator"):
        verify_design(d, "verilator")


def test_cli_unsupported_model(tmp_path):
    base = rnn(("lstm",), 3, 4, 0)
    mid = Linear("mid", in_size=4, out_size=4, weight=Tensor(np.ones((4, 4))))
    head = Linear("head", in_size=4, out_size=2, weight=Tensor(np.ones((2, 4))))
    src = tmp_path / "model"
    save_model(base.with_layers([base.layers[0], mid, head]), src)
    res = CliRunner().invoke(baseline_cmd, [str(src), "-o", str(tmp_path / "o")])
    assert res.exit_code != 0 and isinstance(res.exception, UnsupportedOpError)
