"""Inventories of the standalone activation realizations (docs/activations.md, "cost").

Each realization is costed from a binary input value x (``width`` bits, as its standalone RTL
takes it: an SNG threshold port) to its output stream; the consumer of the stream (a counter, a
gate) is not included, nor is the register that holds x.

* WFSM (N states, b-bit weights): one input SNG with its own ``width``-bit LFSR, the weighted FSM
  (:func:`~.primitives.wfsm`: state update, N x b table, b-bit comparator) and its weight source,
  an LFSR of max(16, b) bits (none for a deterministic 0/2^b table such as Stanh).
* ReSC (degree n, w-bit coefficients): n input SNGs, each with its own ``width``-bit LFSR (the
  decorrelated copies), an n-input APC, the (n+1) x w coefficient table, one w-bit comparator and
  its max(16, w)-bit source (one coefficient is selected per cycle, so one comparator serves all).
* two-dimensional WFSM (N states per counter, b-bit weights): two input SNGs with their own
  LFSRs, two linear FSM state updates, the N^2 x b table, one b-bit comparator and its source.
* LUT+SNG (k address bits, w-bit entries): the 2^k x w table (its address is the top k bits of x)
  and one SNG with its max(16, w)-bit source.
"""

from __future__ import annotations

from .inventory import Inventory


def _source_width(bits: int) -> int:
    return max(16, int(bits))


def wfsm_inventory(states: int, weight_bits: int, *, width: int = 16, max_step: int = 1,
                   operands: int = 1, deterministic: bool = False) -> Inventory:
    inv = Inventory.of("sng", operands, width=width, lfsr_width=width)
    if operands > 1:
        inv = inv.add("apc", 1, inputs=operands)
    inv = inv.add("wfsm", 1, states=states, weight_bits=weight_bits, max_step=max_step, stanh=deterministic)
    if not deterministic:
        inv = inv.add("lfsr", 1, width=_source_width(weight_bits))
    return inv


def resc_inventory(degree: int, coefficient_bits: int, *, width: int = 16) -> Inventory:
    return (Inventory.of("sng", degree, width=width, lfsr_width=width)
            .add("apc", 1, inputs=degree)
            .add("table", 1, depth=degree + 1, width=coefficient_bits)
            .add("comparator", 1, width=coefficient_bits)
            .add("lfsr", 1, width=_source_width(coefficient_bits)))


def wfsm2d_inventory(states: int, weight_bits: int, *, width: int = 16) -> Inventory:
    return (Inventory.of("sng", 2, width=width, lfsr_width=width)
            .add("linear_fsm", 2, states=states)
            .add("table", 1, depth=states * states, width=weight_bits)
            .add("comparator", 1, width=weight_bits)
            .add("lfsr", 1, width=_source_width(weight_bits)))


def lut_inventory(address_bits: int, table_bits: int) -> Inventory:
    return (Inventory.of("table", 1, depth=1 << address_bits, width=table_bits)
            .add("sng", 1, width=table_bits, lfsr_width=_source_width(table_bits)))


def area(inv: Inventory, target: str = "asic-generic", cycles: int = 1024) -> dict:
    """The cost summary reported per candidate: gate equivalents (ASIC) or LUT-equivalents, cells,
    flip-flops, random sources, and the energy of ``cycles`` clock cycles."""
    rep = inv.estimate(target, cycles=cycles)
    return {"target": rep.target, "area": rep.area, "area_unit": rep.area_unit,
            "gate_equivalents": rep.gate_equivalents, "flip_flops": rep.flip_flops, "rng_count": rep.rng_count,
            "sng_count": rep.sng_count, "energy_per_inference_j": rep.energy_per_inference_j,
            "cells": dict(rep.cells), "inventory": inv.to_json()}
