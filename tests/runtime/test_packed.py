"""The packed runtime against the reference runtime (the oracle), bit for bit: the output, every
node's per-step trace value, every bit stream handed to ``collect`` and the saturation counts, on
the random designs of the Verilog sweep (every gate datapath, batch norm, per-gate and per-row
banks, shared sources, two stream lengths) and on the examples' committed models; plus chunking,
threads, the random-number gather, memory refusals and the metrics' intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from compiler.models import FAST, assert_bit_exact, lstm_model  # noqa: I001  (tests/ is on sys.path)
from verilog.sweep import compile_spec, draw, draw_sobol

from sccompiler.design import compile_model
from sccompiler.errors import ResourceLimitError, SCValueError
from sccompiler.frontends import load_model
from sccompiler.metrics import evaluate_metric, t_interval, wilson_interval
from sccompiler.runtime.engine import Runtime
from sccompiler.runtime.packed import PackedRuntime, comparator_numbers
from sccompiler.runtime.randoms import LayerRandoms

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("seed", range(16))
def test_sweep_designs_bit_exact(seed):
    design, x = compile_spec(draw(seed))
    assert_bit_exact(design.netlist, x)


@pytest.mark.parametrize("seed", range(8))
def test_sobol_sweep_designs_bit_exact(seed):
    """Sobol (even seeds) and auto (odd) source registers: the one reader (runtime/randoms.py)
    feeds both runtimes, at the compiled L and at another (the Sobol window follows the run's L)."""
    design, x = compile_spec(draw_sobol(seed))
    assert any(r.get("kind") == "sobol" for r in design.netlist.sources["registers"])
    assert_bit_exact(design.netlist, x)
    assert_bit_exact(design.netlist, np.concatenate([x, x[::-1]]), length=45)


@pytest.mark.parametrize("seed", [1, 3, 6, 13])
def test_sweep_designs_bit_exact_other_length_and_batch(seed):
    spec = draw(seed)
    design, x = compile_spec(spec)
    # within the compiled input range: the testbench inputs, negated and reversed
    more = np.concatenate([x, -x, x[::-1], 0.5 * x if spec.inputs == "real" else x])
    assert_bit_exact(design.netlist, more, length=70)


def _example_inputs(task: str, model, B: int, T: int, rng) -> np.ndarray:
    I = model.input.size
    if task == "shakespeare_char":
        return np.eye(I)[rng.integers(0, I, (B, T))]
    if task == "quickstart":
        return rng.choice([-1.0, 1.0], (B, T, I))
    return rng.uniform(-0.9, 0.9, (B, T, I)).round(2)


@pytest.mark.parametrize("task,variant", [("quickstart", "ternary"), ("seq_mnist", "ternary"),
                                          ("shakespeare_char", "ternary"), ("seq_mnist", "gru-ternary")])
def test_examples_bit_exact(task, variant):
    model = load_model(EXAMPLES / task / "model" / variant)
    rng = np.random.default_rng(5)
    calib = _example_inputs(task, model, 8, 12, rng)
    design = compile_model(model, {"length": 64, "defaults": {"gate_fsm_states": "auto"}, **FAST}, calibration=calib)
    assert_bit_exact(design.netlist, _example_inputs(task, model, 3, 4, rng))


@pytest.fixture(scope="module")
def small():
    x = np.random.default_rng(3).uniform(-1, 1, (9, 4, 3))
    cfg = {"length": 100, "defaults": {"gate_input": "integral_wfsm", "hidden": "stream"}, **FAST}
    return compile_model(lstm_model(I=3, H=6, dense=2), cfg, calibration=x), x


def test_chunks_and_threads_change_nothing(small):
    design, x = small
    want, _ = Runtime(design.netlist).run(x)
    rt = PackedRuntime(design.netlist)
    for kw in ({"chunk": 2}, {"chunk": 4, "workers": 2}, {"workers": 2}):
        got, _ = rt.run(x, **kw)
        np.testing.assert_array_equal(want, got, err_msg=str(kw))
    assert np.array_equal(design.simulate(x, engine="reference"), design.simulate(x, workers=2))


def test_comparator_numbers_follow_the_wiring_rule(small):
    """Exact oracle: every comparator's R_t is sim.rules.comparator_random of its register's state
    (the registers stepped by the scalar LFSR contract), for contiguous and permuted taps, in two
    consecutive runs (the registers carry over)."""
    from sccompiler.sim.rules import comparator_random
    from sccompiler.sim.sources import lfsr_states

    design, _ = small
    netlist = design.netlist
    regs = netlist.sources["registers"]
    for plan in netlist.layers:
        if not plan.length:
            continue
        # one comparator of each node reads its taps reversed (a non-contiguous wiring)
        nodes = []
        for n in netlist:
            if n.layer == plan.name and "taps" in n.arrays:
                taps = np.asarray(n.arrays["taps"]).copy().reshape(n.size, -1)
                taps[0] = taps[0][::-1]
                n = n.replace(arrays={**n.arrays, "taps": taps.reshape(n.arrays["taps"].shape)})
            nodes.append(n)
        nl = netlist.with_nodes(nodes)
        randoms = LayerRandoms(nl, plan.name)
        L1, L2 = 37, 64
        got = [comparator_numbers(randoms, L1), comparator_numbers(randoms, L2)]
        for n in nl.layer_nodes(plan.name):
            if "taps" not in n.arrays:
                continue
            src = np.asarray(n.arrays["src"]).reshape(-1)
            taps = np.asarray(n.arrays["taps"]).reshape(n.size, -1)
            for i in range(n.size):
                if src[i] < 0:
                    assert not got[0][n.name][i].any()
                    continue
                reg = regs[int(src[i])]
                states = lfsr_states(reg["width"], reg["seed"], L1 + L2)
                want = [comparator_random(s_, taps[i]) for s_ in states]
                assert [int(v) for v in np.concatenate([got[0][n.name][i], got[1][n.name][i]])] == want, n.name


def test_inputs_beyond_memory_are_refused_with_the_need(small):
    design, x = small
    with pytest.raises(ResourceLimitError, match=r"would need .* of memory"):
        design.simulate(x, length=10**9)
    with pytest.raises(ResourceLimitError, match="would need"):
        PackedRuntime(design.netlist).run(x, memory_limit=1000)
    with pytest.raises(SCValueError):
        PackedRuntime(design.netlist).run(x, chunk=0)


def test_batches_beyond_memory_are_refused_with_the_need(small):
    """A batch whose outputs alone exceed the memory is refused before anything is allocated,
    with the bytes the plan needs (outputs and traces of every sequence + one in flight)."""
    from sccompiler.runtime.resources import estimate

    design, x = small
    B = 10**9
    big = np.broadcast_to(x[:1], (B,) + x.shape[1:])                 # a view: no memory
    rt = PackedRuntime(design.netlist)
    lengths = rt.lengths(None)
    flight, kept, shared = estimate(design.netlist, lengths, x.shape[1])
    with pytest.raises(ResourceLimitError, match=rf"simulating {B} sequence\(s\) of 4 step\(s\) .* would need") as exc:
        rt.run(big)
    assert exc.value.needed == kept * B + shared + flight
    assert exc.value.needed > exc.value.available
    # a chunk that does not fit the given limit says how many would
    limit = shared + kept * 9 + flight * 3
    with pytest.raises(ResourceLimitError, match="a chunk of 9 sequence.*at most 3 fit"):
        rt.run(x, chunk=9, memory_limit=limit)
    np.testing.assert_array_equal(rt.run(x, chunk=3, memory_limit=limit)[0], rt.run(x)[0])


def test_progress_adds_up_to_one_per_layer(small):
    design, x = small
    seen = []
    PackedRuntime(design.netlist).run(x, chunk=4, progress=seen.append)
    assert sum(seen) == pytest.approx(len(design.netlist.layers))


def test_evaluate_intervals(small):
    design, x = small
    rng = np.random.default_rng(0)
    target = rng.normal(size=(9, 4, 2))
    res = design.evaluate(x, target, "mse", lengths=[32, 100])
    assert set(res) == {32, 100}
    for r in res.values():
        assert r["ci"][0] <= r["value"] <= r["ci"][1] and r["sequences"] == 9
    out = design.simulate(x, length=100)
    assert res[100]["value"] == pytest.approx(float(np.mean((out - target) ** 2)))
    acc = design.evaluate(x, rng.integers(0, 2, 9), "accuracy")[0]
    assert 0 <= acc["ci"][0] <= acc["value"] <= acc["ci"][1] <= 1
    with pytest.raises(SCValueError, match="metric"):
        design.evaluate(x, rng.integers(0, 2, 9), "f1")
    with pytest.raises(SCValueError, match="targets"):
        design.evaluate(x, rng.integers(0, 2, 5), "accuracy")


def test_metric_intervals_known_values():
    lo, hi = wilson_interval(8, 10)                       # textbook: 0.490 .. 0.943
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    lo, hi = t_interval(np.array([1.0, 2.0, 3.0, 4.0]))  # mean 2.5, sd 1.291, t(3) = 3.182
    assert lo == pytest.approx(2.5 - 3.1824 * 1.29099 / 2, abs=1e-3)
    assert hi == pytest.approx(2.5 + 3.1824 * 1.29099 / 2, abs=1e-3)
    logits = np.zeros((4, 3, 2))
    r = evaluate_metric("bpc", logits, np.zeros((4, 3), dtype=int))
    assert r.value == pytest.approx(1.0) and r.low == pytest.approx(1.0)


def test_cli_simulate_engines_and_workers(small, tmp_path):
    from click.testing import CliRunner

    from sccompiler.cli import cli

    design, x = small
    design.save(tmp_path / "d")
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for engine, workers in (("packed", "2"), ("reference", "1")):
        res = CliRunner().invoke(cli, ["simulate", str(tmp_path / "d"), "--inputs", str(tmp_path / "x.npy"),
                                       "--engine", engine, "--workers", workers, "--save",
                                       str(tmp_path / f"{engine}.npy")])
        assert res.exit_code == 0, res.output
        outs[engine] = np.load(tmp_path / f"{engine}.npy")
    np.testing.assert_array_equal(outs["packed"], outs["reference"])
    res = CliRunner().invoke(cli, ["simulate", str(tmp_path / "d"), "--inputs", str(tmp_path / "x.npy"),
                                   "--length", str(10**9)])
    assert res.exit_code != 0 and "would need" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("kind", ["binary_embedding", "real_embedding", "linear_first"])
def test_token_and_dense_input_layers_bit_exact(kind):
    from sccompiler.ir.model import Embedding, InputSpec, Linear, Model, Tensor

    rng = np.random.default_rng(6)
    base = lstm_model(I=5 if kind != "linear_first" else 3, H=4)
    if kind == "linear_first":
        lin = Linear("pre", in_size=3, out_size=3, weight=Tensor(np.where(rng.random((3, 3)) < .5, -.5, .5)),
                     bias=Tensor(np.full(3, 0.1)))
        x = rng.uniform(-1, 1, (3, 4, 3))
        model = Model((lin, *base.layers), InputSpec("features", 3), "lin")
    else:
        w = np.where(rng.random((7, 5)) < .5, -1., 1.) if kind == "binary_embedding" else rng.normal(0, 1, (7, 5))
        model = Model((Embedding("emb", num_embeddings=7, embedding_dim=5, weight=Tensor(w)), *base.layers),
                      InputSpec("tokens", 7), "tok")
        x = rng.integers(0, 7, size=(3, 4))
    cfg = {"length": 64, **({"defaults": {"hidden": "sign"}} if kind == "binary_embedding" else {}), **FAST}
    design = compile_model(model, cfg, calibration=x)
    assert_bit_exact(design.netlist, x)


@pytest.mark.parametrize("spec", [draw(0), draw_sobol(0)], ids=["lfsr", "sobol"])
def test_restarted_randoms_and_repeated_runs(spec):
    """The runtime keeps each layer's source wiring across runs (``LayerRandoms.restarted``): a
    restarted copy draws a fresh one's numbers although the original has advanced, and running
    the same runtime again (other L, then the first again) gives the same bits."""
    design, x = compile_spec(spec)
    layer = design.netlist.layers[0].name
    L = design.netlist.layers[0].length
    used = LayerRandoms(design.netlist, layer, window=L)
    used.numbers(L)
    used.numbers(3)
    again, fresh = used.restarted(), LayerRandoms(design.netlist, layer, window=L)
    for _ in range(3):
        a, b = again.numbers(L), fresh.numbers(L)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    rt = PackedRuntime(design.netlist)
    first = rt.run(x)[0]
    rt.run(x, length=37)
    np.testing.assert_array_equal(rt.run(x)[0], first)
    np.testing.assert_array_equal(first, Runtime(design.netlist).run(x)[0])


@pytest.mark.parametrize("length", [100, 64])
def test_reused_step_buffers_change_nothing(small, length):
    """The runtime reuses its scratch arrays (WFSM state masks, step-local outputs) across steps
    and runs: a runtime that simulated other inputs and batch sizes before gives the reference's
    outputs and traces on new ones, bit for bit."""
    design, x = small
    rt = PackedRuntime(design.netlist)
    rt.run(x[::-1, :, ::-1], length=length, trace=True)
    rt.run(x[:5], length=length)
    got, got_runs = rt.run(x, length=length, trace=True)
    want, want_runs = Runtime(design.netlist).run(x, length=length, trace=True)
    np.testing.assert_array_equal(got, want)
    for name, run in want_runs.items():
        assert run.trace.keys() == got_runs[name].trace.keys()
        for k in run.trace:
            np.testing.assert_array_equal(got_runs[name].trace[k], run.trace[k], err_msg=f"{name}/{k}")


def test_openmp_threads_wait_passively():
    """numba's OpenMP workers sleep between parallel regions instead of spinning (set by
    ``import sccompiler`` unless the user chose a policy): a spinning worker takes a core from
    the serial part of each step."""
    import os
    import subprocess
    import sys

    code = "import sccompiler, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"
