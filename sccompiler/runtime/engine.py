"""Cycle-accurate execution of a layer-level SC netlist, through the SC core's primitives.

Every primitive runs through :mod:`sccompiler.sim`: the source registers and the bits each
comparator reads through :class:`~.randoms.LayerRandoms` (``kernels.lfsr_fill`` over the
leap-forward tables of ``sources.leap_matrix``, then ``kernels.gather_taps``), SNG comparators through
``primitives.sng`` with thresholds from ``encoding.threshold``, XNOR/MUX through
``primitives.xnor_``/``primitives.mux``, parallel counters through ``primitives.bipolar_apc``,
WFSMs through ``kernels.fsm_streams_out``, up/down counters through ``kernels.updown_streams``,
up counters and exact XNOR+popcount through ``primitives.up_counter`` (a popcount is a counter
over the operand axis) with ``primitives.xnor_``/``primitives.and_``.  This module only arranges
them as banks (adapters listed in docs/compiler.md):

* ``xnor_apc`` banks: M XNORs of +-1 weights with bipolar streams into one APC per row are
  evaluated as ``W @ (2 bits - 1)`` (d = 2k - M over the ungated inputs), bit-identical to
  sim's XNOR + APC (tests/compiler check it against ``sim.netlist``);
* batches: sources are shared by all batch elements (each sample runs the same circuit from
  reset, as in ``sim.netlist``); FSM banks run one kernel call per distinct weight table.

Time: a layer runs its L cycles per time step; layers are simulated one after the other over
the whole sequence (layer l at step t only needs layer l-1 at step t, so this equals the
pipelined hardware).  A ``last_step`` layer hands on only the last step (:func:`layer_sequence`):
the layers after it run one step per sequence, from reset, as the RTL runs them after the last
step of the layer before (after a bidirectional layer, ``select`` may keep the directions' final
states instead).  Registers (h, c) are written at the end of each step; WFSM states carry
over between steps (``state_policy='carry'``) or restart from N/2 (``'reset'``); source registers run
on continuously.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numba
import numpy as np

from ..errors import SCValueError, SimulationError
from ..ir.sc import SIGMOID, SCNetlist, SCNode
from ..reference import ACTIVATION_FUNCTIONS, sigmoid
from ..sim.encoding import threshold
from ..sim.kernels import fsm_streams_out, updown_streams
from ..sim.primitives import and_, bipolar_apc, mux, sng, up_counter, xnor_
from ..sim.rules import (
    cell_sign,
    fsm_reset_state,
    input_accepted,
    int_mac_operands,
    last_step_select,
    sign_decode,
    stats_row,
    ternary_count_threshold,
    ternary_decode,
)
from ..sim.rules import int_mac as int_mac_rule
from .randoms import COMPARATOR_OPS, LayerRandoms

_INT_LO = -(1 << 62)
#: numba threads during a simulation (see Runtime.run)
DEFAULT_THREADS = 1
_INT_HI = 1 << 62



@dataclass
class LayerRun:
    """Per-step outputs of one layer: ``out`` (B, T, F) and, when traced, every node's per-step
    value (bit streams decoded to their bipolar/unipolar value)."""

    out: np.ndarray
    trace: dict[str, np.ndarray] = field(default_factory=dict)
    saturations: int = 0


class Runtime:
    """Executes an :class:`SCNetlist` (see the module docstring)."""

    def __init__(self, netlist: SCNetlist) -> None:
        self.netlist = netlist.check()
        if not netlist.sources.get("registers") and any(n.op in COMPARATOR_OPS for n in netlist):
            raise SimulationError("the netlist has no allocated sources (run the allocate_sources pass)")
        self.layers = [p for p in netlist.layers]
        self.by_layer = {p.name: netlist.layer_nodes(p.name) for p in self.layers}
        self.output = netlist.metadata["output"]

    # ------------------------------------------------------------------------------ driver
    def run(self, x: np.ndarray, *, length: int | dict[str, int] | None = None, trace: bool = False,
            collect: Callable[[str, SCNode, np.ndarray, int], None] | None = None,
            progress: Callable[[int], None] | None = None,
            threads: int | None = DEFAULT_THREADS) -> tuple[np.ndarray, dict[str, LayerRun]]:
        """Simulate inputs ``x`` (B, T, F) (or token ids (B, T)); return (output, per-layer runs).

        ``threads``: numba threads for the kernels during the run (restored afterwards); None
        leaves numba's setting.  The default 1 is faster here: a step makes a handful of small
        kernel calls whose thread fork/join costs more than it gains (measured 1.8x on 2 cores).
        """
        before = numba.get_num_threads()
        if threads is not None:
            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        try:
            return self._run(x, length=length, trace=trace, collect=collect, progress=progress)
        finally:
            numba.set_num_threads(before)

    def _run(self, x, *, length, trace, collect, progress) -> tuple[np.ndarray, dict[str, LayerRun]]:
        flow = LayerFlow(self.netlist, x)
        runs: dict[str, LayerRun] = {}
        for plan in self.layers:
            L = plan.length
            if isinstance(length, dict):
                L = length.get(plan.name, L)
            elif length is not None and plan.length:
                L = int(length)
            seq, prev = flow.layer_input(plan)
            if plan.kind == "concat":
                run = flow.concat_run(plan, runs, trace)
            else:
                run = self._run_layer(plan.name, L, seq, prev, trace, collect)
            runs[plan.name] = flow.hand_on(plan, run)
            if progress is not None:
                progress(1)
        return flow.values, runs

    def _run_layer(self, layer: str, L: int, seq: np.ndarray, prev: str, trace: bool, collect) -> LayerRun:
        nodes = self.by_layer[layer]
        B, T = seq.shape[0], seq.shape[1]
        regs = {n.name: np.full((B,) + n.shape, float(n.params.get("reset", 0.0))) for n in nodes if n.op == "register"}
        # the layer's source registers, stepped once per time step for all its comparators
        randoms = LayerRandoms(self.netlist, layer, window=L)
        fsm_state = {n.name: np.full(B * n.size, fsm_reset_state(n.params["states"]), dtype=np.int64)
                     for n in nodes if n.op == "wfsm"}
        out_node = nodes[-1]
        rec: dict[str, list] = {n.name: [] for n in nodes} if trace else {}
        outs = []
        saturations = 0
        for t in range(T):
            vals: dict[str, np.ndarray] = {prev: seq[:, t]}
            lfsr = randoms.step(L)
            for n in nodes:
                v = self._eval(n, vals, regs, lfsr, fsm_state, L, B, t)
                if n.op == "decode" and n.params.get("saturate") is not None:
                    v, sat = v
                    saturations += sat
                vals[n.name] = v
                if trace:
                    rec[n.name].append(_decoded(n, v))
                if collect is not None and n.kind == "bits":
                    collect(layer, n, v, t)
            for n in nodes:
                if n.op == "register":
                    regs[n.name] = vals[n.params["next"]]
            outs.append(vals[out_node.name])
        out = np.stack(outs, axis=1)
        tr = {k: np.stack(v, axis=1) for k, v in rec.items() if v and v[0] is not None}
        return LayerRun(out, tr, saturations)

    # ------------------------------------------------------------------------------ nodes
    def _eval(self, n: SCNode, vals, regs, lfsr, fsm_state, L: int, B: int, t: int):
        op = n.op
        p = n.params
        if op in VALUE_OPS:
            return eval_value_op(n, vals, regs, L, t)
        if op == "sng":
            return self._sng(n, vals, lfsr, L, B, t)
        if op == "slice":
            a, b = p["rows"]
            return vals[n.inputs[0]][:, a:b]
        if op == "islice":
            a, b = p["rows"]
            return vals[n.inputs[0]][:, a:b]
        if op == "xnor_int":
            # every operand bit of the integral stream XNOR the row's stream r: 2 XNOR(b, r) - 1 =
            # (2b - 1)(2r - 1), so the APC value is multiplied by (2 r_t - 1) (adapter; exact)
            r = vals[n.inputs[0]]
            return (vals[n.inputs[1]] * (2 * r.astype(np.int32) - 1)).astype(np.int32)
        if op == "xnor":
            a, b = align_banks(vals[n.inputs[0]], vals[n.inputs[1]])
            return xnor_(a, b)
        if op == "mux":
            s_, a = align_banks(vals[n.inputs[0]], vals[n.inputs[1]])
            s_, b = align_banks(s_, vals[n.inputs[2]])
            return mux(s_, a, b)
        if op == "xnor_apc":
            bits = vals[n.inputs[0]]                                  # (B, M, L) or per-row (B, R, M, L)
            w = n.arrays["weights"].astype(np.float32)                # (R, M)
            steps = bits.astype(np.float32) * 2.0 - 1.0
            if p.get("gated"):                                        # zero exact inputs: XNOR off
                on = (np.asarray(vals[n.inputs[1]]) != 0).astype(np.float32)     # (B, M)
                steps = steps * (on[:, :, None] if steps.ndim == 3 else on[:, None, :, None])
            if "groups" in n.params:                                  # (B, G, M, L): rows of gate k read bank k
                g = int(n.params["groups"])
                out = np.einsum("gkm,bgml->bgkl", w.reshape(g, -1, w.shape[1]), steps)
                return np.rint(out.reshape(out.shape[0], -1, out.shape[-1])).astype(np.int32)
            if steps.ndim == 4:                                       # row r XNORs its own M streams
                return np.rint(np.einsum("rm,brml->brl", w, steps)).astype(np.int32)
            return np.rint(np.matmul(w, steps)).astype(np.int32)      # exact: |d| <= M < 2^24
        if op == "apc":
            return _apc(n, [vals[i] for i in n.inputs], self.netlist)
        if op == "wfsm":
            return self._wfsm(n, vals[n.inputs[0]], lfsr, fsm_state, L, B, t)
        if op == "counter":
            return up_counter(vals[n.inputs[0]])
        if op == "updown_counter":
            d = vals[n.inputs[0]]                                     # (B, R, L)
            steps = np.ascontiguousarray(d.reshape(-1, L).T.astype(np.int64))
            value = np.zeros(steps.shape[1], dtype=np.int64)
            updown_streams(steps, _INT_LO, _INT_HI, value)
            return value.reshape((B,) + n.shape)
        raise SimulationError(f"node {n.name!r}: no runtime for op {op!r}")

    def _sng(self, n: SCNode, vals, lfsr, L: int, B: int, t: int = 0) -> np.ndarray:
        p = n.params
        v = sng_values(n, None if "const" in n.arrays else vals[n.inputs[0]], t, B)
        try:
            x = threshold(v, p["bits"], n.encoding, n.name)
        except SCValueError as exc:
            raise SCValueError(n.name, f"value outside the {n.encoding} range of its SNGs ({exc}); "
                                       "the compiled input range is too small for these inputs") from None
        r = lfsr[n.name]                                              # R_t of each comparator, (L, S)
        bits = sng(r.T.reshape(n.shape + (L,))[None], x[..., None].astype(np.uint64))
        pruned = np.asarray(n.arrays["src"]) < 0 if "src" in n.arrays else None   # no comparator: 0
        if pruned is not None and pruned.any():
            bits[:, pruned] = False
        return bits

    def _wfsm(self, n: SCNode, d: np.ndarray, lfsr, fsm_state, L: int, B: int, t: int = 0) -> np.ndarray:
        p = n.params
        N = int(p["states"])
        rows = n.size
        if d.ndim == 3 and d.dtype == np.bool_:                       # binary input: +-1 steps
            d = 2 * d.astype(np.int32) - 1
        steps = d.reshape(B, rows, L)
        rw = lfsr[n.name]                                             # (L, rows)
        if p.get("state_policy") == "reset":
            fsm_state[n.name][:] = fsm_reset_state(N)
        state = fsm_state[n.name].reshape(B, rows)
        y = np.empty((B, rows, L), dtype=np.bool_)
        group = n.arrays["group"]
        wq_all = n.arrays["wq"].astype(np.uint64)
        if wq_all.ndim == 3:          # per-step table bank (ROM): step t reads table min(t, T-1)
            wq_all = wq_all[stats_row(t, wq_all.shape[0])]
        wfsm_group_bits(steps, rw, wq_all, group, N, state, y)
        fsm_state[n.name] = state.reshape(-1)
        return y.reshape((B,) + n.shape + (L,))


#: the binary-domain ops (values and counter words per time step): one implementation, shared by
#: this runtime and the packed one (:mod:`.packed`)
VALUE_OPS = ("input", "register", "lookup", "affine", "activation", "xnor_popcount", "gate_table",
             "dense_out", "decode", "last_step", "int_mac")


class LayerFlow:
    """What each layer of a netlist reads and hands on, in netlist order (both runtimes and the
    error budget's mixed runtime drive their layers through it):

    * a layer reads the previous layer's output (``values``, its node name ``prev``);
    * a bidirectional layer's backward direction (``options.direction == "backward"``) reads the
      input its forward direction (the layer before it) read, **reversed in time**: its step k is
      the sequence's step T - 1 - k (its sources, FSMs and registers start from reset at its first
      step and run on as any layer's); its outputs (and trace) are handed on reversed back, in the
      sequence's time order;
    * a ``concat`` layer hands on concat(forward h_t, backward h_t) of the two direction layers'
      outputs (the sequence buffers' read-out);
    * a sequence longer than a bidirectional layer's ``max_steps`` (T_max of its buffers) is
      refused;
    * a ``last_step`` layer hands on its last step only (:func:`layer_sequence`).
    """

    def __init__(self, netlist: SCNetlist, x: np.ndarray) -> None:
        seq = np.asarray(x)
        self.netlist = netlist
        self.values = seq.astype(np.float64) if seq.dtype.kind == "f" else seq
        self.prev = "model.input"
        self._input: tuple[np.ndarray, str] = (self.values, self.prev)

    def layer_input(self, plan) -> tuple[np.ndarray, str]:
        """(sequence (B, T, ...), the name of its node) that layer ``plan`` reads."""
        cap = plan.options.max_steps
        if cap is not None and self.values.shape[1] > cap:
            raise SCValueError("x", f"{self.values.shape[1]} time steps exceed the {cap} steps (max_steps) of the "
                                    f"sequence buffers of bidirectional layer {plan.name!r}; recompile with "
                                    f"--set max_steps={self.values.shape[1]} (or more)")
        if plan.options.direction == "backward":
            seq, prev = self._input
            return seq[:, ::-1], prev
        self._input = (self.values, self.prev)
        return self.values, self.prev

    def concat_run(self, plan, runs: dict[str, LayerRun], trace: bool) -> LayerRun:
        """A ``concat`` layer's run: its node's inputs are the two directions' h outputs."""
        (n,) = self.netlist.layer_nodes(plan.name)
        out = np.concatenate([runs[self.netlist.node(i).layer].out for i in n.inputs], axis=-1)
        return LayerRun(out, {n.name: out.astype(np.float64)} if trace else {})

    def hand_on(self, plan, run: LayerRun) -> LayerRun:
        """The run as recorded (a backward direction's in the sequence's time order); it becomes
        the next layer's input."""
        if plan.options.direction == "backward":
            run = LayerRun(run.out[:, ::-1], {k: v[:, ::-1] for k, v in run.trace.items()}, run.saturations)
        run = layer_sequence(plan, run)
        self.values = run.out
        nodes = self.netlist.layer_nodes(plan.name)
        self.prev = f"{plan.name}.h" if plan.kind in ("lstm", "gru") else nodes[-1].name
        return run


def layer_sequence(plan, run: LayerRun) -> LayerRun:
    """What a layer hands on: its per-step outputs, or for a ``last_step`` layer one step
    ``(B, 1, ·)``: the last step, or after a bidirectional layer the directions' final states
    (``LayerOptions.select``, the rule :func:`sccompiler.sim.rules.last_step_select`; both
    runtimes; the layers after it run once per sequence)."""
    if plan.kind != "last_step":
        return run
    sel = plan.options.select or "last"
    return LayerRun(last_step_select(run.out, sel), {k: last_step_select(v, sel) for k, v in run.trace.items()},
                    run.saturations)


def wfsm_group_bits(steps: np.ndarray, rw: np.ndarray, wq_all: np.ndarray, group: np.ndarray, N: int,
                    state: np.ndarray, y: np.ndarray) -> None:
    """Step a WFSM bank's rows table group by table group (each group shares one weight table):
    ``steps`` (B, rows, L) input increments, ``rw`` (L, rows) weight randoms, ``state`` (B, rows)
    updated in place, output bits into ``y`` (B, rows, L).  Shared by the engine and the error
    budget's mixed runtime."""
    B, _, L = steps.shape
    for g in range(wq_all.shape[0]):
        sel = np.flatnonzero(group == g)
        if sel.size == 0:
            continue
        st = np.ascontiguousarray(state[:, sel].reshape(-1))
        lane_steps = np.ascontiguousarray(steps[:, sel, :].reshape(-1, L).T)
        lane_r = np.ascontiguousarray(np.broadcast_to(rw[:, sel][:, None, :], (L, B, sel.size)).reshape(L, -1))
        out = np.empty((L, B * sel.size), dtype=np.bool_)
        # half (the Stanh decode threshold) = 0: unused, a WFSM always has a weight source
        fsm_streams_out(lane_steps, lane_r, np.ascontiguousarray(wq_all[g]), 0, N, st, out)
        state[:, sel] = st.reshape(B, sel.size)
        y[:, sel, :] = out.T.reshape(B, sel.size, L)


def eval_value_op(n: SCNode, vals: dict, regs: dict, L: int, t: int):
    """The value of a binary-domain node (:data:`VALUE_OPS`) at step ``t`` from the values of its
    inputs (``vals``) and the registers (``regs``); a saturating decode returns (value, count)."""
    op = n.op
    p = n.params
    if op == "input":
        v = vals[p["source"]]
        return _check_input(n, v)
    if op == "register":
        return regs[n.name]
    if op == "lookup":
        ids = np.asarray(vals[n.inputs[0]]).astype(np.int64)
        return n.arrays["table"][ids]
    if op == "affine":
        s, m = n.arrays["scale"], n.arrays["shift"]
        r = stats_row(t, s.shape[0])
        return s[r] * vals[n.inputs[0]] + m[r]
    if op == "activation":
        return ACTIVATION_FUNCTIONS[p["function"]](vals[n.inputs[0]])
    if op == "last_step":
        return vals[n.inputs[0]]
    if op == "xnor_popcount":
        return _xnor_popcount(n, vals[n.inputs[0]])
    if op == "int_mac":
        return int_mac(n, vals[n.inputs[0]], L)
    if op == "gate_table":
        return _gate_table(n, vals[n.inputs[0]], vals[n.inputs[1]], t)
    if op == "dense_out":
        k = vals[n.inputs[0]].astype(np.float64)
        if p["mode"] in ("counted", "fixed_counted"):
            k = k / L
        return n.arrays["gain"] * k + n.arrays["bias"]
    if op == "decode":
        c = vals[n.inputs[0]].astype(np.float64)
        mode = p["mode"]
        if mode == "sign":
            return sign_decode(c, L)
        if mode == "ternary":
            return ternary_decode(c, L, ternary_count_threshold(p["threshold"], L))
        if mode == "cell_sign":
            r = stats_row(t, n.arrays["thr"].shape[0])
            return cell_sign(c, n.arrays["ge"][r], n.arrays["thr"][r])
        if mode == "bipolar":
            return 2.0 * c / L - 1.0
        v = c / L
        k = float(p["saturate"])
        sat = int(np.count_nonzero(np.abs(v) > k))
        return np.clip(v, -k, k), sat
    raise SimulationError(f"node {n.name!r}: {op!r} is not a value op")


# ---------------------------------------------------------------------------------- helpers
def sng_values(n: SCNode, src: np.ndarray | None, t: int, B: int) -> np.ndarray:
    """The values (B,) + n.shape an SNG bank encodes at step ``t`` from its input ``src`` (None for
    a constant bank): constants (per step: row min(t, T-1)), a per-step input gain, or the input's
    row slice over ``scale`` (repeated for a 2-D bank).  The Verilog backend computes its
    thresholds with this function too."""
    p = n.params
    if "const" in n.arrays:
        const = n.arrays["const"]
        if const.ndim == len(n.shape) + 1:        # per-step constants (T, ...): step t's row
            const = const[stats_row(t, const.shape[0])]
        return np.broadcast_to(const, (B,) + n.shape)
    if "gain" in n.arrays:
        # per-step input gain (T, 1) shared by all rows, or (T, R) for a (R, I) per-row bank
        g = n.arrays["gain"][stats_row(t, n.arrays["gain"].shape[0])]
        return src[:, None, :] * g[None, :, None] if len(n.shape) == 2 else src * g[0]
    if "rows" in p:
        a, b = p["rows"]
        src = src[:, a:b]
    v = src / float(p.get("scale", 1.0))
    if p.get("repeat", 1) > 1 and len(n.shape) == 2:
        v = np.repeat(v[:, None, :], p["repeat"], axis=1)
    return v


def align_banks(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast a (B, H, ...) bank against a (B, K, H, ...) one (fan-out of a stream to K gates;
    the packed runtime's banks too, whatever the last axis holds)."""
    if a.ndim < b.ndim:
        a = a.reshape(a.shape[:1] + (1,) * (b.ndim - a.ndim) + a.shape[1:])
    elif b.ndim < a.ndim:
        b = b.reshape(b.shape[:1] + (1,) * (a.ndim - b.ndim) + b.shape[1:])
    return a, b


def _check_input(n: SCNode, v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if n.params.get("exact"):
        a = float(n.params["scale"])
        ok = np.isclose(np.abs(v), a, rtol=1e-9, atol=0) | (v == 0)
        if not np.all(ok):
            raise SCValueError("x", f"layer {n.layer!r} was compiled for exact inputs in {{-{a:g}, 0, {a:g}}} "
                                    f"(XNOR + popcount), got e.g. {v[~ok].flat[0]!r}; recompile with "
                                    "--set input_encoding=real")
    else:
        r = float(n.range[1])
        if not np.all(input_accepted(v, r)):
            raise SCValueError("x", f"layer {n.layer!r} was compiled for inputs in [-{r:g}, {r:g}] (SNG range), "
                                    f"got {float(np.max(np.abs(v))):g}; recompile with a larger input range "
                                    "(--input-range R, or --set input_range=R)")
    return v


def _xnor_popcount(n: SCNode, v: np.ndarray) -> np.ndarray:
    """Exact XNOR + popcount: k_r = sum_j w_rj o_j for w, o in {-1, 0, 1} as
    2 popcount(XNOR(w, o) AND active) - popcount(active), with sim's gate and counter primitives
    (a popcount is an up counter over the operand axis)."""
    w = n.arrays["weights"]
    o = np.rint(np.asarray(v, dtype=np.float64) / float(n.params["operand_scale"])).astype(np.int8)
    active = and_((w != 0)[None], (o != 0)[:, None, :])              # (B, R, J): gated XNOR enable
    same = and_(xnor_((w > 0)[None], (o > 0)[:, None, :]), active)
    return 2 * up_counter(same) - up_counter(active)


def int_mac(n: SCNode, v: np.ndarray, L: int) -> np.ndarray:
    """A fixed-point head's accumulators acc_r = sum_j Wq_rj o_j (int64, exact): o = the exact
    codes round(v / operand_scale), or 2 c - L of the per-input stream counts c (L: the step's
    cycles in this run); the rules are :func:`sim.rules.int_mac_operands` and :func:`sim.rules.int_mac`."""
    o = int_mac_operands(v, n.params["operands"], L, float(n.params.get("operand_scale", 1.0)))
    return int_mac_rule(n.arrays["wq"], o)


def _gate_table(n: SCNode, kx: np.ndarray, kh: np.ndarray, t: int) -> np.ndarray:
    """Gate values from exact pre-activations: the folded affine then sigmoid/tanh (the table)."""
    ar = n.arrays

    def row(a):
        return a[stats_row(t, a.shape[0])]

    xp = row(ar["ax"]) * kx
    hp = row(ar["ah"]) * kh
    acts = ar["act"]
    if n.params["cell"] == "lstm":
        pre = xp + hp + row(ar["shift"])
        return np.where(acts == SIGMOID, sigmoid(pre), np.tanh(pre))
    H = n.params["hidden"]
    xp = xp + row(ar["shift_x"])
    hp = hp + row(ar["shift_h"])
    r = sigmoid(xp[:, :H] + hp[:, :H])
    z = sigmoid(xp[:, H:2 * H] + hp[:, H:2 * H])
    nn = np.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
    return np.concatenate([r, z, nn], axis=1)


def _apc(n: SCNode, inputs: list[np.ndarray], netlist: SCNetlist) -> np.ndarray:
    """Integral add: int streams add, each bit stream contributes 2b - 1 (sim's bipolar APC:
    ``d = 2 k - M``, ``k`` = ones among the M bits), K streams per row summed over their axis.

    Adapter: for a (B, K, R, L) bank the ones count is taken as ``bits.sum(axis=1)``, which is
    ``sim.primitives.apc`` over the K streams without materializing K int64 copies."""
    total = None
    for v in inputs:
        if v.dtype == np.bool_:
            if v.ndim - 2 > len(n.shape):                            # (B, K, R, L): K streams per row
                k = v.shape[1]
                part = 2 * v.sum(axis=1, dtype=np.int32) - k
            else:
                part = bipolar_apc(v).astype(np.int32)
        else:
            part = v.astype(np.int32, copy=False)
        total = part if total is None else total + part
    if "offset" in n.arrays:                                          # wired constant increments
        total = total + n.arrays["offset"][None, :, None].astype(np.int32)
    return total.astype(np.int32, copy=False)


def _decoded(n: SCNode, v) -> np.ndarray | None:
    """A node's per-step value for traces: bits -> represented value, words/values as they are."""
    if n.kind == "bits":
        p = v.mean(axis=-1)
        return p if n.encoding == "unipolar" else 2.0 * p - 1.0
    if n.kind == "int":
        return v.mean(axis=-1)
    return np.asarray(v, dtype=np.float64)
