"""Throughput of the SC simulator (prints figures and ratios; never asserts).

1. FSM path: ``simulate_fsm`` on a 16-state Stanh (and a 16-state weighted FSM) over 65,536
   streams x 1,024 cycles with per-stream 16-bit leap-forward LFSR SNGs, against a plain numpy
   per-cycle loop of the same circuit measured in the same run (checked to agree bit for bit).
2. Packed XNOR/AND/MUX (64 streams per uint64 word) against numpy on packed words and on bools.
3. The netlist simulator on an XNOR + counter design.
Peak memory is the process's maximum resident set size.

Usage: python bench/bench_sim.py [--streams 65536] [--cycles 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import time

import numba
import numpy as np

from sccompiler.sim import Netlist, Simulator, simulate_fsm
from sccompiler.sim.encoding import threshold
from sccompiler.sim.fsm import stream_seeds
from sccompiler.sim.packed import packed_gate
from sccompiler.sim.seeds import SourceAllocator
from sccompiler.sim.sources import byte_tables, leap_matrix


def best_time(fn, repeat: int) -> float:
    """Best wall-clock time of ``repeat`` calls."""
    return best_times(fn, repeat)[0]


def best_times(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU time (all threads) of ``repeat`` calls.

    On a shared machine the wall clock includes waiting for other users' processes; CPU time
    divided by the thread count shows what the code does on otherwise idle cores."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def numpy_fsm_loop(x: np.ndarray, states: int, cycles: int, width: int, seed: int) -> np.ndarray:
    """The same circuit as simulate_fsm's Stanh path, one numpy step per cycle."""
    seeds, _ = stream_seeds(seed, len(x), 1, width, 8, False)
    s = seeds[:, 0].copy()
    tab = byte_tables(leap_matrix(width, width))
    xq = threshold(x, width, "bipolar").astype(np.uint64)
    mask = np.uint64((1 << width) - 1)
    state = np.full(len(x), states // 2, dtype=np.int64)
    ones = np.zeros(len(x), dtype=np.int64)
    b8 = np.uint64(255)
    for _ in range(cycles):
        bit = (s & mask) < xq
        ones += state >= states // 2
        s = (tab[0][s & b8] ^ tab[1][(s >> np.uint64(8)) & b8]
             ^ tab[2][(s >> np.uint64(16)) & b8] ^ tab[3][(s >> np.uint64(24)) & b8])
        state = np.clip(state + 2 * bit.astype(np.int64) - 1, 0, states - 1)
    return ones


def bench_fsm(streams: int, cycles: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, streams)
    w = np.linspace(0, 1, 16)
    work = streams * cycles
    simulate_fsm(x[:64], states=16, length=8)                       # compile / load cache
    simulate_fsm(x[:64], states=16, length=8, weights=w)
    t_stanh, c_stanh = best_times(lambda: simulate_fsm(x, states=16, length=cycles), repeat)
    t_wfsm, c_wfsm = best_times(lambda: simulate_fsm(x, states=16, length=cycles, weights=w),
                                repeat)
    t_occ = best_time(lambda: simulate_fsm(x, states=16, length=cycles,
                                           return_occupancy=True), 1)
    base_cycles = max(8, min(cycles, 64))
    t_np, c_np = best_times(lambda: numpy_fsm_loop(x, 16, base_cycles, 16, 1), 2)
    np_rate = streams * base_cycles / t_np
    agree = np.array_equal(numpy_fsm_loop(x[:4096], 16, 100, 16, 1),
                           np.rint(simulate_fsm(x[:4096], states=16, length=100) * 100))
    threads = numba.get_num_threads()
    print(f"FSM path, {streams} streams x {cycles} cycles, 16 states, 16-bit LFSR SNGs, "
          f"{threads} numba threads")
    print(f"  simulate_fsm Stanh            {work / t_stanh:10.3e} stream-cycles/s wall "
          f"({t_stanh * 1e3:.1f} ms); {work / c_stanh:10.3e} per CPU-second")
    print(f"  simulate_fsm weighted (b=8)   {work / t_wfsm:10.3e} stream-cycles/s wall "
          f"({t_wfsm * 1e3:.1f} ms); {work / c_wfsm:10.3e} per CPU-second")
    print(f"  simulate_fsm Stanh+occupancy  {work / t_occ:10.3e} stream-cycles/s")
    print(f"  numpy per-cycle loop          {np_rate:10.3e} stream-cycles/s wall; "
          f"{streams * base_cycles / c_np:10.3e} per CPU-second "
          f"(measured on {base_cycles} cycles; agrees bit for bit: {agree})")
    print(f"  ratio Stanh / numpy           {work / t_stanh / np_rate:10.1f} x wall, "
          f"{(work / c_stanh) / (streams * base_cycles / c_np):.1f} x per CPU-second")


def bench_packed(repeat: int) -> None:
    rng = np.random.default_rng(1)
    rows, words = 1024, 1024                                  # 64 Mi bit-ops per gate call
    a, b, s = (rng.integers(0, 2**63, (rows, words), dtype=np.uint64) for _ in range(3))
    bits = rows * words * 64
    out = np.empty_like(a)
    ab, bb, sb = (rng.integers(0, 2, (4096, 4096), dtype=np.uint8).astype(bool)
                  for _ in range(3))
    print(f"Packed gates on {rows} x {words} words ({bits / 2**20:.0f} Mi bit-ops per call), "
          "baseline: the same gate on unpacked numpy bool arrays")
    for op in ("xnor", "and", "mux"):
        t = best_time(lambda op=op: packed_gate(op, a, b, s if op == "mux" else None, out=out),
                      repeat)
        if op == "xnor":
            tb = best_time(lambda: ~(ab ^ bb), repeat)
        elif op == "and":
            tb = best_time(lambda: ab & bb, repeat)
        else:
            tb = best_time(lambda: np.where(sb, ab, bb), repeat)
        print(f"  {op:5s} packed {bits / t:10.3e} bit-ops/s   bools {ab.size / tb:10.3e}   "
              f"ratio {bits / t / (ab.size / tb):5.1f} x")


def bench_netlist(cycles: int, repeat: int) -> None:
    batch = 4096
    nl = Netlist(SourceAllocator(width=24, length=cycles))
    a, b = nl.input("a"), nl.input("b")
    prod = nl.xnor(nl.sng(a), nl.sng(b))
    nl.counter(prod)
    nl.counter(nl.fsm(prod, states=16))
    rng = np.random.default_rng(2)
    inputs = {"a": rng.uniform(-1, 1, batch), "b": rng.uniform(-1, 1, batch)}
    sim = Simulator(nl)
    sim.run(inputs, 16)
    t = best_time(lambda: sim.run(inputs, cycles), repeat)
    print(f"Netlist 2 SNG + XNOR + FSM(16) + 2 counters, {batch} x {cycles}: "
          f"{batch * cycles / t:10.3e} stream-cycles/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=65536)
    ap.add_argument("--cycles", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    bench_fsm(args.streams, args.cycles, args.repeat)
    bench_packed(args.repeat)
    bench_netlist(args.cycles, args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Peak resident memory of this process: {peak:.0f} MiB "
          "(includes the packed-gate benchmark arrays)")


if __name__ == "__main__":
    main()
