"""Netlist simulator: bit for bit against the naive per-cycle reference on random netlists;
explicit source sharing; chunking and state carry; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sccompiler.errors import SCValueError, SimulationError
from sccompiler.sim import Netlist, Simulator, expectation
from sccompiler.sim.seeds import SourceAllocator, check_uncorrelated

from .naive import naive_netlist


def random_netlist(seed: int, kind: str = "lfsr"):
    """A random small netlist using every primitive, plus matching random inputs."""
    rng = np.random.default_rng(seed)
    width = int(rng.integers(12, 17))
    nl = Netlist(SourceAllocator(kind=kind, width=width, length=40, master_seed=seed))
    names = [nl.input(f"x{i}", "bipolar") for i in range(2)] + [nl.input("u", "unipolar")]
    bits = []
    for i in range(int(rng.integers(3, 6))):
        nbits = int(rng.integers(3, width + 1))
        if i == 0:
            bits.append(nl.sng(float(rng.uniform(-1, 1)), bits=nbits))      # constant
        elif i == 1:
            bits.append(nl.sng("u", bits=nbits, encoding="unipolar"))
        else:
            bits.append(nl.sng(names[i % 2], bits=nbits))
    for _ in range(int(rng.integers(3, 7))):
        op = str(rng.choice(["and", "or", "xor", "xnor", "not", "mux"]))
        pick = [bits[int(j)] for j in rng.choice(len(bits), 3, replace=True)]
        if op == "not":
            bits.append(nl.not_(pick[0]))
        elif op == "mux":
            bits.append(nl.mux(pick[0], pick[1], pick[2], shared_ok=True))
        else:
            bits.append(nl.gate(op, pick[0], pick[1], shared_ok=True))
    k = nl.apc(bits[:3], bipolar=bool(rng.integers(0, 2)), shared_ok=True)
    total = nl.add([k, nl.apc(bits[-2:], shared_ok=True)])
    f1 = nl.fsm(bits[-1], states=int(rng.integers(1, 5)) * 2)
    f2 = nl.fsm(total, states=6, weights=rng.uniform(0, 1, 6),
                weight_bits=int(rng.integers(2, 7)), reset=int(rng.integers(0, 6)))
    c1 = nl.counter(f1)
    nl.counter(nl.xnor(f2, bits[0], shared_ok=True))
    nl.updown(bits[1], lo=-5, hi=7, reset=2)
    nl.updown(total)
    nl.sign(c1, threshold=20)
    batch = int(rng.integers(1, 80))
    inputs = {"x0": rng.uniform(-1, 1, batch), "x1": rng.uniform(-1, 1, batch),
              "u": rng.uniform(0, 1, batch)}
    inputs["x0"][0] = -1.0
    inputs["u"][-1] = 1.0
    return nl, inputs, batch


@pytest.mark.parametrize("seed", range(6))
def test_random_netlists_bit_exact(seed):
    kind = "sobol" if seed == 5 else "lfsr"
    nl, inputs, batch = random_netlist(seed, kind)
    length = 40
    stream_nodes = [n for n, nd in nl.nodes.items() if nd.kind in ("bit", "int")]
    res = Simulator(nl).run(inputs, length, streams=stream_nodes, chunk_cycles=7)
    values, streams = naive_netlist(nl, inputs, length, batch)
    assert set(values) == set(res.values)
    for name, v in values.items():
        np.testing.assert_array_equal(res.values[name], np.array(v), err_msg=name)
    for name in stream_nodes:
        np.testing.assert_array_equal(res.streams[name], np.array(streams[name]), err_msg=name)


@settings(max_examples=15)
@given(seed=st.integers(10, 10_000), chunk=st.integers(1, 50))
def test_chunking_and_state_carry_do_not_change_results(seed, chunk):
    nl, inputs, _ = random_netlist(seed)
    sim = Simulator(nl)
    whole = sim.run(inputs, 40)
    chunked = sim.run(inputs, 40, chunk_cycles=chunk)
    first = sim.run(inputs, 25)
    second = sim.run(inputs, 15, state=first.state)
    for name, v in whole.values.items():
        np.testing.assert_array_equal(chunked.values[name], v)
        np.testing.assert_array_equal(second.values[name], v)


def test_xnor_multiplies_and_mux_adds():
    length = 1 << 14
    nl = Netlist(SourceAllocator(width=24, length=length))
    a, b, s = nl.input("a"), nl.input("b"), nl.input("s", "unipolar")
    sa, sb, ss = nl.sng(a), nl.sng(b), nl.sng(s, encoding="unipolar")
    nl.counter(nl.xnor(sa, sb), name="prod")
    nl.counter(nl.mux(ss, sa, sb), name="mx")
    x = {"a": np.array([0.5, -0.8, 0.0, 1.0]), "b": np.array([0.5, 0.3, -0.6, -1.0]),
         "s": np.array([0.5, 0.25, 1.0, 0.0])}
    res = Simulator(nl).run(x, length, check_correlation=True)
    pz = (x["a"] * x["b"] + 1) / 2
    pm = x["s"] * (x["a"] + 1) / 2 + (1 - x["s"]) * (x["b"] + 1) / 2
    for got, p in ((res.values["prod"] / length, pz), (res.values["mx"] / length, pm)):
        assert np.all(np.abs(got - p) <= 5 * np.sqrt(p * (1 - p) / length) + 2.0 ** -16)


def test_shared_source_requires_explicit_request():
    nl = Netlist(SourceAllocator(width=16, length=64))
    a = nl.sng(0.2, source="r0")
    b = nl.sng(0.4, source="r0")          # same named source: explicit sharing
    with pytest.raises(SimulationError, match="share source"):
        nl.xnor(a, b)
    same = nl.xnor(a, b, shared_ok=True)
    assert nl.deps(same) == {"r0"}
    with pytest.raises(SCValueError):
        nl.allocator.allocate("r0")


def test_dynamic_correlation_check():
    """Streams sharing a source are flagged by the SCC check; independent ones pass."""
    length = 2048
    nl = Netlist(SourceAllocator(width=16, length=length))
    a = nl.sng(0.0, source="r")
    b = nl.sng(0.2, source="r")
    c = nl.sng(0.2)
    nl.counter(nl.and_(a, b, shared_ok=True))
    nl.counter(nl.and_(a, c))
    res = Simulator(nl).run(None, length, batch=2, streams=[a, b, c], check_correlation=True)
    with pytest.raises(SimulationError, match="correlated"):
        check_uncorrelated({"a": res.streams[a], "b": res.streams[b]}, gate="and")
    check_uncorrelated({"a": res.streams[a], "c": res.streams[c]}, gate="and")


@pytest.mark.parametrize("call,param", [
    (lambda nl: nl.sng(1.5), "value"),
    (lambda nl: nl.sng(0.5, bits=40), "bits"),
    (lambda nl: nl.fsm(nl.sng(0.1), states=1), "states"),
    (lambda nl: nl.fsm(nl.sng(0.1), states=5), "states"),
    (lambda nl: nl.fsm(nl.sng(0.1), states=4, weights=[0.1, 2.0, 0.3, 0.4]), "weights"),
    (lambda nl: nl.counter("nope"), "a"),
    (lambda nl: nl.counter(nl.apc([nl.sng(0.1)])), "a"),
    (lambda nl: nl.updown(nl.sng(0.1), lo=3, hi=1), "lo"),
    (lambda nl: nl.input("x", "ternary"), "encoding"),
])
def test_build_errors(call, param):
    nl = Netlist(SourceAllocator(width=16, length=64))
    with pytest.raises(SCValueError) as info:
        call(nl)
    assert info.value.param == param


def test_run_errors():
    nl = Netlist(SourceAllocator(width=16, length=64))
    nl.counter(nl.sng(nl.input("x")))
    sim = Simulator(nl)
    for kwargs, param in [
        (dict(inputs={"x": [0.1, 2.0]}), "inputs['x']"),
        (dict(inputs={}), "inputs"),
        (dict(inputs={"x": [0.1], "y": [0.2]}), "inputs"),
        (dict(inputs={"x": [[0.1]]}), "inputs['x']"),
        (dict(inputs={"x": [0.1]}, length=0), "length"),
        (dict(inputs={"x": [0.1, 0.2]}, batch=3), "inputs"),
    ]:
        kwargs.setdefault("length", 8)
        with pytest.raises(SCValueError) as info:
            sim.run(**kwargs)
        assert info.value.param == param


def test_expectation_mode_matches_simulation():
    """Expectation mode (exact probabilities) against a long bit-level run of the same netlist."""
    length = 1 << 15
    nl = Netlist(SourceAllocator(width=24, length=length))
    a, b, s = nl.input("a"), nl.input("b"), nl.input("s", "unipolar")
    sa, sb, ss = nl.sng(a), nl.sng(b), nl.sng(s, encoding="unipolar")
    prod = nl.xnor(sa, sb)
    mixed = nl.mux(ss, sa, nl.not_(sb))
    k = nl.apc([sa, sb, ss])
    f_bit = nl.fsm(prod, states=8)
    f_int = nl.fsm(k, states=6, weights=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0], weight_bits=8)
    names = {"prod": prod, "mixed": mixed, "f_bit": f_bit, "f_int": f_int}
    for key, node in names.items():
        nl.counter(node, name=f"c_{key}")
    x = {"a": np.array([0.5, -0.8, 0.1]), "b": np.array([0.5, 0.3, -0.6]),
         "s": np.array([0.5, 0.25, 0.9])}
    exp = expectation(nl, x, length)
    res = Simulator(nl).run(x, length)
    assert np.allclose(exp.prob[prod], (x["a"] * x["b"] + 1) / 2, atol=2e-6)
    q, lo = exp.pmf[k]
    assert lo == -3 and np.allclose(q.sum(axis=1), 1.0)
    for key, node in names.items():
        p = exp.prob[node]
        got = res.values[f"c_{key}"] / length
        # FSM outputs are autocorrelated: inflate the binomial band by the state count
        k_sd = 6 * (np.sqrt(8) if key.startswith("f_") else 1)
        assert np.all(np.abs(got - p) <= k_sd * np.sqrt(p * (1 - p) / length) + 16 / length), key
        np.testing.assert_allclose(exp.mean[f"c_{key}"], length * p)
