"""Pareto sets over the objectives (each minimized or maximized)."""

from __future__ import annotations

from typing import Mapping, Sequence

from .objectives import Objective


def dominates(a: Mapping[str, float], b: Mapping[str, float], objectives: Sequence[Objective]) -> bool:
    """True when ``a`` is at least as good as ``b`` on every objective and better on one."""
    strictly = False
    for o in objectives:
        va, vb = a[o.name], b[o.name]
        if o.better(vb, va):
            return False
        if o.better(va, vb):
            strictly = True
    return strictly


def pareto_indices(points: Sequence[Mapping[str, float]], objectives: Sequence[Objective]) -> list[int]:
    """Indices of the points no other point dominates (equal points are all kept), in input order."""
    return [i for i, p in enumerate(points)
            if not any(dominates(q, p, objectives) for j, q in enumerate(points) if j != i)]
