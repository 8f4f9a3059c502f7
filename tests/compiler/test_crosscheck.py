"""Bit-exact cross-check: a compiled LSTM layer (integral WFSM gates, hidden=stream) against the
same circuit built gate by gate in the SC core's own netlist simulator (sccompiler.sim.netlist),
with the same seeds, over two time steps (registers, re-encoding and FSM state carried)."""

from __future__ import annotations

import numpy as np

from sccompiler.design import compile_model
from sccompiler.sim.netlist import Netlist, Simulator
from sccompiler.sim.seeds import SourceAllocator

from .models import FAST, assert_bit_exact, lstm_model


def _mirror(design, layer: str):
    """Build the layer's step circuit bit by bit in sim.netlist, allocating sources in the same
    order as the compiler's allocate_sources pass (so every LFSR gets the same seed)."""
    nl = design.netlist
    src = nl.sources
    alloc = SourceAllocator(kind="lfsr", width=src["width"], length=src["window_cycles"],
                            master_seed=src["master_seed"], max_sources=src["count"])
    net = Netlist(alloc)
    k = 0

    def source():
        nonlocal k
        k += 1
        return f"s{k - 1}"

    node = {n.name: n for n in nl.layer_nodes(layer)}
    I, H = node[f"{layer}.x"].shape[0], node[f"{layer}.h_prev"].shape[0]
    K = node[f"{layer}.c_s"].shape[0]
    ins = {f"x{j}": net.input(f"x{j}") for j in range(I)}
    ins |= {f"h{j}": net.input(f"h{j}") for j in range(H)}
    ins |= {f"c{j}": net.input(f"c{j}") for j in range(H)}
    bits = node[f"{layer}.x_s"].params["bits"]
    xs = [net.sng(f"x{j}", bits=bits, source=source()) for j in range(I)]
    hs = [net.sng(f"h{j}", bits=bits, source=source()) for j in range(H)]
    bconst = node[f"{layer}.b_s"].arrays["const"]                        # (nb, 4H)
    bs = [[net.sng(float(bconst[m, r]), bits=bits, source=source()) for r in range(4 * H)]
          for m in range(bconst.shape[0])]
    wi, wh = node[f"{layer}.px"].arrays["weights"], node[f"{layer}.ph"].arrays["weights"]
    gates = node[f"{layer}.gates_s"]
    wq, group = gates.arrays["wq"], gates.arrays["group"]
    b_fsm, n_fsm = gates.params["weight_bits"], gates.params["states"]
    pre, out = [], []
    for r in range(4 * H):
        ops = [xs[j] if wi[r, j] > 0 else net.not_(xs[j]) for j in range(I)]
        ops += [hs[j] if wh[r, j] > 0 else net.not_(hs[j]) for j in range(H)]
        ops += [bs[m][r] for m in range(len(bs))]
        pre.append(net.apc(ops))
    for r in range(4 * H):
        out.append(net.fsm(pre[r], states=n_fsm, weights=wq[group[r]] / (1 << b_fsm), weight_bits=b_fsm,
                           source=source()))
    i_s, f_s, g_s, o_s = (out[q * H:(q + 1) * H] for q in range(4))
    cs = [[net.sng(f"c{j}", bits=bits, source=source()) for j in range(H)] for _ in range(K)]
    tanh = node[f"{layer}.tanh_c"]
    c_cnt, h_cnt = [], []
    for j in range(H):
        fc = [net.xnor(f_s[j], cs[q][j]) for q in range(K)]
        ig = net.xnor(i_s[j], g_s[j], shared_ok=True)
        c_sum = net.apc([*fc, ig], shared_ok=True)
        c_cnt.append(net.updown(c_sum, name=f"ccnt{j}"))
        t = net.fsm(c_sum, states=tanh.params["states"], weights=tanh.arrays["wq"][0] / (1 << b_fsm),
                    weight_bits=b_fsm, source=source())
        h_cnt.append(net.counter(net.xnor(o_s[j], t, shared_ok=True), name=f"hcnt{j}"))
    assert k == src["count"]
    return net, (I, H, K), node


def test_compiled_lstm_equals_sim_netlist_bit_for_bit():
    rng = np.random.default_rng(31)
    x = rng.uniform(-1, 1, (3, 2, 2))
    # private sources: sim.netlist gives every SNG/FSM its own source (shared registers are
    # checked against the RTL by the Verilog sweep)
    design = compile_model(lstm_model(I=2, H=2, seed=1), {"length": 128, "sources": "private", **FAST},
                           calibration=x)
    tr = design.trace(x)["lstm0"]["sc"]
    net, (I, H, K), node = _mirror(design, "lstm0")
    xscale = node["lstm0.x_s"].params["scale"]
    hscale = node["lstm0.h_s"].params["scale"]
    sim = Simulator(net)
    state = None
    prev_c = np.zeros((3, H))
    prev_h = np.zeros((3, H))
    for t in range(2):
        h_prev = np.zeros((3, H)) if t == 0 else tr["lstm0.h"][:, t - 1]
        c_prev = np.zeros((3, H)) if t == 0 else tr["lstm0.c"][:, t - 1]
        inputs = {f"x{j}": x[:, t, j] / xscale for j in range(I)}
        inputs |= {f"h{j}": h_prev[:, j] / hscale for j in range(H)}
        inputs |= {f"c{j}": c_prev[:, j] / K for j in range(H)}
        res = sim.run(inputs, length=128, state=state)
        state = res.state
        c_cnt = np.stack([res.values[f"ccnt{j}"] for j in range(H)], axis=1)
        h_cnt = np.stack([res.values[f"hcnt{j}"] for j in range(H)], axis=1)
        # sim's counters run on across runs: the step's count is the difference
        np.testing.assert_array_equal(c_cnt - prev_c, tr["lstm0.c_cnt"][:, t])
        np.testing.assert_array_equal(h_cnt - prev_h, tr["lstm0.h_cnt"][:, t])
        prev_c, prev_h = c_cnt, h_cnt


def test_fixed_head_equals_sim_netlist_int_mac_bit_for_bit():
    """A fixed-point head over stream counts (float head weights -> int8 Wq) built in sim.netlist:
    one SNG per input on its own LFSR (private sources, allocated after the core's as the compiler
    does), one up counter per input, and sim.netlist's int_mac; per step its accumulators equal
    both runtimes' head.acc (the netlist continues its registers from step to step)."""
    import dataclasses

    from sccompiler.ir.model import Tensor

    rng = np.random.default_rng(7)
    base = lstm_model(I=2, H=3, dense=2, seed=3)
    fc = dataclasses.replace(base.layers[-1], weight=Tensor(rng.normal(0, 0.3, (2, 3))))
    model = base.with_layers(base.layers[:-1] + (fc,))
    x = rng.uniform(-1, 1, (3, 3, 2))
    design = compile_model(model, {"length": 64, "sources": "private", **FAST}, calibration=x)
    nl = design.netlist
    assert nl.node("head.acc").params["operands"] == "counts"
    tr = design.trace(x)
    src = nl.sources
    alloc = SourceAllocator(kind="lfsr", width=src["width"], length=src["window_cycles"],
                            master_seed=src["master_seed"], max_sources=src["count"])
    net = Netlist(alloc)
    xs = nl.node("head.x_s")
    J = xs.shape[0]
    for k in range(src["count"] - J):                     # the core's sources come first
        alloc.allocate(f"core{k}")
    ins = [net.input(f"h{j}") for j in range(J)]
    cnt = [net.counter(net.sng(ins[j], bits=xs.params["bits"], source=alloc.allocate(f"s{j}").name))
           for j in range(J)]
    wq = nl.node("head.acc").arrays["wq"]
    acc = net.int_mac(cnt, wq, name="acc")
    sim = Simulator(net)
    state = None
    h = tr["lstm0"]["sc"]["lstm0.h"]
    want = tr["head"]["sc"]["head.acc"]
    for t in range(x.shape[1]):
        res = sim.run({f"h{j}": h[:, t, j] / xs.params["scale"] for j in range(J)}, length=64, state=state)
        state = res.state
        np.testing.assert_array_equal(res.values[acc], want[:, t])
    _, runs = assert_bit_exact(nl, x)
    np.testing.assert_array_equal(runs["head"].trace["head.acc"], want)
