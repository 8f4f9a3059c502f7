"""Measured correlation between the random numbers of conflicting comparators.

For every layer, pairs of conflicting comparators (their streams meet: :mod:`.conflicts`) are
sampled reproducibly; each comparator's stream at probability 1/2 (``R_t < 2^(b-1)``: the
most significant random bit, the one every threshold depends on most) is generated for
``cycles`` cycles from the design's own source registers (:class:`~sccompiler.runtime.randoms.LayerRandoms`),
and the pair's SCC and covariance z-score (:func:`sccompiler.sim.seeds.scc`,
:func:`~sccompiler.sim.seeds.correlation_z`) are measured.  The report gives the worst of both
and the share of pairs beyond |z| > 4 (under independence about 6e-5 of the pairs).  Sobol
registers restart every layer window (docs/semantics.md §2.5), so their pairs are measured over
``cycles / L`` identical windows: two dimensions with distinct generator first rows give SCC 0
exactly, equal rows +-1 (the z-score assumes independent bits and is only indicative for them).
"""

from __future__ import annotations

import numpy as np

from ..ir.sc import SCNetlist
from ..runtime.randoms import LayerRandoms
from ..sim.seeds import correlation_z, scc
from .conflicts import layer_streams


def source_correlation(netlist: SCNetlist, *, cycles: int = 4096, max_pairs: int = 2000, seed: int = 0) -> dict:
    """Worst measured |SCC| and |z| over sampled conflicting comparator pairs, per layer and overall."""
    rng = np.random.default_rng(seed)
    layers, worst_scc, worst_z, beyond, total = {}, 0.0, 0.0, 0, 0
    for plan in netlist.layers:
        s = layer_streams(netlist, plan.name)
        if len(s.comparators) < 2:
            continue
        pairs = set()
        cliques = [q for q in s.cliques]
        tries = 0
        while len(pairs) < max_pairs and cliques and tries < 20 * max_pairs:
            tries += 1
            q = cliques[int(rng.integers(len(cliques)))]
            members = [k for k in range(q.bit_length()) if (q >> k) & 1]
            a, b = rng.choice(members, size=2, replace=False)
            if s.live[a] and s.live[b]:
                pairs.add((int(min(a, b)), int(max(a, b))))
        if not pairs:
            continue
        rand = LayerRandoms(netlist, plan.name).step(cycles)
        streams = np.empty((len(s.comparators), cycles), dtype=bool)
        for k, c in enumerate(s.comparators):
            streams[k] = rand[c.node][:, c.index] < (1 << (c.bits - 1))
        a_idx = np.array([p[0] for p in pairs])
        b_idx = np.array([p[1] for p in pairs])
        sc = np.abs(np.nan_to_num(scc(streams[a_idx], streams[b_idx])))
        z = np.abs(correlation_z(streams[a_idx], streams[b_idx]))
        layers[plan.name] = {"pairs": len(pairs), "max_abs_scc": float(sc.max()), "max_abs_z": float(z.max()),
                             "mean_abs_scc": float(sc.mean()), "share_beyond_z4": float(np.mean(z > 4))}
        worst_scc, worst_z = max(worst_scc, float(sc.max())), max(worst_z, float(z.max()))
        beyond += int(np.sum(z > 4))
        total += len(pairs)
    return {"cycles": cycles, "pairs": total, "max_abs_scc": worst_scc, "max_abs_z": worst_z,
            "share_beyond_z4": beyond / total if total else 0.0, "layers": layers}
