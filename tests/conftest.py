"""Shared test configuration.

CI sets ``SCC_REQUIRE_TOOLS=1`` (external HDL tools must be present) and ``SCC_REQUIRE_TORCH=1``
(the torch extra must be installed): then a missing tool *fails* the test instead of skipping it,
so nothing a user relies on is silently skipped in CI.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from sccompiler.testing import require_torch

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def torch():
    return require_torch()
