"""Fixed-point heads in RTL: the integer MAC of a float / int:K dense head next to the SC core
(K-bit weights times exact codes or 2 c - L of per-input step counts) is emitted combinationally,
its accumulators are checked by the self-checking testbench against the runtime bit for bit
under Icarus and Verilator, per step and on the last step only (after a LastStep), and a
corrupted accumulator expectation is reported."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

import numpy as np
import pytest
from compiler.models import FAST, SIGN_OUT, lstm_model

from sccompiler.backends.verilog.design import emit_design, verify_design
from sccompiler.backends.verilog.tools import verilator_lint
from sccompiler.design import compile_model
from sccompiler.ir.model import LastStep, Tensor
from sccompiler.quantize import uniform_int
from sccompiler.testing import require_tool


def _fixed(model, last: bool, bits: int | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    fc = model.layers[-1]
    w = rng.normal(0, 0.3, fc.weight.shape)
    weight = Tensor(*uniform_int(w, bits)) if bits else Tensor(w)
    fc = dataclasses.replace(fc, weight=weight)
    return model.with_layers(model.layers[:-1] + ((LastStep("last"),) if last else ()) + (fc,))


def _exact(shape, seed):
    return np.random.default_rng(seed).choice([-1.0, 0.0, 1.0], size=shape)


def _real(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


CASES = {
    "exact": lambda: (_fixed(lstm_model(I=3, H=4, dense=2, seed=1), False), {"length": 16, "defaults": SIGN_OUT,
                      **FAST}, _exact((2, 4, 3), 1)),
    "stream": lambda: (_fixed(lstm_model(I=2, H=3, dense=2, seed=2), False), {"length": 16, **FAST},
                       _real((2, 3, 2), 2)),
    "exact_last": lambda: (_fixed(lstm_model(I=3, H=4, dense=3, seed=3), True), {"length": 16, "defaults": SIGN_OUT,
                           **FAST}, _exact((2, 4, 3), 3)),
    "stream_last_int4": lambda: (_fixed(lstm_model(I=2, H=3, dense=2, seed=4), True, bits=4),
                                 {"length": 16, **FAST}, _real((2, 3, 2), 4)),
}
# sequential MACs (head_macs = P): P = 1 and P = 3; "exact_stretch" (L = 8, 2 x 4 products, P = 1:
# H = 9 > 8) stretches every layer's step to 9 cycles
SEQ = {"exact_p1": ("exact", 1, None), "stream_p3": ("stream", 3, None), "exact_last_p1": ("exact_last", 1, None),
       "stream_last_int4_p3": ("stream_last_int4", 3, None), "exact_stretch": ("exact", 1, 8)}


def _seq(base: str, macs: int, length: int | None):
    model, cfg, x = CASES[base]()
    cfg = cfg | {"layers": {"head": {"head_macs": macs}}} | ({"length": length} if length else {})
    return model, cfg, x


for _name, (_base, _macs, _len) in SEQ.items():
    CASES[_name] = (lambda b=_base, m=_macs, n=_len: _seq(b, m, n))
VERILATOR_CASES = ("exact_last", "stream_last_int4", "exact_p1", "stream_last_int4_p3", "exact_stretch")


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    out = {}
    for name, make in CASES.items():
        model, cfg, x = make()
        design = compile_model(model, cfg, calibration=x)
        assert design.netlist.layers[-1].options.mode == "fixed"
        d = tmp_path_factory.mktemp(name)
        emit_design(design, d, inputs=x)
        out[name] = (design, d, x)
    return out


@pytest.mark.hw
@pytest.mark.parametrize("case, simulator",
                         [(c, "icarus") for c in CASES] + [(c, "verilator") for c in VERILATOR_CASES])
def test_fixed_head_matches_runtime_bit_for_bit(emitted, case, simulator):
    for prog in {"icarus": ("iverilog", "vvp"), "verilator": ("verilator",)}[simulator]:
        require_tool(prog)
    _, outdir, _ = emitted[case]
    passed, res = verify_design(outdir, simulator)
    assert passed, res.stdout[-2000:]
    assert "MISMATCH" not in res.stdout


@pytest.mark.parametrize("case", list(CASES))
def test_accumulators_are_checked_and_the_host_affine_is_simulate(emitted, case):
    design, outdir, x = emitted[case]
    man = json.loads((outdir / "tb" / "manifest.json").read_text())
    acc = [c for c in man["checks"] if c["node"] == "head.acc"]
    assert len(acc) == design.netlist.node("head.acc").size and all(c["signed"] for c in acc)
    host = man["host_affine"]
    assert host["input"] == "head.acc"
    _, runs = design._runtime().run(x, trace=True)
    k = runs["head"].trace["head.acc"] / host.get("length", 1)
    np.testing.assert_array_equal(np.asarray(host["gain"]) * k + np.asarray(host["bias"]), design.simulate(x))
    # the expected words hold the runtime's integer accumulators
    words = [int(w, 16) for w in (outdir / "tb" / f"{man['testbench']}_exp.hex").read_text().split()]
    B, T = x.shape[:2]
    shift = 0
    steps = runs["head"].trace["head.acc"].shape[1]
    for chk in man["checks"]:
        w = chk["width"]
        if chk["node"] == "head.acc":
            got = np.array([(word >> shift) & ((1 << w) - 1) for word in words]).reshape(B, T)
            got = np.where(got >= 1 << (w - 1), got - (1 << w), got)
            np.testing.assert_array_equal(got[:, T - steps:], runs["head"].trace["head.acc"][:, :, chk["neuron"]])
        shift += w


@pytest.mark.hw
@pytest.mark.parametrize("case", ["stream", "exact_last", "exact_p1", "stream_last_int4_p3"])
def test_corrupted_accumulator_is_reported(emitted, tmp_path, case):
    require_tool("iverilog")
    _, outdir, x = emitted[case]
    bad = tmp_path / "bad"
    shutil.copytree(outdir, bad)
    man = json.loads((bad / "tb" / "manifest.json").read_text())
    exp = bad / "tb" / f"{man['testbench']}_exp.hex"
    words = exp.read_text().split()
    shift = 0
    for chk in man["checks"]:
        if chk["node"] == "head.acc" and chk["neuron"] == 1:
            break
        shift += chk["width"]
    T = x.shape[1]
    idx = 1 * T + T - 1
    words[idx] = f"{int(words[idx], 16) ^ (1 << shift):x}"
    exp.write_text("\n".join(words) + "\n")
    passed, res = verify_design(bad, "icarus")
    assert not passed
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("MISMATCH")]
    assert len(lines) == 1, res.stdout
    assert re.match(rf"MISMATCH seq=1 step={T - 1} layer=head node=head\.acc neuron=1 ", lines[0]), lines[0]


@pytest.mark.hw
def test_lint_wall_clean(emitted):
    require_tool("verilator")
    for case in CASES:
        _, outdir, _ = emitted[case]
        man = json.loads((outdir / "tb" / "manifest.json").read_text())
        assert verilator_lint([outdir / "rtl" / f for f in man["rtl"]], "sc_design") == [], case


def test_sequential_head_timing_and_manifest(emitted):
    """The emitted control and the one timing model agree: H = 1 + ceil(O I / P) after the
    parallel head's read, the step stretched to H only when a per-step head exceeds the longest L."""
    from sccompiler.cost import netlist_timing
    for name, (base, macs, length) in SEQ.items():
        design, outdir, x = emitted[name]
        node = design.netlist.node("head.acc")
        rows, cols = node.arrays["wq"].shape
        assert node.params["macs"] == macs
        H = 1 + -(-rows * cols // macs)
        T = x.shape[1]
        t = netlist_timing(design.netlist, steps=T)
        par = netlist_timing(emitted[base][0].netlist, steps=T) if length is None else None
        man = json.loads((outdir / "tb" / "manifest.json").read_text())
        assert man["timing"]["head_cycles"] == H == t.head_cycles
        if name == "exact_stretch":
            assert H == 9 and t.step_period == 9 == man["cycles_per_step"]
        else:
            assert t.step_period == par.step_period and t.latency_cycles == par.latency_cycles + H
