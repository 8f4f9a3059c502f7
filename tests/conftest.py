"""Shared test configuration.

CI sets ``SCC_REQUIRE_TOOLS=1`` (external HDL tools must be present) and ``SCC_REQUIRE_TORCH=1``
(the torch extra must be installed): then a missing tool *fails* the test instead of skipping it,
so nothing a user relies on is silently skipped in CI.
"""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _strict(var: str) -> bool:
    return os.environ.get(var, "") not in ("", "0", "false", "no")


def require_tool(name: str) -> str:
    """Return the path of an external program, or skip (fail under SCC_REQUIRE_TOOLS=1)."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed (apt-get install {name})"
        if _strict("SCC_REQUIRE_TOOLS"):
            pytest.fail(msg + " and SCC_REQUIRE_TOOLS=1")
        pytest.skip(msg)
    return path


def require_torch():
    """Import and return torch, or skip (fail under SCC_REQUIRE_TORCH=1)."""
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        if _strict("SCC_REQUIRE_TORCH"):
            pytest.fail("torch is not installed and SCC_REQUIRE_TORCH=1")
        pytest.skip("torch is not installed (pip install 'sccompiler[torch]')")
    return torch


@pytest.fixture
def torch():
    return require_torch()
