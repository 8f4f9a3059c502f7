"""Regression (#18): operand values a rounding step outside [-1, 1] (-1.0000000000000002, seen on a
freshly quantized torch export, LSTM 4-12 + a 5-output last-step head, seed 3, ternary) are in range;
values further out are still refused."""

import numpy as np
import pytest

from sccompiler.errors import SCValueError
from sccompiler.fsm.inputs import gated_operand_input


def test_rounding_outside_the_range_is_clipped_and_real_excess_refused():
    a = np.ones((1, 2), dtype=bool)
    near = gated_operand_input(np.array([[-1.0000000000000002, 1.0000000000000002]]), a)
    exact = gated_operand_input(np.array([[-1.0, 1.0]]), a)
    assert near == exact or np.array_equal(np.asarray(near.pmf), np.asarray(exact.pmf))
    with pytest.raises(SCValueError, match="must lie in"):
        gated_operand_input(np.array([[-1.001, 0.0]]), a)
