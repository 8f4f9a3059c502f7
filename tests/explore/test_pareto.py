"""Pareto sets against brute-force enumeration on constructed sets (minimized and maximized
objectives, ties)."""

from __future__ import annotations

import itertools

import numpy as np

from sccompiler.explore.objectives import Objective, parse_objectives
from sccompiler.explore.pareto import dominates, pareto_indices

MIN2 = [Objective("error", "minimize"), Objective("energy", "minimize")]


def test_constructed_front():
    pts = [{"error": e, "energy": c} for e, c in [(1, 5), (2, 2), (3, 1), (2, 3), (4, 4), (1, 5), (0.5, 9)]]
    # (2,3) is dominated by (2,2); (4,4) by (2,2); the repeated (1,5) is kept twice
    assert pareto_indices(pts, MIN2) == [0, 1, 2, 5, 6]


def test_maximized_objective():
    objs = [Objective("metric", "maximize"), Objective("area", "minimize")]
    pts = [{"metric": 0.9, "area": 10}, {"metric": 0.8, "area": 10}, {"metric": 0.95, "area": 20}]
    assert pareto_indices(pts, objs) == [0, 2]
    assert dominates(pts[0], pts[1], objs) and not dominates(pts[1], pts[0], objs)


def test_random_sets_match_brute_force():
    rng = np.random.default_rng(0)
    objs = [Objective("a", "minimize"), Objective("b", "maximize"), Objective("c", "minimize")]
    for _ in range(30):
        pts = [{"a": int(a), "b": int(b), "c": int(c)} for a, b, c in rng.integers(0, 4, (12, 3))]
        brute = []
        for i, p in enumerate(pts):
            dominated = any(q["a"] <= p["a"] and q["b"] >= p["b"] and q["c"] <= p["c"]
                            and (q["a"] < p["a"] or q["b"] > p["b"] or q["c"] < p["c"])
                            for j, q in enumerate(pts) if j != i)
            if not dominated:
                brute.append(i)
        assert pareto_indices(pts, objs) == brute
        front = [pts[i] for i in brute]
        for p, q in itertools.permutations(front, 2):
            assert not dominates(p, q, objs)


def test_verdict_counts_only_the_cheapest_folding():
    """An SC trial cheaper than a fully parallel k-bit design but dearer than its folded version
    (same integers, same error) is no win; cheaper than every folding is."""
    from sccompiler.explore.report import summarize

    def rec(n, area):
        return {"number": n, "state": "ok", "params": {}, "values": {"error": 0.1, "area": area, "energy": 1.0}}

    base = [{"name": "fixed4", "state": "ok", "values": {"error": 0.2, "area": 100.0, "energy": 0.5}},
            {"name": "fixed4-P1", "state": "ok", "values": {"error": 0.2, "area": 10.0, "energy": 0.5}}]
    objectives = parse_objectives(["error", "area"], "test")
    lose = summarize([rec(0, 50.0)], base, objectives, [], None)
    assert not lose["sc_beats_fixed_point"]
    win = summarize([rec(0, 5.0)], base, objectives, [], None)
    assert win["best_win"]["area"]["baseline"] == "fixed4-P1" and win["best_win"]["area"]["factor"] == 2.0
