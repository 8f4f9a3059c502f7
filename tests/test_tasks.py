"""The torch-free synthetic tasks: exact targets, shapes, seeding and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.errors import ConfigError, SCValueError
from sccompiler.tasks import synthetic_task_arrays


def test_delay_and_parity_targets_are_exact():
    x, y = synthetic_task_arrays("delay", 8, 10, seed=3)
    bits = (x[..., 0] > 0).astype(int)
    assert x.shape == (8, 10, 1) and set(np.unique(x)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(y[:, :2], 0)
    np.testing.assert_array_equal(y[:, 2:], bits[:, :-2])
    x, y = synthetic_task_arrays("parity", 8, 10, seed=3)
    bits = (x[..., 0] > 0).astype(int)
    np.testing.assert_array_equal(y, np.cumsum(bits, axis=1) % 2)


def test_sine_is_next_value_and_seeded():
    x, y = synthetic_task_arrays("sine", 4, 12, seed=1)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    x2, _ = synthetic_task_arrays("sine", 4, 12, seed=1)
    x3, _ = synthetic_task_arrays("sine", 4, 12, seed=2)
    np.testing.assert_array_equal(x, x2)
    assert not np.array_equal(x, x3)


@pytest.mark.parametrize("kwargs, err", [
    (dict(name="copy"), ConfigError), (dict(name="delay", samples=0), SCValueError),
    (dict(name="delay", steps=1), SCValueError), (dict(name="delay", samples=True), SCValueError)])
def test_bad_arguments(kwargs, err):
    with pytest.raises(err):
        synthetic_task_arrays(**kwargs)
