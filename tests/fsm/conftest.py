"""FSM tests never read or write the on-disk design cache (a stale entry must not make them pass)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_disk_cache(monkeypatch):
    from sccompiler.fsm import clear_cache

    monkeypatch.setenv("SCC_FSM_CACHE", "0")
    clear_cache()
    yield
    clear_cache()
