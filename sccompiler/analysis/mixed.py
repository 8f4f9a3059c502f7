"""A mixed-value variant of the reference runtime: a chosen set of the design's stochastic
elements replaced by their exact expectation (docs/compiler.md "Error budget").

Every stream node carries either its bits (bool, ``(B, ..., L)``, exactly what
:class:`~sccompiler.runtime.engine.Runtime` computes) or, once an element upstream is made exact,
per-cycle probabilities of a one (float64, ``(B, ..., L)`` or ``(B, ..., 1)`` when constant over
the step).  Integral (APC) nodes carry integers or a per-cycle mean, plus an integer
*realization* for a stochastic FSM downstream: float streams are realized there as bits of a
private ideal source (``numpy`` generator, fixed seed), i.e. independent streams of the exact
probability.  The rules used on probabilities are those of docs/semantics.md §8: XNOR
``ab + (1-a)(1-b)``, MUX ``s a + (1-s) b``, APCs and counters sum, an SNG made exact emits
``X / 2^b`` (its threshold; the ideal value when the class ``sng_quantization`` is exact too).

Element classes (``{layer}/{kind}``, :func:`element_classes`) and what "exact" means for each:

``x_sng`` / ``h_sng`` / ``c_sng`` / ``bias_sng``
    the SNG banks encoding the layer input, h_{t-1}, c_{t-1} and the bias constants emit their
    probability instead of bits.
``sng_quantization``
    every SNG of the layer compares against the unquantized value (``2^b v``) instead of its
    b-bit threshold: stochastic SNGs then emit ``R < 2^b p``, exact ones ``p`` itself.
``gate_wfsm_noise`` / ``cell_fsm_noise``
    the gate WFSMs / the tanh(c) FSM output their steady state (semantics §5.2) for the input
    distribution of the step (the histogram of the step's integral input over its L cycles) instead
    of their bits.
``gate_wfsm_approx`` / ``cell_fsm_approx``
    the FSM realizes its target ``act(gain z + shift)`` at the step's mean input z (tanh(c): z
    clipped to the cell range, as the design reference does) instead of its steady state.  With the
    noise still stochastic the bits are kept and shifted by (target - steady state): the stream's
    noise stays, its approximation error goes.
``operand_correlation``
    the XNORs / MUXes of the datapath (except h's product) output the product of their operands'
    step means (exact for independent operands) instead of the bitwise result: what the
    operands' correlation (shared inputs, shared sources) and the finite-L product add.
``h_decode``
    the same for h's product o XNOR tanh(c) and its counter: h = o tanh(c) from the two streams'
    decoded values.
``shared_sources``
    every comparator of the layer reads a private LFSR (its register's width, a distinct seed)
    instead of the allocated shared register bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SCValueError, SimulationError
from ..ir.sc import SIGMOID_UNIPOLAR, TANH, SCNetlist, SCNode
from ..runtime.engine import VALUE_OPS, LayerFlow, LayerRun, align_banks, eval_value_op, sng_values, wfsm_group_bits
from ..runtime.randoms import COMPARATOR_OPS, LayerRandoms, comparator_nodes, comparator_wiring
from ..sim.encoding import threshold
from ..sim.kernels import lfsr_fill, updown_streams
from ..sim.primitives import mux, sng, up_counter, xnor_
from ..sim.rules import comparator_bits, fsm_reset_state, stats_row
from ..sim.sources import byte_tables, leap_matrix

_INT_LO = -(1 << 62)
_INT_HI = 1 << 62
#: the per-layer element classes (in report order); which exist depends on the layer's nodes
CLASS_KINDS = ("x_sng", "h_sng", "c_sng", "bias_sng", "sng_quantization", "gate_wfsm_noise",
               "gate_wfsm_approx", "cell_fsm_noise", "cell_fsm_approx", "operand_correlation",
               "h_decode", "shared_sources")
#: classes that act only through the other elements' bits (with every other class exact they
#: change nothing): their "only one stochastic" figure is not defined
INTERACTION_KINDS = ("operand_correlation", "h_decode", "shared_sources")
_PRODUCT_OPS = ("xnor", "mux")


def _is_bits(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype == np.bool_


def _prob(v) -> np.ndarray:
    return v.astype(np.float64) if _is_bits(v) else v


def _cycles_sum(v: np.ndarray, L: int) -> np.ndarray:
    """Sum over the L cycles of a per-cycle array ((.., 1): constant over the step)."""
    return v.sum(axis=-1) * (L / v.shape[-1])


def _hidden_product(nodes: list[SCNode]) -> set[str]:
    """The stream gates whose output h's counter counts (h's product)."""
    by = {n.name: n for n in nodes}
    out = set()
    for n in nodes:
        if n.op == "counter" and n.inputs and n.inputs[0] in by and by[n.inputs[0]].op in _PRODUCT_OPS:
            out.add(n.inputs[0])
    return out


def node_kind(n: SCNode, by: dict[str, SCNode], hidden_products: set[str]) -> str | None:
    """The element class kind of a node (None: deterministic)."""
    if n.op == "sng":
        if "const" in n.arrays:
            return "bias_sng"
        src = by.get(n.inputs[0]) if n.inputs else None
        if src is not None and src.op == "register":
            return "c_sng" if src.name.endswith(".c_prev") else "h_sng"
        return "x_sng"
    if n.op == "wfsm":
        return "cell_fsm" if n.params.get("role") == "cell" else "gate_wfsm"
    if n.op in _PRODUCT_OPS:
        return "h_decode" if n.name in hidden_products else "operand_correlation"
    return None


def element_classes(netlist: SCNetlist) -> list[str]:
    """Every ``{layer}/{kind}`` class of the design's stochastic elements, in report order."""
    out = []
    for plan in netlist.layers:
        nodes = netlist.layer_nodes(plan.name)
        by = {n.name: n for n in nodes}
        hp = _hidden_product(nodes)
        kinds = set()
        for n in nodes:
            k = node_kind(n, by, hp)
            if k in ("gate_wfsm", "cell_fsm"):
                kinds |= {k + "_noise", k + "_approx"}
            elif k is not None:
                kinds.add(k)
        if any(n.op == "sng" for n in nodes):
            kinds.add("sng_quantization")
        if any(n.op in COMPARATOR_OPS for n in nodes):
            kinds.add("shared_sources")
        out += [f"{plan.name}/{k}" for k in CLASS_KINDS if k in kinds]
    return out


class PrivateRandoms:
    """Random numbers of a layer's comparators when each reads a private LFSR: the width of the
    register it is wired to, the low b bits, seeds spread over the state space (never 0)."""

    def __init__(self, netlist: SCNetlist, layer: str) -> None:
        registers = list(netlist.sources.get("registers") or [])
        self.columns, widths, bits, live = {}, [], [], []
        start = 0
        for n in comparator_nodes(netlist, layer):
            src, _ = comparator_wiring(n)
            for g in src:
                widths.append(int(registers[int(g)]["width"]) if g >= 0 else 16)
                live.append(g >= 0)
            bits += [comparator_bits(n)] * n.size
            self.columns[n.name] = (start, start + n.size)
            start += n.size
        self.widths = np.array(widths, dtype=np.int64)
        self.masks = np.array([(1 << b) - 1 for b in bits], dtype=np.uint64)
        self.groups = []
        for w in sorted(set(widths)):
            cols = np.flatnonzero(self.widths == w)
            period = (1 << w) - 1
            seeds = np.array([1 + (int(c) * 0x9E3779B1 + 12345) % period for c in cols], dtype=np.uint64)
            self.groups.append((cols, byte_tables(leap_matrix(w, w)), seeds, np.uint64(period)))

    def step(self, L: int) -> dict[str, np.ndarray]:
        out = np.empty((self.widths.size, L), dtype=np.uint64)
        for cols, tables, state, mask in self.groups:
            part = np.empty((cols.size, L), dtype=np.uint64)
            lfsr_fill(tables, state, part.T, mask)
            out[cols] = part
        out &= self.masks[:, None]
        return {name: out[a:b].T for name, (a, b) in self.columns.items()}


#: FSMs with more states than this get their steady state by power iteration (FFT convolution)
EXACT_SOLVE_STATES = 32
#: power iteration: stop when no lane's distribution moves by more than this in one block
POWER_TOL = 1e-6
POWER_MAX_ITER = 300


def _transition_solve(pmf: np.ndarray, min_step: int, N: int) -> np.ndarray:
    """Stationary distributions (K, N) by a batched linear solve (small N)."""
    K, S = pmf.shape
    cdf = np.cumsum(pmf, axis=1)
    s = np.arange(N)[:, None]
    sp = np.arange(N)[None, :]
    k = sp - s - min_step                                              # (N, N) pmf index of s -> s'
    inside = (k >= 0) & (k < S)
    T = np.where(inside[None], pmf[:, np.clip(k, 0, S - 1)], 0.0)
    low = np.clip(-s[:, 0] - min_step, -1, S - 1)                      # P(s + d <= 0)
    high = np.clip(N - 2 - s[:, 0] - min_step, -1, S - 1)              # P(s + d <= N - 2)
    T[:, :, 0] = np.where(low[None] >= 0, cdf[:, np.maximum(low, 0)], 0.0)
    T[:, :, N - 1] = 1.0 - np.where(high[None] >= 0, cdf[:, np.maximum(high, 0)], 0.0)
    walk = np.zeros((N, N))
    walk[np.arange(N), np.minimum(np.arange(N) + 1, N - 1)] += 0.5
    walk[np.arange(N), np.maximum(np.arange(N) - 1, 0)] += 0.5
    T = (1 - 1e-9) * T + 1e-9 * walk[None]
    A = np.transpose(T, (0, 2, 1)) - np.eye(N)[None]
    A[:, -1, :] = 1.0
    b = np.zeros((K, N))
    b[:, -1] = 1.0
    return np.linalg.solve(A, b[..., None])[..., 0]


def _power_iteration(pmf: np.ndarray, min_step: int, N: int, start: np.ndarray | None) -> np.ndarray:
    """Stationary distributions (K, N) by power iteration, one step = the convolution of pi with
    the increment pmf (FFT) with the mass beyond either end folded onto it."""
    K, S = pmf.shape
    width = N + S - 1
    nfft = 1 << int(np.ceil(np.log2(width)))
    P = np.fft.rfft(pmf, nfft)
    lo = -min_step                                                     # index of u = 0
    hi = N - 1 - min_step                                              # index of u = N - 1
    if start is None:                     # the diffusion limit: pi_s ~ exp(2 mu s / sigma^2)
        d = np.arange(S) + min_step
        mu = pmf @ d
        var = np.maximum(pmf @ (d * d) - mu * mu, 1e-6)
        e = np.clip(2.0 * mu / var, -50.0 / N, 50.0 / N)[:, None] * np.arange(N)[None, :]
        pi = np.exp(e - e.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
    else:
        pi = start.copy()
    active = np.arange(K)
    for it in range(POWER_MAX_ITER):
        c = np.fft.irfft(np.fft.rfft(pi[active], nfft) * P[active], nfft)[:, :width]
        new = np.empty((active.size, N))
        new[:, 1:N - 1] = c[:, lo + 1:hi]
        new[:, 0] = c[:, :lo + 1].sum(axis=1)
        new[:, N - 1] = c[:, hi:].sum(axis=1)
        new = np.clip(new, 0.0, None)
        new /= new.sum(axis=1, keepdims=True)
        moved = np.abs(new - pi[active]).max(axis=1)
        pi[active] = new
        if it % 8 == 7:
            active = active[moved > POWER_TOL]
            if active.size == 0:
                break
    return pi


def steady_distribution(pmf: np.ndarray, min_step: int, states: int, start: np.ndarray | None = None) -> np.ndarray:
    """Stationary distributions (K, N) of integer-step FSMs ``s <- clamp(s + d, 0, N-1)``, one per
    lane, ``pmf`` (K, S) the increment distribution over min_step .. min_step + S - 1 (semantics
    §5.2): a batched linear solve up to :data:`EXACT_SOLVE_STATES` states (a 1e-9 lazy-walk
    admixture keeps chains with a constant zero input irreducible), power iteration beyond (from
    ``start``, e.g. the lane's previous steady state; tolerance :data:`POWER_TOL`)."""
    N = int(states)
    pi = _transition_solve(pmf, min_step, N) if N <= EXACT_SOLVE_STATES else _power_iteration(pmf, min_step, N, start)
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum(axis=1, keepdims=True)


@dataclass
class _Int:
    """A mixed integral value: per-cycle ``mean`` (float or the exact integers) and an integer
    ``sample`` realization (equal to ``mean`` when it holds integers)."""

    mean: np.ndarray
    sample: np.ndarray
    exact_parts: bool                                                  # some part came from floats


class MixedRuntime:
    """Runs a design with the classes in ``exact`` replaced by their expectation (module
    docstring); with ``exact`` empty it computes what the reference runtime computes, bit for bit."""

    def __init__(self, netlist: SCNetlist, exact: frozenset[str] | set[str] = frozenset(), seed: int = 0) -> None:
        self.netlist = netlist.check()
        known = set(element_classes(netlist))
        unknown = sorted(set(exact) - known)
        if unknown:
            raise SCValueError("exact", f"unknown element class {unknown[0]!r}; the design has: "
                                        f"{', '.join(sorted(known))}")
        self.exact = frozenset(exact)
        self.seed = int(seed)
        self.layers = list(netlist.layers)
        self.by_layer = {p.name: netlist.layer_nodes(p.name) for p in self.layers}

    def run(self, x: np.ndarray, *, length: int | None = None) -> np.ndarray:
        flow = LayerFlow(self.netlist, x)     # as both runtimes: last step, bidirectional directions
        runs: dict[str, LayerRun] = {}
        for plan in self.layers:
            L = int(length) if length is not None and plan.length else plan.length
            values, prev = flow.layer_input(plan)
            if plan.kind == "concat":
                run = flow.concat_run(plan, runs, False)
            else:
                run = LayerRun(self._run_layer(plan, L, values, prev))
            runs[plan.name] = flow.hand_on(plan, run)
        return flow.values

    def _on(self, layer: str, kind: str) -> bool:
        return f"{layer}/{kind}" in self.exact

    def _run_layer(self, plan, L: int, seq: np.ndarray, prev: str) -> np.ndarray:
        layer = plan.name
        nodes = self.by_layer[layer]
        by = {n.name: n for n in nodes}
        hp = _hidden_product(nodes)
        self._kinds = {n.name: node_kind(n, by, hp) for n in nodes}
        self._pi: dict[str, np.ndarray] = {}                           # warm starts of the power iteration
        self._cell_range = plan.options.cell_range if plan.options is not None else None
        B, T = seq.shape[0], seq.shape[1]
        regs = {n.name: np.full((B,) + n.shape, float(n.params.get("reset", 0.0))) for n in nodes if n.op == "register"}
        private = self._on(layer, "shared_sources")
        randoms = PrivateRandoms(self.netlist, layer) if private else LayerRandoms(self.netlist, layer)
        fsm_state = {n.name: np.full(B * n.size, fsm_reset_state(n.params["states"]), dtype=np.int64)
                     for n in nodes if n.op == "wfsm"}
        rng = np.random.default_rng([self.seed, sum(map(ord, layer))])
        outs = []
        for t in range(T):
            vals: dict = {prev: seq[:, t]}
            lfsr = randoms.step(L)
            for n in nodes:
                v = self._eval(n, layer, vals, regs, lfsr, fsm_state, L, B, t, rng)
                if n.op == "decode" and n.params.get("saturate") is not None:
                    v = v[0]
                vals[n.name] = v
            for n in nodes:
                if n.op == "register":
                    regs[n.name] = vals[n.params["next"]]
            outs.append(vals[nodes[-1].name])
        return np.stack(outs, axis=1)

    # ------------------------------------------------------------------------------ nodes
    def _eval(self, n: SCNode, layer, vals, regs, lfsr, fsm_state, L, B, t, rng):
        op = n.op
        if op in VALUE_OPS:
            ins = {k: (v.mean if isinstance(v, _Int) else v) for k, v in vals.items()}
            return eval_value_op(n, ins, regs, L, t)
        if op == "sng":
            return self._sng(n, layer, vals, lfsr, L, B, t)
        if op in ("slice", "islice"):
            a, b = n.params["rows"]
            v = vals[n.inputs[0]]
            if isinstance(v, _Int):
                return _Int(v.mean[:, a:b], v.sample[:, a:b], v.exact_parts)
            return v[:, a:b]
        if op in _PRODUCT_OPS:
            return self._product(n, layer, [vals[i] for i in n.inputs])
        if op == "xnor_apc":
            return self._xnor_apc(n, vals, rng, L)
        if op == "apc":
            return self._apc(n, [vals[i] for i in n.inputs], rng, L)
        if op == "xnor_int":
            r, k = vals[n.inputs[0]], self._as_int(vals[n.inputs[1]])
            if _is_bits(r) and not k.exact_parts:
                v = (k.mean * (2 * r.astype(np.int32) - 1)).astype(np.int32)
                return _Int(v, v, False)
            sign = 2 * _prob(r) - 1
            rs = r if _is_bits(r) else rng.random(np.broadcast_shapes(r.shape, k.sample.shape)) < r
            return _Int(k.mean * sign, (k.sample * (2 * rs.astype(np.int32) - 1)).astype(np.int32), True)
        if op == "wfsm":
            return self._wfsm(n, layer, self._as_int(vals[n.inputs[0]]), lfsr, fsm_state, L, B, t, rng)
        if op == "counter":
            v = vals[n.inputs[0]]
            return up_counter(v) if _is_bits(v) else _cycles_sum(v, L)
        if op == "updown_counter":
            d = self._as_int(vals[n.inputs[0]])
            if d.exact_parts or d.mean.dtype.kind == "f":
                return _cycles_sum(d.mean, L)
            steps = np.ascontiguousarray(d.mean.reshape(-1, L).T.astype(np.int64))
            value = np.zeros(steps.shape[1], dtype=np.int64)
            updown_streams(steps, _INT_LO, _INT_HI, value)
            return value.reshape((B,) + n.shape)
        raise SimulationError(f"node {n.name!r}: the error budget has no rule for op {op!r}")

    @staticmethod
    def _as_int(v) -> _Int:
        if isinstance(v, _Int):
            return v
        if _is_bits(v):                                                # a bit stream as +-1 steps
            s = 2 * v.astype(np.int32) - 1
            return _Int(s, s, False)
        raise SimulationError("an FSM or counter received a probability stream where an integral one was expected")

    def _sng(self, n: SCNode, layer, vals, lfsr, L, B, t):
        p = n.params
        v = sng_values(n, None if "const" in n.arrays else vals[n.inputs[0]], t, B)
        if self.exact:        # a shifted (bias-corrected) stream upstream may decode just outside the range
            v = np.clip(v, -1.0 if n.encoding == "bipolar" else 0.0, 1.0)
        try:
            x = threshold(v, p["bits"], n.encoding, n.name)
        except SCValueError as exc:
            raise SCValueError(n.name, f"value outside the {n.encoding} range of its SNGs ({exc})") from None
        ideal = self._on(layer, "sng_quantization")
        pr = np.asarray(v, dtype=np.float64)
        pr = (pr + 1.0) / 2.0 if n.encoding == "bipolar" else pr
        pruned = np.asarray(n.arrays["src"]) < 0 if "src" in n.arrays else None
        if self._on(layer, self._kinds[n.name]):
            out = (pr if ideal else x / float(1 << p["bits"]))[..., None].astype(np.float64)
            out = np.array(np.broadcast_to(out, (B,) + n.shape + (1,)))
            if pruned is not None and pruned.any():
                out[:, pruned] = 0.0
            return out
        r = lfsr[n.name].T.reshape(n.shape + (L,))[None]
        if ideal:
            bits = r.astype(np.float64) < (pr * float(1 << p["bits"]))[..., None]
        else:
            bits = sng(r, x[..., None].astype(np.uint64))
        if pruned is not None and pruned.any():
            bits[:, pruned] = False
        return bits

    def _product(self, n: SCNode, layer, ins):
        exact = self._on(layer, self._kinds[n.name])
        if all(_is_bits(v) for v in ins) and not exact:
            if n.op == "xnor":
                return xnor_(*align_banks(ins[0], ins[1]))
            s_, a = align_banks(ins[0], ins[1])
            s_, b = align_banks(s_, ins[2])
            return mux(s_, a, b)
        ps = [_prob(v) for v in ins]
        if exact:                                                      # independent operands at their step means
            ps = [p.mean(axis=-1, keepdims=True) for p in ps]
        if n.op == "xnor":
            a, b = align_banks(ps[0], ps[1])
            return a * b + (1.0 - a) * (1.0 - b)
        s_, a = align_banks(ps[0], ps[1])
        s_, b = align_banks(s_, ps[2])
        return s_ * a + (1.0 - s_) * b

    def _xnor_apc(self, n: SCNode, vals, rng, L: int):
        v = vals[n.inputs[0]]
        w = n.arrays["weights"].astype(np.float64)
        on = None
        if n.params.get("gated"):
            on = (np.asarray(vals[n.inputs[1]]) != 0).astype(np.float64)

        def apply(steps):
            if on is not None:
                steps = steps * (on[:, :, None] if steps.ndim == 3 else on[:, None, :, None])
            if "groups" in n.params:
                g = int(n.params["groups"])
                out = np.einsum("gkm,bgml->bgkl", w.reshape(g, -1, w.shape[1]), steps)
                return out.reshape(out.shape[0], -1, out.shape[-1])
            if steps.ndim == 4:
                return np.einsum("rm,brml->brl", w, steps)
            return np.matmul(w, steps)

        if _is_bits(v):
            k = np.rint(apply(v.astype(np.float64) * 2.0 - 1.0)).astype(np.int32)
            return _Int(k, k, False)
        sample = rng.random(v.shape[:-1] + (L,)) < v
        k = np.rint(apply(sample.astype(np.float64) * 2.0 - 1.0)).astype(np.int32)
        return _Int(apply(2.0 * v - 1.0), k, True)

    def _apc(self, n: SCNode, ins, rng, L: int):
        mean = sample = None
        mixed = False
        for v in ins:
            if isinstance(v, _Int):
                m, s, mixed = v.mean, v.sample, mixed or v.exact_parts
            else:
                per_row = v.ndim - 2 > len(n.shape)                    # (B, K, R, L): K streams per row
                if _is_bits(v):
                    s = 2 * v.astype(np.int32) - 1
                    m = s
                else:
                    m = 2.0 * v - 1.0
                    s = 2 * (rng.random(v.shape[:-1] + (L,)) < v).astype(np.int32) - 1
                    mixed = True
                if per_row:
                    m, s = m.sum(axis=1), s.sum(axis=1)
            mean = m if mean is None else mean + m
            sample = s if sample is None else sample + s
        if "offset" in n.arrays:
            off = n.arrays["offset"][None, :, None]
            mean, sample = mean + off, sample + off.astype(np.int32)
        sample = np.broadcast_to(sample, np.broadcast_shapes(sample.shape, mean.shape[:-1] + (L,))).astype(np.int32)
        if not mixed:
            mean = sample
        return _Int(mean, sample, mixed)

    def _wfsm(self, n: SCNode, layer, d: _Int, lfsr, fsm_state, L, B, t, rng):
        kind = self._kinds[n.name]
        noise_exact = self._on(layer, kind + "_noise")
        approx_exact = self._on(layer, kind + "_approx")
        group = np.asarray(n.arrays["group"])
        wq_all = n.arrays["wq"].astype(np.uint64)
        if wq_all.ndim == 3:
            wq_all = wq_all[stats_row(t, wq_all.shape[0])]
        bits = None
        if not noise_exact:
            bits = self._wfsm_bits(n, d.sample, lfsr, fsm_state, L, B, t, wq_all, group)
            if not approx_exact:
                return bits
        target = self._target(n, d, t)                                 # (B, rows) P(y=1)
        if noise_exact and approx_exact:
            return target.reshape((B,) + n.shape + (1,))
        steady = self._steady(n, d, wq_all, group, B)
        if noise_exact:
            return steady.reshape((B,) + n.shape + (1,))
        return bits.astype(np.float64) + (target - steady).reshape((B,) + n.shape + (1,))

    def _wfsm_bits(self, n, d, lfsr, fsm_state, L, B, t, wq_all, group):
        N = int(n.params["states"])
        rows = n.size
        steps = np.broadcast_to(d, (B,) + d.shape[1:-1] + (L,)).reshape(B, rows, L)
        rw = lfsr[n.name]
        if n.params.get("state_policy") == "reset":
            fsm_state[n.name][:] = fsm_reset_state(N)
        state = fsm_state[n.name].reshape(B, rows)
        y = np.empty((B, rows, L), dtype=np.bool_)
        wfsm_group_bits(steps.astype(np.int32), rw, wq_all, group, N, state, y)
        fsm_state[n.name] = state.reshape(-1)
        return y.reshape((B,) + n.shape + (L,))

    def _target(self, n: SCNode, d: _Int, t: int) -> np.ndarray:
        """P(y = 1) of the FSM's target act(gain z + shift) at the step's mean input z."""
        B = d.mean.shape[0]
        z = d.mean.reshape(B, n.size, -1).astype(np.float64).mean(axis=-1)
        ops = np.asarray(n.arrays["operands"]).reshape(-1).astype(np.float64)
        if n.params.get("role") == "cell" and self._cell_range is not None:
            z = np.clip(z, -float(self._cell_range), float(self._cell_range))
        else:
            z = np.clip(z, -ops, ops)
        group = np.asarray(n.arrays["group"]).reshape(-1)
        gains = np.atleast_2d(np.asarray(n.arrays["target_gain"], dtype=np.float64))
        shifts = np.atleast_2d(np.asarray(n.arrays.get("target_shift", np.zeros_like(gains)), dtype=np.float64))
        gain = gains[stats_row(t, gains.shape[0])][group]
        shift = shifts[stats_row(t, shifts.shape[0])][group]
        acts = np.asarray(n.arrays["target_act"]).astype(int)[group]
        pre = gain * z + shift
        val = np.where(acts == TANH, np.tanh(pre), 1.0 / (1.0 + np.exp(-pre)))
        unipolar = (acts == SIGMOID_UNIPOLAR) | (n.encoding == "unipolar")
        return np.where(unipolar, val, (val + 1.0) / 2.0)

    def _steady(self, n: SCNode, d: _Int, wq_all, group, B) -> np.ndarray:
        """P(y = 1) of every lane's steady state for the histogram of its input over the step."""
        N = int(n.params["states"])
        s = d.sample.reshape(B * n.size, -1).astype(np.int64)
        s = np.clip(s, -(N - 1), N - 1) + (N - 1)                      # beyond +-(N-1): the same clamp
        S = 2 * N - 1
        lanes = np.arange(s.shape[0])[:, None]
        pmf = np.bincount((lanes * S + s).ravel(), minlength=s.shape[0] * S).reshape(s.shape[0], S)
        pmf = pmf / float(s.shape[1])
        bits = int(n.params["weight_bits"])
        w = wq_all[np.tile(group.reshape(-1), B)].astype(np.float64) / float(1 << bits)
        start = self._pi.get(n.name)
        warm = start is not None and start.shape == (pmf.shape[0], N)
        pi = steady_distribution(pmf, -(N - 1), N, start if warm else None)
        self._pi[n.name] = pi
        return np.einsum("kn,kn->k", pi, w).reshape(B, n.size)
