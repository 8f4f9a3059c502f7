"""Property-based fuzzing of the loaders and the expression parser: for any input the result is
an :class:`SCCError` or a valid result, nothing else, within a time bound (hypothesis deadline).
Kept fast (modest ``max_examples``); CI runs them with the rest of the suite."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sccompiler.cli import cli
from sccompiler.config import CompileConfig, config_from_dict
from sccompiler.design import CompiledDesign
from sccompiler.errors import SCCError
from sccompiler.frontends import load_model
from sccompiler.frontends.native import load_native
from sccompiler.fsm.targets import make_target
from sccompiler.io import load_npy
from sccompiler.ir.model import Model

from .corpus import FAST, FIXTURES, setup_dir

#: SCC_FUZZ_EXAMPLES=N runs N random (not derandomized) examples per fuzzer: a longer held-out campaign
_N = int(os.environ.get("SCC_FUZZ_EXAMPLES", "0") or 0)
FUZZ = settings(max_examples=_N or 40, deadline=3000, derandomize=not _N,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                    max_leaves=12)


def paths(doc, prefix=()):
    """Every (container path) in a JSON document, depth-first."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for k, v in enumerate(doc[:6]):
            yield from paths(v, prefix + (k,))


def mutate(doc, index: int, value, delete: bool):
    doc = copy.deepcopy(doc)
    all_paths = list(paths(doc))
    path = all_paths[index % len(all_paths)]
    if not path:
        return value
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@pytest.fixture(scope="module")
def base():
    w = Path(tempfile.mkdtemp(prefix="scc-fuzz-"))
    setup_dir(w)
    r = CliRunner().invoke(cli, ["compile", str(w / "m"), "-o", str(w / "d"), *FAST])
    assert r.exit_code == 0, r.output
    yield w
    shutil.rmtree(w, ignore_errors=True)


# ------------------------------------------------------------------ the expression parser
TOKENS = ["x", "1", "2", "0", "9", "999", ".5", "e", "pi", "+", "-", "*", "/", "**", "^", "(", ")", ",",
          "tanh(", "log(", "sqrt(", "exp(", "Min(", "abs(", "atanh(", "Piecewise((", "<", "True", "__import__",
          "'a'", "[", "]", "lambda", ":", " "]


@FUZZ
@given(st.one_of(st.lists(st.sampled_from(TOKENS), max_size=14).map("".join), st.text(max_size=40)))
def test_fuzz_expression(text):
    try:
        tgt = make_target(text)
    except SCCError:
        return
    try:
        y = tgt(np.linspace(-1, 1, 17))
    except SCCError:
        return
    assert y.shape == (17,) and y.dtype == np.float64


# ------------------------------------------------------------------ configs
KEYS = ["length", "seed", "flow", "disable", "schedule", "defaults", "layers", "target_error", "lengths",
        "metric", "hidden", "gate_input", "sng_bits", "lstm0", "cell_range", "gate_fsm_states"]


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), JSON, max_size=5))
def test_fuzz_config(data):
    try:
        cfg = config_from_dict(data)
    except SCCError:
        return
    assert isinstance(cfg, CompileConfig)


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_config_file_bytes(data):
    with tempfile.TemporaryDirectory() as d:
        for name in ("c.json", "c.yaml"):
            p = Path(d) / name
            p.write_bytes(data)
            try:
                assert isinstance(__import__("sccompiler.config", fromlist=["x"]).load_config(p), CompileConfig)
            except SCCError:
                pass


# ------------------------------------------------------------------ native models
@FUZZ
@given(st.integers(0, 10_000), JSON, st.booleans())
def test_fuzz_native_manifest(base, index, value, delete):
    doc = json.loads((base / "m" / "model.json").read_text())
    with tempfile.TemporaryDirectory() as d:
        dst = Path(d) / "m"
        shutil.copytree(base / "m", dst)
        (dst / "model.json").write_text(json.dumps(mutate(doc, index, value, delete)))
        try:
            model = load_native(dst)
        except SCCError:
            return
        assert isinstance(model, Model) and model.layers


@FUZZ
@given(st.integers(0, 10_000), st.binary(min_size=1, max_size=64))
@example(offset=73, patch=b"\x00")          # zlib.error from a member (found by this fuzzer)
@example(offset=1442, patch=b"\x00@")       # NotImplementedError: zip file version 6.4 (found by this fuzzer)
def test_fuzz_native_weights_bytes(base, offset, patch):
    data = bytearray((base / "m" / "weights.npz").read_bytes())
    at = offset % len(data)
    data[at:at + len(patch)] = patch
    with tempfile.TemporaryDirectory() as d:
        dst = Path(d) / "m"
        shutil.copytree(base / "m", dst)
        (dst / "weights.npz").write_bytes(bytes(data))
        try:
            assert isinstance(load_native(dst), Model)
        except SCCError:
            pass


# ------------------------------------------------------------------ compiled designs
@FUZZ
@given(st.integers(0, 100_000), JSON, st.booleans(), st.sampled_from(["design.json", "report.json"]))
def test_fuzz_design(base, index, value, delete, name):
    doc = json.loads((base / "d" / name).read_text())
    with tempfile.TemporaryDirectory() as d:
        dst = Path(d) / "d"
        shutil.copytree(base / "d", dst)
        (dst / name).write_text(json.dumps(mutate(doc, index, value, delete)))
        try:
            design = CompiledDesign.load(dst)
        except SCCError:
            return
        assert isinstance(design, CompiledDesign)


# ------------------------------------------------------------------ ONNX
@FUZZ
@given(st.sampled_from(["lstm_ternary.onnx", "gru_lbr1.onnx", "embed_lstm_gemm_softmax.onnx"]),
       st.integers(0, 100_000), st.binary(min_size=1, max_size=16))
@example(fixture="lstm_ternary.onnx", offset=91, patch=b"\x80")   # UnicodeDecodeError in onnx.checker
def test_fuzz_onnx_bytes(fixture, offset, patch):
    data = bytearray((FIXTURES / fixture).read_bytes())
    at = offset % len(data)
    data[at:at + len(patch)] = patch
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.onnx"
        p.write_bytes(bytes(data))
        try:
            assert isinstance(load_model(p), Model)
        except SCCError:
            pass


@FUZZ
@given(st.sampled_from(["hidden_size", "linear_before_reset", "direction", "layout", "input_forget", "clip"]),
       st.one_of(st.integers(-3, 10), st.text(max_size=4), st.floats(allow_nan=False)))
def test_fuzz_onnx_attributes(attr, value):
    import onnx  # noqa: PLC0415
    from onnx import helper  # noqa: PLC0415

    m = onnx.load(str(FIXTURES / "gru_lbr1.onnx"))
    node = next(n for n in m.graph.node if n.op_type == "GRU")
    for a in list(node.attribute):
        if a.name == attr:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(attr, value))
    try:
        assert isinstance(load_model(m), Model)
    except SCCError:
        pass


# ------------------------------------------------------------------ .npy inputs
@FUZZ
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_npy(data, with_magic):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.npy"
        p.write_bytes((b"\x93NUMPY\x01\x00" if with_magic else b"") + data)
        try:
            assert isinstance(load_npy(p, "--inputs"), np.ndarray)
        except SCCError:
            pass
