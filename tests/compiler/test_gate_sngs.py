"""gate_sngs: with one shared x/h SNG bank all four gate rows of a cell integrate the same operand
bits, so the gate streams i_j and g_j are correlated and the XNOR i*g is biased (E[i g] != E[i] E[g]);
per-gate SNG banks remove that bias.  Bias measured per row as the mean covariance of the operand
bits over independent sequences and steps, against its own standard error."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.design import compile_model
from sccompiler.errors import ConfigError
from sccompiler.runtime.engine import Runtime

from .models import FAST, gru_model, lstm_model

L = 1024


def _row_bias_z(mode: str, x: np.ndarray) -> np.ndarray:
    """Per row j: mean over (sequence, step) of cov(i_j bits, g_j bits) divided by its standard
    error; |z| ~ N(0,1) when the XNOR's operands are independent."""
    design = compile_model(lstm_model(I=3, H=8), {"length": L, "seed": 1, "defaults": {"gate_sngs": mode}, **FAST},
                           calibration=x)
    seen: dict[str, list] = {}

    def collect(layer, node, bits, t):
        if node.name in ("lstm0.i_s", "lstm0.g_s"):
            seen.setdefault(node.name, []).append(np.asarray(bits, dtype=np.float64))

    Runtime(design.netlist).run(x, length=L, collect=collect)
    i_bits, g_bits = (np.stack(seen[k], 1) for k in ("lstm0.i_s", "lstm0.g_s"))     # (B, T, H, L)
    cov = (i_bits * g_bits).mean(-1) - i_bits.mean(-1) * g_bits.mean(-1)            # product bias = 4 cov
    n = cov.shape[0] * cov.shape[1]
    return cov.mean((0, 1)) / (cov.std((0, 1), ddof=1) / np.sqrt(n))


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(11).uniform(-1, 1, (16, 8, 3))


def test_per_gate_sngs_remove_the_ig_bias(inputs):
    # 8 rows: max |z| of 8 independent N(0,1) exceeds 4 with probability ~5e-4
    shared, per_gate = _row_bias_z("shared", inputs), _row_bias_z("per_gate", inputs)
    assert np.abs(per_gate).max() < 4.0, per_gate
    assert np.abs(shared).max() > 5.0, shared            # the defect the option fixes (measured: 8.2)


def test_per_gate_sngs_cost_and_layout(inputs, tmp_path):
    I, H = 3, 8
    designs = {m: compile_model(lstm_model(I=I, H=H), {"length": 64, "defaults": {"gate_sngs": m}, **FAST},
                                calibration=inputs) for m in ("shared", "per_gate")}
    sngs = {m: d.netlist.node("lstm0.x_s").size + d.netlist.node("lstm0.h_s").size for m, d in designs.items()}
    assert sngs == {"shared": I + H, "per_gate": 4 * (I + H)}
    assert designs["per_gate"].netlist.layers[0].options.gate_sngs == "per_gate"
    regs = designs["per_gate"].netlist.sources["registers"]
    assert len({r["seed"] for r in regs}) == len(regs)               # private: every comparator its own source
    from sccompiler.design import CompiledDesign

    designs["per_gate"].save(tmp_path / "d")
    np.testing.assert_array_equal(CompiledDesign.load(tmp_path / "d").simulate(inputs[:2]),
                                  designs["per_gate"].simulate(inputs[:2]))
    # same values, independent bits: both converge to the same reference
    tr = {m: d.trace(inputs[:4], length=1024)["lstm0"] for m, d in designs.items()}
    for m in tr:
        assert np.abs(tr[m]["sc"]["lstm0.h"] - tr[m]["teacher_forced"]["h"]).mean() < 3 / np.sqrt(1024)


def test_per_gate_sngs_rejected_for_gru(inputs):
    with pytest.raises(ConfigError, match="gate_sngs"):
        compile_model(gru_model(I=3, layers=1), {"length": 64, "defaults": {"gate_sngs": "per_gate"}, **FAST},
                      calibration=inputs)
    with pytest.raises(ConfigError, match="gate_sngs"):
        compile_model(lstm_model(), {"defaults": {"gate_sngs": "per_row"}, **FAST}, calibration=inputs)


@pytest.mark.parametrize("same_scale", [True, False])
def test_per_gate_sngs_with_per_step_batchnorm(inputs, same_scale):
    """Per-step bn_x/bn_h (the trainer's recurrent BN): shared x streams become one bank per gate with
    the same per-step gains; per-row x streams stay per row; h gets one bank per gate."""
    from .test_datapath import _with_bn

    m = _with_bn(lstm_model(I=3, H=4), per_step=True, same_scale=same_scale)
    d = compile_model(m, {"length": 64, "defaults": {"gate_sngs": "per_gate"}, **FAST}, calibration=inputs)
    x_s, h_s = d.netlist.node("lstm0.x_s"), d.netlist.node("lstm0.h_s")
    assert h_s.shape == (4, 4) and x_s.shape == ((4, 3) if same_scale else (16, 3))
    assert d.netlist.layers[0].options.x_streams == ("per_gate" if same_scale else "per_row")
    errs = [np.abs((tr := d.trace(inputs[:6, :5], length=length)["lstm0"])["sc"]["lstm0.h"]
                   - tr["teacher_forced"]["h"]).mean() for length in (64, 1024)]
    assert errs[1] < errs[0] / 2 and errs[1] < 3 / np.sqrt(1024), errs
