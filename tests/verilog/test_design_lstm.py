"""Design-level RTL (sccompiler.backends.verilog.design): compiled LSTMs (1-2 layers, exact inputs,
table gates, hidden = sign, optional exact dense head) emitted as a synthesizable top whose every
per-step integer (c and h counters, sign(h), head popcounts) must equal the runtime's, bit for bit,
under Icarus and Verilator; lint, Yosys, the mismatch report, refusals and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from compiler.models import FAST, binary, gru_model, lstm_model  # tests/compiler (tests/ is on sys.path)

from sccompiler.backends.verilog.design import check_supported, emit_design, verify_design
from sccompiler.backends.verilog.tools import verilator_lint, yosys_synth
from sccompiler.cli import cli
from sccompiler.design import compile_model
from sccompiler.errors import OutputExistsError, SCValueError, UnsupportedOpError
from sccompiler.frontends.native import save_model
from sccompiler.ir.model import GRU, LSTM, BatchNormParams, Embedding, InputSpec, Model, Tensor
from sccompiler.testing import require_tool

#: (inputs I, hidden H, L, model seed, steps T, dense head outputs, fsm_state, layers, per-step BN rows)
CASES = {
    "I2_H2_L16_T2_head": (2, 2, 16, 0, 2, 1, "carry", 1, 0),
    "I3_H5_L24_T3_reset": (3, 5, 24, 1, 3, 0, "reset", 1, 0),
    "I2_H8_L64_T4_head": (2, 8, 64, 2, 4, 3, "carry", 1, 0),
    "2layers_I3_H3_L20_T4_head": (3, 3, 20, 3, 4, 2, "carry", 2, 0),
    # per-step bn_x (2 rows) / bn_h (3 rows) folded into gate tables; T = 4 > 3 reads the last row
    "bn_steps_I3_H3_L16_T4": (3, 3, 16, 4, 4, 1, "carry", 1, 3),
    # real inputs (input SNG thresholds on the port), integral WFSM gates, bias streams, stream h
    "integral_I2_H4_L32_T3": (2, 4, 32, 5, 3, 0, "carry", 1, -1),
    # + a streamed (counted) dense head: SNGs of h, XNOR + APC, up/down counters, own control
    "integral_2layers_head_I2_H3_L16_T3": (2, 3, 16, 6, 3, 2, "carry", 2, -1),
    # exact inputs {-0.5, 0, 0.5} into integral WFSM gates (three thresholds per input SNG)
    "integral_exact_I3_H3_L16_T3": (3, 3, 16, 7, 3, 0, "reset", 1, -2),
    # recurrent batch norm with per-step statistics and integral WFSM gates (bn_x: 2 rows, bn_h:
    # 3, bn_c: 2; T = 4 reads the last rows): exact inputs with per-row bn_x/bn_h gains (a ROM of
    # thresholds per (row, input) over {step, x}), per-step bias constants (ROM over the step),
    # per-step WFSM table banks for the gates and tanh(c) (ROM over {step, state})
    "bn_integral_exact_I3_H3_L16_T4": (3, 3, 16, 8, 4, 0, "carry", 1, "bn_exact"),
    # real inputs, bn_x/bn_h scale ratio constant across rows (the per-step input gain is applied by
    # the host to the port's thresholds), one x/h SNG bank per gate (grouped XNOR + APC banks)
    "bn_integral_real_per_gate_I2_H2_L16_T4": (2, 2, 16, 9, 4, 1, "reset", 1, "bn_real_per_gate"),
    # table gates + sign(h) from o tanh(c) (sign_from: output) with a per-step bn_c: tanh(c)'s
    # WFSM bank switches tables per step
    "bn_c_table_I3_H3_L16_T3": (3, 3, 16, 10, 3, 0, "carry", 1, "bn_c"),
    # the same with sign(h) from the cell count (sign_from: cell, the default; the cases above
    # without bn_c use it with a constant threshold): per-step thresholds from ROMs over the step
    "bn_c_cell_sign_I3_H3_L16_T3": (3, 3, 16, 11, 3, 0, "carry", 1, "bn_c_cell"),
    # sign(h) from the cell count, no batch norm (threshold 0), two layers and an exact head
    "cell_sign_2layers_I3_H4_L16_T3_head": (3, 4, 16, 12, 3, 1, "carry", 2, "cell"),
}
SIM_PROGRAMS = {"icarus": ("iverilog", "vvp"), "verilator": ("verilator",)}


def _inputs(I: int, T: int, seed: int, B: int = 2, real: bool = False) -> np.ndarray:
    rng = np.random.default_rng(100 + seed)
    return rng.uniform(-1, 1, (B, T, I)) if real else rng.choice([-1.0, 0.0, 1.0], size=(B, T, I))


def _case_inputs(I: int, T: int, seed: int, kind) -> np.ndarray:
    """Real inputs (kind -1 or a real-input BN case) or exact ones (0.5 x {-1, 0, 1} for -2 and
    the exact BN cases, {-1, 0, 1} else)."""
    real = kind in (-1, "bn_real_per_gate")
    return _inputs(I, T, seed, real=real) * (0.5 if kind in (-2, "bn_exact") else 1.0)


def _bn(rng, shape) -> BatchNormParams:
    return BatchNormParams(gamma=rng.uniform(0.5, 2.0, shape), beta=rng.normal(0, 0.3, shape),
                           mean=rng.normal(0, 0.5, shape), var=rng.uniform(0.5, 2.0, shape))


def _bn_model(model, H: int, seed: int, bn: str):
    """Per-step recurrent batch norm on the first layer: ``bn_exact`` general bn_x (2 rows) /
    bn_h (3 rows) + bn_c (2 rows); ``bn_real_per_gate`` bn_x = c_t bn_h in scale (one ratio per
    step); ``bn_c`` only bn_c (3 rows)."""
    rng = np.random.default_rng(seed)
    lay = model.layers[0]
    if bn in ("bn_c", "bn_c_cell"):
        return model.replace_layer(lay.name, lay.replace(bn_c=_bn(rng, (3, H))))
    bh = _bn(rng, (3, 4 * H))
    if bn == "bn_exact":
        return model.replace_layer(lay.name, lay.replace(bn_x=_bn(rng, (2, 4 * H)), bn_h=bh, bn_c=_bn(rng, (2, H))))
    bx = BatchNormParams(gamma=bh.gamma * rng.uniform(0.5, 2.0, (3, 1)), beta=rng.normal(0, 0.3, (3, 4 * H)),
                         mean=rng.normal(0, 0.5, (3, 4 * H)), var=bh.var.copy())
    return model.replace_layer(lay.name, lay.replace(bn_x=bx, bn_h=bh))


def _compile(I, H, L, seed, T, dense, fsm_state, layers, bn_rows):
    model = lstm_model(I=I, H=H, layers=layers, seed=seed, dense=dense)
    if bn_rows == "cell":
        return compile_model(model, {"length": L, "defaults": {"hidden": "sign", "sign_from": "cell",
                                                               "fsm_state": fsm_state}, **FAST},
                             calibration=_inputs(I, T, seed))
    if isinstance(bn_rows, str):
        model = _bn_model(model, H, seed, bn_rows)
        real = bn_rows == "bn_real_per_gate"
        table = bn_rows in ("bn_c", "bn_c_cell")
        defaults = {"fsm_state": fsm_state, "gate_input": "table" if table else "integral_wfsm",
                    **({"hidden": "sign", "sign_from": "cell" if bn_rows == "bn_c_cell" else "output"}
                       if table else {}),
                    **({"gate_sngs": "per_gate"} if real else {})}
        return compile_model(model, {"length": L, "defaults": defaults, **FAST},
                             calibration=_case_inputs(I, T, seed, bn_rows))
    if bn_rows == -1:                   # real inputs: gate_input auto -> integral WFSM, hidden stream
        return compile_model(model, {"length": L, "defaults": {"fsm_state": fsm_state}, **FAST},
                             calibration=_inputs(I, T, seed, real=True))
    if bn_rows == -2:                   # exact inputs, integral WFSM gates
        return compile_model(model, {"length": L, "defaults": {"fsm_state": fsm_state, "gate_input": "integral_wfsm"},
                                     **FAST}, calibration=0.5 * _inputs(I, T, seed))
    if bn_rows:
        rng = np.random.default_rng(seed)
        lay = model.layers[0]
        model = model.replace_layer(lay.name, lay.replace(bn_x=_bn(rng, (bn_rows - 1, 4 * H)),
                                                          bn_h=_bn(rng, (bn_rows, 4 * H))))
    cfg = {"length": L, "defaults": {"hidden": "sign", "sign_from": "output", "fsm_state": fsm_state}, **FAST}
    return compile_model(model, cfg, calibration=_inputs(I, T, seed))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """case -> (design, outdir, inputs), emitted once per module."""
    out = {}
    for name, case in CASES.items():
        I, T, seed = case[0], case[4], case[3]
        design = _compile(*case)
        x = _case_inputs(I, T, seed, case[-1])
        d = tmp_path_factory.mktemp(name)
        emit_design(design, d, inputs=x)
        out[name] = (design, d, x)
    return out


def _rtl(outdir: Path) -> list[Path]:
    man = json.loads((outdir / "tb" / "manifest.json").read_text())
    return [outdir / "rtl" / f for f in man["rtl"]]


#: Verilator builds are the slow part (~9 s each on the shared machine): four of the cases
VERILATOR_CASES = ("I2_H2_L16_T2_head", "I2_H8_L64_T4_head", "2layers_I3_H3_L20_T4_head",
                   "integral_2layers_head_I2_H3_L16_T3", "bn_integral_exact_I3_H3_L16_T4",
                   "bn_integral_real_per_gate_I2_H2_L16_T4", "bn_c_cell_sign_I3_H3_L16_T3")


@pytest.mark.hw
@pytest.mark.parametrize("case, simulator",
                         [(c, "icarus") for c in CASES] + [(c, "verilator") for c in VERILATOR_CASES])
def test_rtl_matches_runtime_bit_for_bit(emitted, case, simulator):
    for prog in SIM_PROGRAMS[simulator]:
        require_tool(prog)
    _, outdir, _ = emitted[case]
    passed, res = verify_design(outdir, simulator)
    assert passed, res.stdout[-2000:]
    assert "MISMATCH" not in res.stdout


@pytest.mark.parametrize("case, nodes", [
    ("I2_H2_L16_T2_head", {"lstm0.c_cnt", "lstm0.h_cnt", "lstm0.h", "head.k"}),
    ("integral_2layers_head_I2_H3_L16_T3", {"lstm0.c_cnt", "lstm0.h_cnt", "lstm1.c_cnt", "lstm1.h_cnt", "head.cnt"}),
])
def test_expected_vectors_are_the_runtime_trace(emitted, case, nodes):
    """The testbench's expected words decode to the runtime's per-step counters and sign(h), and
    the host affine of the head on them is simulate()'s output, bit for bit."""
    design, outdir, x = emitted[case]
    man = json.loads((outdir / "tb" / "manifest.json").read_text())
    words = [int(w, 16) for w in (outdir / "tb" / f"{man['testbench']}_exp.hex").read_text().split()]
    tr = design.trace(x)
    B, T = x.shape[:2]
    assert len(words) == B * T
    sc = {k: v for layer in tr.values() if isinstance(layer, dict) and "sc" in layer for k, v in layer["sc"].items()}
    shift = 0
    for chk in man["checks"]:
        w, node, r = chk["width"], chk["node"], chk["neuron"]
        got = np.array([(word >> shift) & ((1 << w) - 1) for word in words]).reshape(B, T)
        if chk["signed"]:
            got = np.where(got >= 1 << (w - 1), got - (1 << w), got)
        want = sc[node][:, :, r]
        if node.endswith(".h"):
            want = (want > 0).astype(int)
        np.testing.assert_array_equal(got, want, err_msg=f"{node}[{r}]")
        shift += w
    assert {c["node"] for c in man["checks"]} == nodes
    host = man["host_affine"]
    k = sc[host["input"]] / host.get("length", 1)
    np.testing.assert_array_equal(np.asarray(host["gain"]) * k + np.asarray(host["bias"]), design.simulate(x))


@pytest.mark.hw
@pytest.mark.parametrize("case, node, neuron, seq, step", [
    ("I3_H5_L24_T3_reset", "lstm0.h_cnt", 2, 1, 2),
    ("2layers_I3_H3_L20_T4_head", "lstm0.c_cnt", 1, 0, 3),     # inner layer, last step
    ("2layers_I3_H3_L20_T4_head", "lstm1.h_cnt", 0, 1, 0),
])
def test_canary_corrupted_expectation_is_reported(emitted, tmp_path, case, node, neuron, seq, step):
    require_tool("iverilog")
    _, outdir, _ = emitted[case]
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(outdir, bad)
    man = json.loads((bad / "tb" / "manifest.json").read_text())
    exp = bad / "tb" / f"{man['testbench']}_exp.hex"
    words = exp.read_text().split()
    # flip bit 0 of one field in one (sequence, step)
    shift = 0
    for chk in man["checks"]:
        if chk["node"] == node and chk["neuron"] == neuron:
            break
        shift += chk["width"]
    idx = seq * man["steps"] + step
    words[idx] = f"{int(words[idx], 16) ^ (1 << shift):x}"
    exp.write_text("\n".join(words) + "\n")
    passed, res = verify_design(bad, "icarus")
    assert not passed
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("MISMATCH")]
    assert len(lines) == 1, res.stdout
    layer = node.split(".")[0]
    m = re.match(rf"MISMATCH seq={seq} step={step} layer={layer} node={re.escape(node)} neuron={neuron} "
                 r"expected=(-?\d+) got=(-?\d+)$", lines[0])
    assert m and abs(int(m.group(1)) - int(m.group(2))) == 1, lines[0]
    assert "FAIL mismatches=1" in res.stdout


@pytest.mark.hw
def test_lint_wall_clean(emitted):
    require_tool("verilator")
    for case in ("I3_H5_L24_T3_reset", "I2_H8_L64_T4_head", "2layers_I3_H3_L20_T4_head",
                 "integral_2layers_head_I2_H3_L16_T3", "integral_exact_I3_H3_L16_T3", "bn_steps_I3_H3_L16_T4",
                 "bn_integral_exact_I3_H3_L16_T4", "bn_integral_real_per_gate_I2_H2_L16_T4", "bn_c_table_I3_H3_L16_T3"):
        _, outdir, _ = emitted[case]
        assert verilator_lint(_rtl(outdir), "sc_design") == []


@pytest.mark.hw
def test_yosys_synthesizes(emitted):
    require_tool("yosys")
    design, outdir, _ = emitted["I2_H2_L16_T2_head"]
    stats = yosys_synth(_rtl(outdir), "sc_design")
    register_bits = sum(int(r["width"]) for r in design.netlist.sources["registers"])
    assert stats.flip_flops >= register_bits          # every source register survives synthesis
    assert stats.cells > 0


def test_synthesizable_files_have_no_simulation_constructs(emitted):
    _, outdir, _ = emitted["I2_H8_L64_T4_head"]
    for f in _rtl(outdir):
        text = re.sub(r"//.*", "", f.read_text())
        for bad in ("initial", "$display", "$finish", "$readmemh", "#"):
            if bad == "#":
                assert not re.search(r"#\s*\d", text), f"{f.name}: delay"
            else:
                assert bad not in text, f"{f.name}: {bad}"
    top = (outdir / "rtl" / "sc_design.v").read_text()
    for node in design_nodes(emitted["I2_H8_L64_T4_head"][0]):
        assert f"// IR node {node} (" in top


def design_nodes(design) -> list[str]:
    return [n.name for n in design.netlist.nodes if n.op not in ("dense_out",)]


def test_existing_output_needs_force_and_emission_is_deterministic(emitted, tmp_path):
    design, first, x = emitted["I2_H2_L16_T2_head"]
    emit_design(design, tmp_path, inputs=x)
    with pytest.raises(OutputExistsError):
        emit_design(design, tmp_path, inputs=x)
    emit_design(design, tmp_path, inputs=x, force=True)
    for sub in ("rtl", "tb"):
        names = sorted(p.name for p in (first / sub).iterdir())
        assert names == sorted(p.name for p in (tmp_path / sub).iterdir())
        for name in names:
            assert (first / sub / name).read_text() == (tmp_path / sub / name).read_text(), name


@pytest.mark.parametrize("what", ["real_per_row_gains", "gru_table_rom", "vocabulary"])
def test_unsupported_designs_are_refused_before_writing(what, tmp_path):
    if what == "real_per_row_gains":
        # real inputs with per-row bn_x/bn_h ratios: the port would carry 4H x I thresholds
        m = _bn_model(lstm_model(I=3, H=2, seed=0), 2, 0, "bn_exact")
        design = compile_model(m, {"length": 16, "defaults": {"gate_input": "integral_wfsm"}, **FAST},
                               calibration=_inputs(3, 2, 0, real=True))
        expect = ("sng", "lstm0.x_s", "per-row input gains of real inputs")
    elif what == "gru_table_rom":
        # a GRU's n-gate ROM reads {kx_r, kh_r, kx_n, kh_n}: 4 x 5 bits > MAX_ROM_ADDRESS_BITS
        design = compile_model(gru_model(I=8, H=8, layers=1), {"length": 16, "defaults": {"hidden": "sign"}, **FAST},
                               calibration=_inputs(8, 2, 0))
        expect = ("sng", "gru0.n_s", "20 address bits")
    else:
        # a token port wider than a ROM address: 2^16 + 1 ids
        design = compile_model(_embedding_model(True, vocab=(1 << 16) + 1, dim=2),
                               {"length": 16, "defaults": {"hidden": "sign"}, **FAST})
        expect = ("input", "model.input", "17 > 16 ROM address bits")
    with pytest.raises(UnsupportedOpError) as err:
        emit_design(design, tmp_path / "out")
    msg = str(err.value)
    assert f"'{expect[0]}'" in msg and f"'{expect[1]}'" in msg and expect[2] in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()
    with pytest.raises(UnsupportedOpError):
        check_supported(design)


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    save_model(lstm_model(I=2, H=3, seed=5, dense=2), d / "model")
    np.save(d / "cal.npy", _inputs(2, 3, 5))
    (d / "cfg.json").write_text(json.dumps({"length": 16, "defaults": {"hidden": "sign"}, **FAST}))
    return d


def _compile_cli(d: Path, out: str, *extra: str):
    return CliRunner().invoke(cli, ["compile", str(d / "model"), "--config", str(d / "cfg.json"), "--calibration",
                                    str(d / "cal.npy"), "-o", str(d / out), *extra])


@pytest.mark.hw
def test_cli_compile_emit_and_verify(cli_dir):
    require_tool("iverilog")
    r = _compile_cli(cli_dir, "out", "--emit", "verilog")
    assert r.exit_code == 0, r.output
    assert "scc verify" in r.output
    assert (cli_dir / "out" / "rtl" / "sc_design.v").is_file() and (cli_dir / "out" / "tb" / "manifest.json").is_file()
    v = CliRunner().invoke(cli, ["verify", str(cli_dir / "out"), "--simulator", "icarus"])
    assert v.exit_code == 0, v.output
    assert v.output.startswith("PASS")
    # a corrupted expectation: non-zero exit, the mismatch line and a one-line error
    exp = cli_dir / "out" / "tb" / "sc_design_tb_exp.hex"
    words = exp.read_text().split()
    words[0] = f"{int(words[0], 16) ^ 1:x}"
    exp.write_text("\n".join(words) + "\n")
    bad = CliRunner().invoke(cli, ["verify", str(cli_dir / "out"), "--simulator", "icarus", "--json"])
    assert bad.exit_code != 0
    assert "MISMATCH seq=0 step=0 layer=lstm0" in bad.output and "Traceback" not in bad.output
    assert json.loads(bad.stdout)["passed"] is False        # one JSON document: the result carries the failure


def test_cli_verify_missing_simulator_and_missing_tb(cli_dir, tmp_path, monkeypatch):
    r = _compile_cli(cli_dir, "plain")
    assert r.exit_code == 0, r.output
    v = CliRunner().invoke(cli, ["verify", str(cli_dir / "plain")])
    assert v.exit_code != 0 and "--emit verilog" in v.output and "Traceback" not in v.output
    r = _compile_cli(cli_dir, "emitted", "--emit", "verilog")
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("PATH", str(tmp_path))                 # no simulator on PATH
    v = CliRunner().invoke(cli, ["verify", str(cli_dir / "emitted"), "--simulator", "verilator"])
    assert v.exit_code != 0 and "verilator is not installed" in v.output and "Traceback" not in v.output


def test_cli_emit_refuses_unsupported_design_and_writes_nothing(cli_dir):
    # no calibration: real inputs, integral gates; per-row bn_x/bn_h gains of real inputs are not emitted
    save_model(_bn_model(lstm_model(I=2, H=3, seed=5), 3, 0, "bn_exact"), cli_dir / "bn_model")
    (cli_dir / "cfg_int.json").write_text(json.dumps({"length": 16, "defaults": {"gate_input": "integral_wfsm"},
                                                      **FAST}))
    r = CliRunner().invoke(cli, ["compile", str(cli_dir / "bn_model"), "--config", str(cli_dir / "cfg_int.json"),
                                 "-o", str(cli_dir / "refused"), "--emit", "verilog"])
    assert r.exit_code != 0 and "Verilog emission" in r.output and "Traceback" not in r.output
    assert not (cli_dir / "refused").exists()


# ----------------------------------------------------------------------------- embeddings
def _embedding_model(exact: bool, cell: str = "lstm", vocab: int = 11, dim: int = 4, hidden: int = 3,
                     seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    table = rng.choice([-0.5, 0.0, 0.5], (vocab, dim)) if exact else rng.uniform(-1, 1, (vocab, dim))
    g = 4 if cell == "lstm" else 3
    extra = {} if cell == "lstm" else {"b_hh": Tensor(rng.normal(0, 0.3, g * hidden))}
    rnn = (LSTM if cell == "lstm" else GRU)(f"{cell}0", input_size=dim, hidden_size=hidden,
                                            w_ih=binary((g * hidden, dim), rng, 0.4),
                                            w_hh=binary((g * hidden, hidden), rng, 0.3),
                                            b_ih=Tensor(rng.normal(0, 0.3, g * hidden)), **extra)
    emb = Embedding("emb", num_embeddings=vocab, embedding_dim=dim, weight=Tensor(table))
    return Model((emb, rnn), InputSpec("tokens", vocab), "embedded")


#: (exact table, cell, config defaults): exact tables feed table gates (ROM of nonzero/positive
#: bits over the token) or integral gates; real tables one threshold ROM per input SNG
EMBEDDING_CASES = {
    "exact_table_lstm": (True, "lstm", {"hidden": "sign"}),
    "exact_integral_gru": (True, "gru", {"gate_input": "integral_wfsm"}),
    "real_integral_lstm": (False, "lstm", {}),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", list(EMBEDDING_CASES))
def test_embedding_designs_bit_exact(case, tmp_path):
    """A token port: the embedding table lives in ROMs over the token id (exact rows: the
    operands' nonzero/positive bits; real rows: every input SNG's threshold)."""
    require_tool("iverilog")
    exact, cell, defaults = EMBEDDING_CASES[case]
    design = compile_model(_embedding_model(exact, cell), {"length": 16, "defaults": defaults, **FAST})
    x = np.random.default_rng(3).integers(0, 11, (2, 4))
    emit_design(design, tmp_path, inputs=x)
    man = json.loads((tmp_path / "tb" / "manifest.json").read_text())
    assert man["input_port"]["format"] == "token" and man["input_port"]["bits"] == 4
    passed, res = verify_design(tmp_path, "icarus")
    assert passed, res.stdout[-2000:]
    if case == "real_integral_lstm":
        require_tool("verilator")
        assert verilator_lint(_rtl(tmp_path), "sc_design") == []
        passed, res = verify_design(tmp_path, "verilator")
        assert passed, res.stdout[-2000:]


def test_embedding_inputs_are_checked(tmp_path):
    design = compile_model(_embedding_model(True), {"length": 16, "defaults": {"hidden": "sign"}, **FAST})
    with pytest.raises(SCValueError, match=r"token ids must be integers in \[0, 11\)"):
        emit_design(design, tmp_path / "a", inputs=np.array([[0, 11]]))
    with pytest.raises(SCValueError, match=r"must be \(B, T\)"):
        emit_design(design, tmp_path / "b", inputs=np.zeros((1, 2, 3)))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------- per-layer L
#: name -> (model, config): timed layers with different L (the design steps with the longest;
#: the shorter layers hold their sources, FSMs and counters in the remaining cycles)
LENGTH_CASES = {
    "table_L16_L32_head": (lambda: lstm_model(I=3, H=2, layers=2, seed=0, dense=1),
                           {"length": 16, "defaults": {"hidden": "sign"}, "layers": {"lstm1": {"length": 32}}}),
    "table_L32_L16_reset": (lambda: lstm_model(I=3, H=3, layers=2, seed=1),
                            {"length": 32, "defaults": {"hidden": "sign", "fsm_state": "reset"},
                             "layers": {"lstm1": {"length": 16}}}),
    "integral_L32_L16_head_L24": (lambda: lstm_model(I=2, H=3, layers=2, seed=2, dense=2),
                                  {"length": 32, "layers": {"lstm1": {"length": 16}, "head": {"length": 24}}}),
}


@pytest.mark.hw
@pytest.mark.parametrize("case", list(LENGTH_CASES))
def test_layers_with_different_lengths_bit_exact(case, tmp_path):
    require_tool("iverilog")
    build, cfg = LENGTH_CASES[case]
    model = build()
    real = "integral" in case
    x = _inputs(model.layers[0].input_size, 4, 0, real=real)
    design = compile_model(model, {**cfg, **FAST}, calibration=x)
    emit_design(design, tmp_path, inputs=x)
    man = json.loads((tmp_path / "tb" / "manifest.json").read_text())
    lengths = {p.name: p.length for p in design.netlist.layers if p.length and p.name in man["lengths"]}
    assert man["lengths"] == lengths and len(set(lengths.values())) > 1
    assert man["cycles_per_step"] == max(lengths.values())
    top = (tmp_path / "rtl" / "sc_design.v").read_text()
    for layer, L in lengths.items():     # exactly the shorter layers get a clock enable
        assert (f"wire {layer}_en = " in top) == (L < man["cycles_per_step"])
    passed, res = verify_design(tmp_path, "icarus")
    assert passed, res.stdout[-2000:]
    if case == "integral_L32_L16_head_L24":
        require_tool("verilator")
        assert verilator_lint(_rtl(tmp_path), "sc_design") == []
        passed, res = verify_design(tmp_path, "verilator")
        assert passed, res.stdout[-2000:]
