"""The optional-extra guards of sccompiler.testing: a missing module fails under CI's switch and
skips (with the install hint) otherwise, so CI never skips torch or onnxscript tests silently."""

import sys

import pytest

from sccompiler import testing


@pytest.mark.parametrize("guard, module", [(testing.require_torch, "torch"),
                                           (testing.require_onnxscript, "onnxscript")])
def test_a_missing_extra_fails_under_the_switch_and_skips_without(monkeypatch, guard, module):
    monkeypatch.setitem(sys.modules, module, None)           # importing it raises ImportError
    monkeypatch.setenv("SCC_REQUIRE_TORCH", "1")
    with pytest.raises(pytest.fail.Exception, match=f"{module}.* SCC_REQUIRE_TORCH=1"):
        guard()
    monkeypatch.setenv("SCC_REQUIRE_TORCH", "0")
    with pytest.raises(pytest.skip.Exception, match=r"sccompiler\[torch\]"):
        guard()
