"""Sources: tap table (proof of maximal length for every width, brute-force periods for small
widths), leap-forward matrices, van der Corput, the source spec and seed checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.errors import SCValueError
from sccompiler.sim.sources import (
    MAX_WIDTH,
    MIN_WIDTH,
    TAPS,
    SourceSpec,
    apply_matrix,
    byte_tables,
    is_maximal_length,
    leap_matrix,
    lfsr_states,
    lfsr_step,
    vdc_sequence,
)

from .naive import bitreverse, lfsr_leap
from .naive import lfsr_step as naive_step


def test_table_covers_every_width_with_top_bit_set():
    assert sorted(TAPS) == list(range(MIN_WIDTH, MAX_WIDTH + 1))
    for w, mask in TAPS.items():
        assert mask >> (w - 1) == 1


@pytest.mark.parametrize("width", range(MIN_WIDTH, MAX_WIDTH + 1))
def test_maximal_length_by_group_order(width):
    """Order of the step matrix is exactly 2^W - 1 (checked against every prime factor)."""
    assert is_maximal_length(width, TAPS[width])


@pytest.mark.parametrize("width", range(MIN_WIDTH, 17))
def test_period_brute_force(width):
    """Walk the register: it returns to the seed after exactly 2^W - 1 steps, visiting every
    nonzero state once."""
    seed = 1
    period = (1 << width) - 1
    seen = bytearray(1 << width)
    s = seed
    for step in range(1, period + 1):
        seen[s] = 1
        s = naive_step(s, width)
        if s == seed:
            break
    assert step == period and s == seed
    assert sum(seen) == period and seen[0] == 0


def test_non_maximal_mask_is_rejected():
    assert not is_maximal_length(4, 0xF)          # x^4+x^3+x^2+x+1 is irreducible, order 5
    assert not is_maximal_length(8, 0x80)


@given(width=st.integers(MIN_WIDTH, MAX_WIDTH), stride=st.integers(1, 70),
       seed=st.integers(1, 2**32 - 1))
def test_leap_matrix_equals_repeated_steps(width, stride, seed):
    seed = seed % ((1 << width) - 1) + 1
    assert int(apply_matrix(leap_matrix(width, stride), seed)) == lfsr_leap(seed, width, stride)
    tab = byte_tables(leap_matrix(width, stride))
    via_tables = tab[0, seed & 255] ^ tab[1, (seed >> 8) & 255] ^ tab[2, (seed >> 16) & 255] \
        ^ tab[3, (seed >> 24) & 255]
    assert int(via_tables) == lfsr_leap(seed, width, stride)


def test_lfsr_states_and_start_offset():
    full = lfsr_states(16, 0xACE1, 100)
    s = 0xACE1
    for t in range(100):
        assert int(full[t]) == s
        s = lfsr_leap(s, 16, 16)
    np.testing.assert_array_equal(lfsr_states(16, 0xACE1, 40, start=60), full[60:])
    assert lfsr_step(1, 3) == naive_step(1, 3)


def test_leap_forward_removes_serial_correlation():
    """Consecutive outputs of a one-step LFSR are shifts of each other (lag-1 correlation of R
    near 0.5); with stride W they are uncorrelated within binomial noise."""
    n = 1 << 14
    one = lfsr_states(16, 7, n, stride=1).astype(float)
    leap = lfsr_states(16, 7, n).astype(float)
    assert np.corrcoef(one[:-1], one[1:])[0, 1] > 0.4
    assert abs(np.corrcoef(leap[:-1], leap[1:])[0, 1]) < 5 / np.sqrt(n)


def test_vdc_is_bitreversed_counter_and_uniform():
    r = vdc_sequence(5, offset=3, length=64)
    assert [int(v) for v in r] == [bitreverse((3 + t) % 32, 5) for t in range(64)]
    assert sorted(int(v) for v in r[:32]) == list(range(32))


@pytest.mark.parametrize("kind", ["lfsr", "sobol", "ideal"])
def test_source_spec_sequence_ranges(kind):
    spec = SourceSpec(kind, 12, 5)
    r = spec.sequence(5000, bits=8)
    assert r.min() >= 0 and r.max() < 256
    # every source is (close to) uniform on its bits
    assert abs(r.mean() / 255 - 0.5) < 0.02


@pytest.mark.parametrize("kwargs,param", [
    (dict(kind="lfsr", width=2, seed=1), "width"), (dict(kind="lfsr", width=33, seed=1), "width"),
    (dict(kind="lfsr", width=8, seed=0), "seed"), (dict(kind="lfsr", width=8, seed=256), "seed"),
    (dict(kind="lfsr", width=8, seed=3, stride=-1), "stride"),
    (dict(kind="prng", width=8, seed=3), "source"), (dict(kind="lfsr", width=8.0, seed=3), "width"),
])
def test_source_spec_errors(kwargs, param):
    with pytest.raises(SCValueError) as info:
        SourceSpec(**kwargs)
    assert info.value.param == param


def test_leap_and_sequence_errors():
    with pytest.raises(SCValueError, match="stride"):
        leap_matrix(8, 0)
    with pytest.raises(SCValueError, match="bits"):
        SourceSpec("lfsr", 8, 3).sequence(4, bits=9)
    with pytest.raises(SCValueError, match="length"):
        lfsr_states(8, 3, -1)
