"""A small randomized campaign (campaign.py) in CI: 0 tracebacks, 0 unsafe writes, 0 hangs, and one
``error:`` line for every rejected input."""

from __future__ import annotations

from .campaign import run_campaign


def test_small_campaign():
    counts = run_campaign(40, seed=19)
    failures = counts.pop("failures")
    assert not failures, failures
    assert counts["cases"] == 40 and counts["rejected"] > 0
