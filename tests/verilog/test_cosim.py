"""Co-simulation of every primitive against the Python simulator, bit for bit and cycle by cycle,
under Icarus and Verilator (one suite testbench per simulator, see cosim.py)."""

from __future__ import annotations

import pytest

from .cosim import CANARY_CYCLES, LFSR_CONFIGS

pytestmark = pytest.mark.hw

GROUPS = ["lfsr_", "vdc_", "sng_cmp_", "sng_stream_", "gate_", "apc_k_", "apc_d_", "counter_up_",
          "updown_", "fsm_lin_", "fsm_int_", "wfsm_mod_", "wfsm_top_"]


def test_suite_covers_every_group(suite):
    labels = suite.harness.labels
    for g in GROUPS:
        assert any(lb.startswith(g) for lb in labels), g
    assert sum(lb.startswith("lfsr_w") for lb in labels) == len(LFSR_CONFIGS) + 1


@pytest.mark.parametrize("group", GROUPS)
def test_primitive_matches_simulator(suite, suite_run, group):
    results, stdout, bad = suite_run
    labels = [lb for lb in suite.harness.labels if lb.startswith(group)]
    missing = [lb for lb in labels if lb not in results]
    assert not missing, f"checks never reported (simulation ended early?): {missing[:5]}"
    failing = {lb: results[lb] for lb in labels if results[lb]}
    assert not failing, f"{failing}\n" + "\n".join(ln for ln in bad if any(lb in ln for lb in failing))


def test_canary_mismatch_is_reported(suite, suite_run):
    """The deliberately wrong check fails exactly in its corrupted cycles, with the right values."""
    results, stdout, bad = suite_run
    assert results["canary_wrong"] == len(CANARY_CYCLES)
    lines = [ln for ln in bad if "check=canary_wrong" in ln]
    assert [int(ln.split("cycle=")[1].split()[0]) for ln in lines] == list(CANARY_CYCLES)
    for ln in lines:
        exp = int(ln.split("expected=")[1].split()[0], 16)
        got = int(ln.split("got=")[1].split()[0], 16)
        assert exp ^ got == 0x8001
    assert "FAIL mismatches=2" in stdout  # the canary is the only failing check
