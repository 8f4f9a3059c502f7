"""LUT+SNG realization: a table of the target read at the quantized binary input, then one SNG.

The input value x in the domain [lo, hi] is quantized to k address bits by the uniform quantizer
:func:`sccompiler.sim.rules.lut_address`; entry a holds the output probability that minimizes the
max error over its cell, (max + min)/2 of the target's probability there, quantized to w bits,
Tq[a] = floor(q 2^w + 1/2).  The output stream is ``R'_t < Tq[a]``.  The analytic error is over a
grid of ``oversample`` points per cell plus the cell edges; it is exact for the table but assumes
the binary input value exact.  A stream input has to be counted first (an up counter over L
cycles, in the cost and in the bit-level simulation, which therefore adds the counter's noise).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import SCValueError, SynthesisError
from ..sim.rules import check_int, lut_address, quantized_weights
from .bernstein import check_domain, target_values
from .targets import Target, make_target

MAX_ADDRESS_BITS = 16
MAX_TABLE_BITS = 16


@dataclass(frozen=True)
class LutDesign:
    expression: str
    address_bits: int
    table_bits: int
    input: str
    output: str
    domain: tuple[float, float]
    table: tuple[int, ...]
    analytic_rmse: float
    analytic_max_error: float
    clip: bool
    seconds: float
    target: Target | None = field(default=None, compare=False, repr=False)

    def output_value(self, x: np.ndarray) -> np.ndarray:
        a = lut_address(np.asarray(x, dtype=float), self.address_bits, *self.domain)
        p = np.asarray(self.table, dtype=float)[a] / (1 << self.table_bits)
        return 2.0 * p - 1.0 if self.output == "bipolar" else p

    def target_value(self, x: np.ndarray) -> np.ndarray:
        return target_values(self.target, np.asarray(x, dtype=float), self.output, self.clip)


def _design(tgt: Target, k: int, w: int, input: str, output: str, domain, clip: bool,  # noqa: A002
            oversample: int) -> LutDesign:
    t0 = time.perf_counter()
    lo, hi = domain
    cells = 1 << k
    edges = np.linspace(lo, hi, cells + 1)
    # oversample points per cell, both edges included (a cell's right edge belongs to the next)
    frac = np.linspace(0.0, 1.0, oversample + 1)
    xs = (edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, :])
    y = target_values(tgt, xs.ravel(), output, clip).reshape(xs.shape)
    q = (1.0 + y) / 2.0 if output == "bipolar" else y
    mid = (q.max(axis=1) + q.min(axis=1)) / 2.0
    tq = quantized_weights(np.clip(mid, 0.0, 1.0), w)
    realized = tq / float(1 << w)
    # the error where each point is read: interior points by their own cell, the right edge of
    # a cell by the next one (the last edge, x = hi, by the last cell)
    inner = np.abs(q[:, :-1] - realized[:, None])
    edge_next = np.abs(q[:-1, -1] - realized[1:])
    last = abs(q[-1, -1] - realized[-1])
    scale = 2.0 if output == "bipolar" else 1.0
    err = np.concatenate([inner.ravel(), edge_next, [last]])
    return LutDesign(expression=tgt.description, address_bits=k, table_bits=w, input=input, output=output,
                     domain=tuple(domain), table=tuple(int(v) for v in tq),
                     analytic_rmse=scale * float(np.sqrt(np.mean(err ** 2))),
                     analytic_max_error=scale * float(err.max()), clip=clip,
                     seconds=time.perf_counter() - t0, target=tgt)


def synthesize_lut(target, *, address_bits: int | None = None, max_error: float | None = None,
                   table_bits: int | None = 10, input: str = "binary", output: str = "bipolar",  # noqa: A002
                   domain: tuple[float, float] | None = None, clip: bool = False, oversample: int = 16,
                   max_address_bits: int = 12) -> LutDesign:
    """A LUT+SNG table for ``target``: give ``address_bits`` or ``max_error`` (smallest k, then --
    with ``table_bits=None`` -- the smallest w, whose analytic max error is <= max_error)."""
    dom = check_domain(domain, input if input in ("binary", "unipolar") else "binary")
    tgt = make_target(target)
    check_int("oversample", oversample, 1, 256)
    max_address_bits = check_int("max_address_bits", max_address_bits, 1, MAX_ADDRESS_BITS)
    if table_bits is not None:
        table_bits = check_int("table_bits", table_bits, 1, MAX_TABLE_BITS)
    if (address_bits is None) == (max_error is None):
        raise SCValueError("address_bits", "give exactly one of address_bits or max_error")
    if address_bits is not None:
        k = check_int("address_bits", address_bits, 1, max_address_bits)
        return _design(tgt, k, 10 if table_bits is None else table_bits, input, output, dom, clip, oversample)
    if not (isinstance(max_error, (int, float)) and math.isfinite(max_error) and max_error > 0):
        raise SCValueError("max_error", f"must be a positive number, got {max_error!r}")
    w = MAX_TABLE_BITS if table_bits is None else table_bits
    for k in range(1, max_address_bits + 1):
        d = _design(tgt, k, w, input, output, dom, clip, oversample)
        if d.analytic_max_error <= max_error:
            break
    else:
        raise SynthesisError(f"no LUT with up to {max_address_bits} address bits and {w}-bit entries reaches max "
                             f"error {max_error:g} for {tgt.description!r} (best: {d.analytic_max_error:.3g})")
    if table_bits is None:
        for ww in range(1, MAX_TABLE_BITS + 1):
            dd = _design(tgt, d.address_bits, ww, input, output, dom, clip, oversample)
            if dd.analytic_max_error <= max_error:
                return dd
    return d
