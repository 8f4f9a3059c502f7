"""Sobol sources of compiled designs (docs/semantics.md §2.5): the sequences reproduce scipy's
unscrambled Sobol points exactly (closed form and the RTL's recurrence), windows restart at the
digital shift, every window of 2^m points is stratified, and bad arguments are clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import qmc

from sccompiler.errors import SCValueError
from sccompiler.sim.sources import (
    SOBOL_MAX_DIMS,
    sobol_direction_count,
    sobol_directions,
    sobol_first_rows,
    sobol_sequence,
    sobol_step,
    trailing_ones,
)


def _scipy_points(dims: int, bits: int, n: int) -> np.ndarray:
    """(n, dims) scipy's unscrambled Sobol points (Gray-code order) as bits-bit integers: the top
    ``bits`` bits of its 32-bit points (scipy's own bits=b engine only for b >= the degrees)."""
    pts = qmc.Sobol(dims, scramble=False, bits=32).random(n)
    return (pts * 2.0 ** 32).astype(np.uint64) >> np.uint64(32 - bits)


@pytest.mark.parametrize("dims,bits,n", [(64, 8, 256), (300, 10, 1024), (40, 30, 4096), (8, 4, 1024)])
def test_sequences_reproduce_scipy(dims, bits, n):
    ref = _scipy_points(dims, bits, n)
    ours = np.stack([sobol_sequence(d, bits, n) for d in range(dims)], axis=1)
    np.testing.assert_array_equal(ours, ref)


def test_high_dimensions_reproduce_scipy():
    ref = _scipy_points(SOBOL_MAX_DIMS, 16, 64)
    for d in (1000, 5000, 12345, SOBOL_MAX_DIMS - 1):
        np.testing.assert_array_equal(sobol_sequence(d, 16, 64), ref[:, d], err_msg=str(d))


def test_scipy_bits_engine_agrees_for_low_dimensions():
    pts = qmc.Sobol(16, scramble=False, bits=8).random(256)
    ref = (pts * 256).astype(np.uint64)
    np.testing.assert_array_equal(np.stack([sobol_sequence(d, 8, 256) for d in range(16)], 1), ref)


def test_recurrence_equals_closed_form_with_window_and_shift():
    """The RTL's recurrence x <- x ^ v[c(u)], restarting at the shift every window, is the closed form."""
    for dim, bits, window, shift in [(0, 8, 16, 0), (5, 8, 37, 0xA5), (123, 6, 64, 17), (2, 10, 1, 3)]:
        v = sobol_directions(dim, bits, sobol_direction_count(window))
        x, seq = shift, []
        for t in range(3 * window + 5):
            u = t % window
            if u == 0:
                x = shift
            seq.append(x)
            x = sobol_step(x, u, v)
        np.testing.assert_array_equal(sobol_sequence(dim, bits, len(seq), shift, window=window), seq)


def test_trailing_ones():
    t = np.arange(64)
    naive = [next(k for k in range(8) if not (int(u) >> k) & 1) for u in t]
    np.testing.assert_array_equal(trailing_ones(t), naive)


@pytest.mark.parametrize("dim", [0, 1, 7, 300])
def test_every_window_is_stratified(dim):
    """The first 2^m points of any dimension (any digital shift) hit each of the 2^m intervals once,
    so a comparator's count over a window is within 1 of L X / 2^b (an LFSR's is not)."""
    bits, m = 10, 6
    L = 1 << m
    for shift in (0, 0x155, 0x3FF):
        r = sobol_sequence(dim, bits, L, shift, window=L)
        assert sorted((r >> np.uint64(bits - m)).tolist()) == list(range(L))
        for X in (1, 100, 513, 1000):
            assert abs(int(np.sum(r < X)) - L * X / 2 ** bits) < 1


def test_first_rows_are_the_top_bits():
    rows = sobol_first_rows(50, 6)
    for d in (0, 3, 49):
        top = sobol_sequence(d, 8, 64) >> np.uint64(7)
        gray = np.arange(64) ^ (np.arange(64) >> 1)
        parity = np.array([bin(int(g) & int(rows[d])).count("1") & 1 for g in gray])
        np.testing.assert_array_equal(top, parity)


@pytest.mark.parametrize("call", [
    lambda: sobol_directions(SOBOL_MAX_DIMS, 8, 4), lambda: sobol_directions(0, 33, 4),
    lambda: sobol_sequence(0, 8, 4, shift=256), lambda: sobol_sequence(-1, 8, 4),
    lambda: sobol_direction_count(0)])
def test_bad_arguments(call):
    with pytest.raises(SCValueError):
        call()
