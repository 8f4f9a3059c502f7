"""Every ```python block of README.md and docs/*.md runs.

A block may be preceded (on the lines just above its fence) by one marker comment:

* ``<!-- test-setup: NAME, ... -->``: run it after the named setups below (the data a reader
  brings: inputs ``x``, a model file, ...), in a fresh temporary directory;
* ``<!-- test-needs: PROGRAM -->``: an external program it needs (skipped without it);
* ``<!-- no-test: REASON -->``: not run (the reason is required).

A block without a marker must run as it stands.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sccompiler.testing import require_tool

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\s*$")
MARKER = re.compile(r"^<!--\s*(test-setup|test-needs|no-test):\s*(.*?)\s*-->\s*$")


def blocks() -> list[tuple[str, str, dict[str, str]]]:
    """(id, code, markers) of every python block."""
    out = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        k = 0
        while k < len(lines):
            if FENCE.match(lines[k]):
                end = next(j for j in range(k + 1, len(lines)) if lines[j].startswith("```"))
                markers, j = {}, k - 1
                while j >= 0 and (m := MARKER.match(lines[j])):
                    markers[m.group(1)] = m.group(2)
                    j -= 1
                out.append((f"{path.relative_to(ROOT)}:{k + 1}", "\n".join(lines[k + 1:end]), markers))
                k = end
            k += 1
    return out


# ----------------------------------------------------------------------------- setups
def _features(rng, B, T, F=3):
    return rng.uniform(-0.9, 0.9, (B, T, F))


def float_lstm_onnx(path: str, I: int = 3, H: int = 4, seed: int = 0) -> None:
    """A float ONNX LSTM (time-major x (T, B, I) -> y (T, B, H)), as an exporter writes it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = {"W": rng.normal(0, 0.5, (1, 4 * H, I)).astype(np.float32),
             "R": rng.normal(0, 0.5, (1, 4 * H, H)).astype(np.float32), "axes1": np.array([1], dtype=np.int64)}
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["Y"], name="rnn", hidden_size=H),
             helper.make_node("Squeeze", ["Y", "axes1"], ["y"], name="sq")]
    graph = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["t", "b", I])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["t", "b", H])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def setup_onnx_model(ns: dict) -> None:
    """``model.onnx`` (a float 3 -> 4 LSTM), inputs ``x``, ``x_cal``, ``x_test`` (B, T, 3),
    labels ``y_test`` (B,) and bipolar values ``x_values`` (B,)."""
    rng = np.random.default_rng(0)
    float_lstm_onnx("model.onnx")
    ns.update(x=_features(rng, 2, 3), x_cal=_features(rng, 4, 3), x_test=_features(rng, 6, 3),
              y_test=rng.integers(0, 4, 6), x_values=np.linspace(-0.9, 0.9, 5))


def setup_native_model(ns: dict) -> None:
    """``model/`` (a native binary 3 -> 4 LSTM), ``model`` (its IR), ``x``, ``x_cal`` (B, T, 3)."""
    from compiler.models import lstm_model

    from sccompiler import save_model

    rng = np.random.default_rng(1)
    model = lstm_model(I=3, H=4, seed=1)
    save_model(model, "model")
    ns.update(model=model, x=_features(rng, 2, 3), x_cal=_features(rng, 4, 3))


def setup_bipolar(ns: dict) -> None:
    """Bipolar values ``x``, ``xa``, ``xb`` (B,), 8 FSM weights ``w``, ``w8``, and ``inputs`` (B,)."""
    rng = np.random.default_rng(2)
    w = np.linspace(0.05, 0.95, 8)
    ns.update(x=rng.uniform(-1, 1, 4), xa=rng.uniform(-1, 1, 4), xb=rng.uniform(-1, 1, 4), w=w, w8=w,
              inputs=np.linspace(-0.8, 0.8, 3))


def setup_exact_design(ns: dict) -> None:
    """``design``: a compiled 2 -> 3 LSTM with exact inputs (Verilog-emittable), ``x`` its
    exact inputs (B, T, 2)."""
    from compiler.models import FAST, lstm_model

    from sccompiler import compile_model

    rng = np.random.default_rng(3)
    x = 0.5 * rng.choice([-1.0, 0.0, 1.0], size=(1, 2, 2))
    ns.update(design=compile_model(lstm_model(I=2, H=3, seed=5), {"length": 16, "defaults": {"hidden": "sign"},
                                                                   **FAST}, calibration=x), x=x)


SETUPS = {"onnx-model": setup_onnx_model, "native-model": setup_native_model, "bipolar": setup_bipolar,
          "exact-design": setup_exact_design}
BLOCKS = blocks()


def test_markers_are_known_and_blocks_exist():
    assert len(BLOCKS) >= 8
    for bid, _, markers in BLOCKS:
        for name in filter(None, (s.strip() for s in markers.get("test-setup", "").split(","))):
            assert name in SETUPS, f"{bid}: unknown test-setup {name!r}"
        if "no-test" in markers:
            assert markers["no-test"], f"{bid}: no-test needs a reason"


@pytest.mark.parametrize("bid, code, markers", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block_runs(bid, code, markers, tmp_path, monkeypatch):
    if "no-test" in markers:
        pytest.skip(f"marked no-test: {markers['no-test']}")
    if "test-needs" in markers:
        for prog in markers["test-needs"].split(","):
            require_tool(prog.strip())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCC_FSM_CACHE", "0")
    ns: dict = {"__name__": "__snippet__"}
    for name in filter(None, (s.strip() for s in markers.get("test-setup", "").split(","))):
        SETUPS[name](ns)
    exec(compile(code, bid, "exec"), ns)   # noqa: S102 - the project's own documentation
