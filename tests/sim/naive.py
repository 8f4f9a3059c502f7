"""The SC semantics contract as a deliberately naive, per-cycle, pure-Python program.

Everything here is written straight from docs/semantics.md with Python ints and lists, one stream
and one cycle at a time, sharing no code with the simulator except the tap table (data) — so the
fast kernels are checked against an independent reading of the spec.
"""

from __future__ import annotations

from sccompiler.sim.sources import TAPS


def lfsr_step(state: int, width: int) -> int:
    lsb = state & 1
    state >>= 1
    if lsb:
        state ^= TAPS[width]
    return state


def lfsr_leap(state: int, width: int, stride: int) -> int:
    for _ in range(stride):
        state = lfsr_step(state, width)
    return state


def bitreverse(value: int, bits: int) -> int:
    out = 0
    for i in range(bits):
        if (value >> i) & 1:
            out |= 1 << (bits - 1 - i)
    return out


def threshold(p: float, bits: int) -> int:
    """X = floor(p 2^n + 1/2)."""
    import math

    return math.floor(p * (1 << bits) + 0.5)


class NaiveLfsrSource:
    """R_t = s_t & (2^n - 1); the register leaps ``stride`` single steps per clock."""

    def __init__(self, width: int, seed: int, stride: int | None = None) -> None:
        self.width, self.state, self.stride = width, seed, stride or width

    def value(self, bits: int) -> int:
        return self.state & ((1 << bits) - 1)

    def clock(self) -> None:
        self.state = lfsr_leap(self.state, self.width, self.stride)


class NaiveVdcSource:
    def __init__(self, bits: int, offset: int) -> None:
        self.bits, self.t, self.offset = bits, 0, offset

    def value(self, bits: int) -> int:
        return bitreverse((self.offset + self.t) % (1 << self.bits), self.bits)

    def clock(self) -> None:
        self.t += 1


def naive_fsm(x_thresholds: list[int], sources: list, nbits: int, nstates: int, length: int,
              reset: int, wq: list[int] | None = None, wsource=None, wbits: int = 0):
    """One FSM instance: returns (ones of y, per-state visit counts).

    Each cycle: input bits b_m = R_m < X_m (R on ``nbits`` bits), d = 2 sum(b) - M; output
    y = R' < Wq[s] (or s >= N/2 for Stanh) from the state at the start of the cycle; then every
    source clocks and s <- clamp(s + d, 0, N - 1).
    """
    s = reset
    ones = 0
    visits = [0] * nstates
    m = len(sources)
    for _ in range(length):
        k = sum(1 for src, x in zip(sources, x_thresholds) if src.value(nbits) < x)
        d = 2 * k - m
        if wq is None:
            y = 1 if s >= nstates // 2 else 0
        else:
            y = 1 if wsource.value(wbits) < wq[s] else 0
        ones += y
        visits[s] += 1
        for src in sources:
            src.clock()
        if wsource is not None:
            wsource.clock()
        s = min(max(s + d, 0), nstates - 1)
    return ones, visits


def naive_netlist(netlist, inputs: dict, length: int, batch: int):
    """Run a Netlist one stream and one cycle at a time; returns (values, streams) like the
    Simulator: values[word node] (and '<fsm>.state'), streams[node] = list over batch of lists."""
    specs = netlist.allocator.sources
    values: dict = {}
    streams: dict = {name: [] for name in netlist.nodes}
    for b in range(batch):
        srcs = {}
        for name, spec in specs.items():
            if spec.kind == "lfsr":
                srcs[name] = NaiveLfsrSource(spec.width, spec.seed, spec.stride or spec.width)
            elif spec.kind == "sobol":
                srcs[name] = ("sobol", spec.seed)
            else:
                raise ValueError("the naive reference covers lfsr and sobol sources")
        regs = {}
        for nd in netlist.nodes.values():
            if nd.op == "fsm":
                regs[nd.name] = nd.param("reset")
            elif nd.op in ("counter", "updown"):
                regs[nd.name] = nd.param("reset", 0)
        trace = {name: [] for name in netlist.nodes}
        for t in range(length):
            wire = {}

            def rand(src_name, bits, t=t):
                s = srcs[src_name]
                if isinstance(s, tuple):
                    return bitreverse((s[1] + t) % (1 << bits), bits)
                return s.value(bits)

            for nd in netlist.nodes.values():
                op, ins = nd.op, nd.inputs
                if op == "input":
                    continue
                if op == "sng":
                    v = nd.param("const") if not ins else float(inputs[ins[0]][b])
                    p = (v + 1) / 2 if nd.param("encoding") == "bipolar" else v
                    wire[nd.name] = int(rand(nd.param("source"), nd.param("bits"))
                                        < threshold(p, nd.param("bits")))
                elif op == "not":
                    wire[nd.name] = 1 - wire[ins[0]]
                elif op == "and":
                    wire[nd.name] = wire[ins[0]] & wire[ins[1]]
                elif op == "or":
                    wire[nd.name] = wire[ins[0]] | wire[ins[1]]
                elif op == "xor":
                    wire[nd.name] = wire[ins[0]] ^ wire[ins[1]]
                elif op == "xnor":
                    wire[nd.name] = 1 - (wire[ins[0]] ^ wire[ins[1]])
                elif op == "mux":
                    wire[nd.name] = wire[ins[1]] if wire[ins[0]] else wire[ins[2]]
                elif op == "apc":
                    k = sum(wire[i] for i in ins)
                    wire[nd.name] = 2 * k - len(ins) if nd.param("bipolar") else k
                elif op == "add":
                    wire[nd.name] = sum(wire[i] for i in ins)
                elif op == "fsm":
                    s = regs[nd.name]
                    if nd.param("wq") is None:
                        wire[nd.name] = int(s >= nd.param("states") // 2)
                    else:
                        wire[nd.name] = int(rand(nd.param("source"), nd.param("weight_bits"))
                                            < nd.param("wq")[s])
                for_trace = wire.get(nd.name)
                if for_trace is not None:
                    trace[nd.name].append(for_trace)
            # all registers update at once, from this cycle's wires
            for nd in netlist.nodes.values():
                if nd.op == "counter":
                    regs[nd.name] += wire[nd.inputs[0]]
                elif nd.op in ("updown", "fsm"):
                    src = nd.inputs[0]
                    d = (2 * wire[src] - 1) if netlist.nodes[src].kind == "bit" else wire[src]
                    lo, hi = ((0, nd.param("states") - 1) if nd.op == "fsm"
                              else (nd.param("lo"), nd.param("hi")))
                    regs[nd.name] = min(max(regs[nd.name] + d, lo), hi)
            for s in srcs.values():
                if not isinstance(s, tuple):
                    s.clock()
        for nd in netlist.nodes.values():
            if nd.op in ("counter", "updown"):
                values.setdefault(nd.name, []).append(regs[nd.name])
            elif nd.op == "fsm":
                values.setdefault(f"{nd.name}.state", []).append(regs[nd.name])
            elif nd.op == "sign":
                values.setdefault(nd.name, []).append(
                    int(values[nd.inputs[0]][-1] >= nd.param("threshold")))
        for name, tr in trace.items():
            if tr:
                streams[name].append(tr)
    return values, {k: v for k, v in streams.items() if v}
