"""The input range rounding bug: compiling a torch-imported model with the calibration's own max |x|
as the input range must accept and encode every calibration value (the x SNG scale u / a_x with
u = |a_x| R used to round one ulp below R, so x = R encoded to 1 + 1 ulp and was refused)."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.design import compile_model
from sccompiler.errors import SCValueError
from sccompiler.sim.rules import covering_gain, covering_scale, input_accepted
from sccompiler.testing import require_torch

from .models import FAST, assert_bit_exact

#: (kind, torch seed): torch-initialized layers whose ternary x unit rounds u / a_x below max |x|
#: (found by scanning seeds; the input's seed is the same)
CASES = [("LSTM", 50), ("GRU", 225)]


def _torch_model(torch, kind, seed):
    from sccompiler.frontends import load_model
    from sccompiler.quantize.schemes import quantize_model

    torch.manual_seed(seed)
    model = quantize_model(load_model(getattr(torch.nn, kind)(3, 4, batch_first=True)), "ternary")
    x = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(seed)).numpy().astype(np.float64)
    return model, x


@pytest.mark.parametrize("kind, seed", CASES)
@pytest.mark.parametrize("gate_input", ["auto", "integral_wfsm"])
def test_calibration_max_is_accepted_and_encoded(kind, seed, gate_input):
    torch = require_torch()
    model, x = _torch_model(torch, kind, seed)
    r = float(np.max(np.abs(x)))
    design = compile_model(model, {"length": 32, "input_range": r, "defaults": {"gate_input": gate_input}, **FAST},
                           calibration=x)
    sngs = [n for n in design.netlist if n.op == "sng" and n.inputs and n.inputs[0].endswith(".x")]
    assert sngs
    for n in sngs:
        assert r / n.params["scale"] <= 1.0                 # x = max |x| encodes to at most 1
    y, _ = assert_bit_exact(design.netlist, x)              # both runtimes accept every calibration value
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(design.simulate(x), y)
    # one ulp above the compiled range is refused, by the one acceptance rule
    bump = x.copy()
    k = np.unravel_index(np.argmax(np.abs(x)), x.shape)
    bump[k] = np.nextafter(bump[k], np.copysign(np.inf, bump[k]))
    with pytest.raises(SCValueError, match="compiled for inputs in"):
        design.simulate(bump)


def test_covering_scale_and_gain():
    rng = np.random.default_rng(0)
    moved = 0
    for _ in range(2000):
        a, R = rng.uniform(0.01, 1), rng.uniform(0.5, 5)
        s = covering_scale(abs(a) * R / a, R)
        assert R / s <= 1.0 and s >= abs(a) * R / a
        moved += s != abs(a) * R / a
        assert s <= np.nextafter(abs(a) * R / a, np.inf)    # at most one ulp up
        g = covering_gain(np.array([a / (a * R), -a / (a * R)]), R)
        assert np.all(np.abs(g) * R <= 1.0)
    assert moved > 0                                        # the rounding case does occur
    assert covering_scale(-2.0, 2.0) == -2.0 and covering_scale(3.0, 2.0) == 3.0
    assert input_accepted([2.0, -2.0], 2.0).all() and not input_accepted([np.nextafter(2.0, 3.0)], 2.0).any()
