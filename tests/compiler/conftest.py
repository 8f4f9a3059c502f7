"""Fixtures of the compiler tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def real_inputs():
    return np.random.default_rng(11).uniform(-1, 1, (6, 5, 3))


@pytest.fixture(scope="session")
def binary_inputs():
    return np.sign(np.random.default_rng(12).uniform(-1, 1, (6, 5, 4)))

