"""Compiled SC designs: :func:`compile_model` and :class:`CompiledDesign`.

``compile_model(model, config, calibration=...)`` runs a pass flow (:mod:`sccompiler.passes`) and
returns a :class:`CompiledDesign`: the SC netlist plus the model, config and the per-stage
records.  A design ``simulate``\\ s cycle-accurately through the SC core, ``trace``\\ s every
intermediate per time step next to the references, ``report``\\ s (datapath, FSMs, correlation,
cost vs baselines, schedule) and ``save``\\ s to an OUTDIR that :meth:`CompiledDesign.load` reads
back::

    OUTDIR/design.json    netlist (arrays out of line), config, plans, metadata
    OUTDIR/arrays.npz     netlist arrays (weights, tables, FSM weights, seeds)
    OUTDIR/model/         the quantized model (native format) for references and re-costing
    OUTDIR/stages/NN_pass.json   the IR after every pass and its time
    OUTDIR/report.json, OUTDIR/report.md
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from . import metrics
from .config import CompileConfig, config_from_dict
from .driver import run_compile
from .errors import ConfigError, LimitError, ModelFormatError, SCCError, SCValueError, SimulationError
from .frontends import load_model
from .frontends.native import check_layer_name, load_native, save_model
from .io import SafeNpz, atomic_dir, read_json, regular_file
from .ir.model import GRU, LSTM, Model, direction_layers
from .ir.sc import LayerOptions, SCNetlist, concat_name
from .jsonable import to_jsonable
from .lowering import plan_json
from .passes import CompileState
from .quantize.bnfold import design_layer
from .reference import check_input, forward
from .report_md import report_markdown
from .runtime import Runtime
from .runtime.golden import design_points, golden_forward, step_gru, step_lstm
from .runtime.packed import PackedRuntime
from .runtime.resources import plan_memory
from .sim.rules import is_int

DESIGN_FORMAT = "sccompiler-design"
#: the longest stream length L a simulation accepts (the config's bound, docs/reliability.md)
MAX_LENGTH = 1 << 20
#: the runtimes a design simulates with: the packed one (fast) and the reference oracle
ENGINES = ("packed", "reference")


@contextmanager
def _progress_bar(progress, total: int, label: str) -> Iterator[Callable[[float], None] | None]:
    """A rich progress bar (``progress=True``), the caller's callback, or nothing."""
    if callable(progress) or not progress:
        yield progress if callable(progress) else None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda k: bar.advance(task, k)


@dataclass(repr=False)
class CompiledDesign:
    """A compiled SC design (see the module docstring)."""

    model: Model
    config: CompileConfig
    netlist: SCNetlist
    info: dict[str, Any] = field(default_factory=dict)
    stages: list[dict] = field(default_factory=list)
    #: the compiler's per-layer plans as plain JSON (design.json ``plans``; informational)
    plan_records: dict[str, dict] = field(default_factory=dict)

    def __repr__(self) -> str:  # the generated one would print every weight array
        return (f"CompiledDesign(model={self.model.name!r}, lengths={self.lengths}, "
                f"nodes={len(self.netlist.nodes)}, stages={len(self.stages)})")

    # ------------------------------------------------------------------------- simulation
    @property
    def lengths(self) -> dict[str, int]:
        return {p.name: p.length for p in self.netlist.layers if p.length}

    @property
    def plans(self) -> dict[str, LayerOptions]:
        """Layer name -> the options it was lowered with (what the design reference reads)."""
        return {p.name: p.options for p in self.netlist.layers}

    def _runtime(self, engine: str = "reference"):
        if engine not in ENGINES:
            raise SCValueError("engine", f"must be one of {', '.join(ENGINES)}, got {engine!r}")
        key = f"_rt_{engine}"
        rt = getattr(self, key, None)
        if rt is None:
            rt = Runtime(self.netlist) if engine == "reference" else PackedRuntime(self.netlist)
            object.__setattr__(self, key, rt)
        return rt

    def _run(self, x, *, length, engine, workers, trace=False, progress=None, chunk=None):
        rt = self._runtime(engine)
        if engine == "reference":
            return rt.run(x, length=length, trace=trace, progress=progress, threads=workers)
        with threadpool_limits(1):           # BLAS threads would fight the kernels' threads
            return rt.run(x, length=length, trace=trace, progress=progress, workers=workers, chunk=chunk)

    def _check_x(self, x) -> np.ndarray:
        return check_input(self.model, x)

    def simulate(self, x, *, length: int | None = None, progress: Callable[[float], None] | None = None,
                 threads: int | None = 1, engine: str = "packed", workers: int | None = None,
                 chunk: int | None = None) -> np.ndarray:
        """Cycle-accurate output (B, T, F) for inputs ``x`` (B, T, F) or token ids (B, T).

        ``length`` overrides every layer's stream length L (same netlist, SNG widths unchanged);
        ``engine``: ``'packed'`` (:class:`~sccompiler.runtime.packed.PackedRuntime`, default) or
        ``'reference'`` (:class:`~sccompiler.runtime.engine.Runtime`; both bit-exact);
        ``workers`` (alias ``threads``): threads during the run (None: numba's setting);
        ``chunk``: sequences simulated at once (packed; default: what memory allows -- inputs that
        cannot fit raise :class:`~sccompiler.errors.ResourceLimitError`).
        """
        if length is not None and (not is_int(length) or length < 1):
            raise SCValueError("length", f"must be an integer >= 1, got {length!r}")
        w = threads if workers is None else workers
        if w is not None and (not is_int(w) or w < 1):
            raise SCValueError("workers", f"must be an integer >= 1, got {w!r}")
        xc = self._check_x(x)
        if length is not None and length > MAX_LENGTH:
            # beyond the cycle limit: the memory it would need when that is the binding limit, else the cap
            plan_memory(self.netlist, np.shape(xc), {name: int(length) for name in self.lengths})
            raise LimitError("length", int(length), MAX_LENGTH, "cycles")
        with self._loaded_guard():
            out, _ = self._run(xc, length=length, engine=engine, workers=w, progress=progress, chunk=chunk)
        return out

    @contextlib.contextmanager
    def _loaded_guard(self):
        """A design read from disk whose netlist is inconsistent in a way the loader cannot see
        (e.g. a hand-edited legacy design.json without digest) fails with one SimulationError."""
        source = getattr(self, "_source", None)
        if source is None:
            yield
            return
        try:
            yield
        except SCCError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise SimulationError(f"{source}: the design's netlist is inconsistent "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else '-'})"
                                  ) from None

    def error_budget(self, x, *, lengths: Sequence[int] | None = None, classes: Sequence[str] | None = None,
                     seed: int = 0, progress: Callable[[int], None] | None = None):
        """The error budget on inputs ``x`` at each of ``lengths``: the share of the output error
        caused by each class of stochastic element
        (:func:`sccompiler.analysis.error_budget.error_budget`; ``.to_dict()`` is JSON-able)."""
        from .analysis.error_budget import error_budget  # noqa: PLC0415

        with self._loaded_guard():
            return error_budget(self, x, lengths=lengths, classes=classes, seed=seed, progress=progress)

    def evaluate(self, x, targets, metric: str, *, lengths: Sequence[int] | None = None, confidence: float = 0.95,
                 engine: str = "packed", workers: int | None = 1, chunk: int | None = None,
                 progress: bool | Callable[[float], None] = False, outputs: bool = False) -> dict:
        """The task ``metric`` (:data:`sccompiler.metrics.METRICS`: accuracy, step_accuracy, bpc,
        mse) of the simulated outputs on a whole test set, with a ``confidence`` interval, at each
        stream length of ``lengths`` (None: the design's own L; others override every layer's L).

        Returns ``{L: {"metric", "value", "ci": [lo, hi], "confidence", "sequences", "interval",
        "seconds"}}`` (L = 0 for the design's own lengths; ``outputs=True`` adds the simulated
        ``"outputs"``); ``progress=True`` shows a progress bar.
        """
        xc = self._check_x(x)
        todo = [None] if lengths is None else list(lengths)
        for L in todo:
            if L is not None and (not is_int(L) or L < 1):
                raise SCValueError("lengths", f"must be integers >= 1, got {L!r}")
        metrics.per_sequence(metric, np.zeros(np.shape(xc)[:2] + (self.output_size,)), targets)  # validate first
        results: dict[int, dict] = {}
        with _progress_bar(progress, len(todo) * len(self.netlist.layers), "simulating") as advance:
            for L in todo:
                start = time.perf_counter()
                out = self.simulate(xc, length=L, engine=engine, workers=workers, chunk=chunk, progress=advance)
                res = metrics.evaluate_metric(metric, out, targets, confidence).to_json()
                results[0 if L is None else int(L)] = {**res, "seconds": time.perf_counter() - start,
                                                       **({"outputs": out} if outputs else {})}
        return results

    @property
    def output_size(self) -> int:
        """Features of the simulated output (the last layer's)."""
        return int(self.netlist.layer_nodes(self.netlist.layers[-1].name)[-1].size)

    def trace(self, x, *, length: int | None = None, engine: str = "packed", workers: int | None = 1) -> dict:
        """Every intermediate per time step next to the references.

        Returns ``{layer: {"sc": {node: (B, T, ...)}, "golden": {...}, "reference": {...},
        "teacher_forced": {...}}}`` where ``golden`` is the design reference (the design's own
        quantization points: sign(h), saturated c), ``reference`` the quantized model's forward
        (:func:`sccompiler.reference.forward`) and ``teacher_forced`` the golden step evaluated on
        the SC's own previous state and input (per-step stream error only).
        """
        xc = self._check_x(x)
        with self._loaded_guard():
            out, runs = self._run(xc, length=length, engine=engine, workers=workers, trace=True)
        _, gold = golden_forward(self.model, self.plans, xc)
        _, ref = forward(self.model, xc, return_trace=True)
        result: dict = {"output": out}
        layer_input = xc
        for model_lay in self.model.layers:
            # a bidirectional layer: its forward and backward directions (the backward one
            # teacher-forced on the reversed input, its trace in the sequence's order) and concat
            units = [(model_lay, "")]
            if isinstance(model_lay, (LSTM, GRU)) and model_lay.direction == "bidirectional":
                units = [(d, p) for d, p in zip(direction_layers(model_lay), ("", "reverse."))]
            for lay, prefix in units:
                run = runs.get(lay.name)
                reference = ref.get(model_lay.name, {})
                if prefix:                            # the backward direction's keys
                    reference = {k[len(prefix):]: v for k, v in reference.items() if k.startswith(prefix)}
                elif len(units) > 1:                  # the forward direction's keys
                    reference = {k: v for k, v in reference.items() if not k.startswith("reverse.") and k != "out"}
                entry = {"sc": run.trace if run else {}, "golden": gold.get(lay.name, {}),
                         "reference": reference, "saturations": run.saturations if run else 0}
                if isinstance(lay, (LSTM, GRU)) and run is not None:
                    back = bool(prefix)
                    entry["teacher_forced"] = self._teacher_forced(lay, run, layer_input[:, ::-1] if back
                                                                   else layer_input, back)
                result[lay.name] = entry
                if run is not None and not prefix:
                    nxt = run.out
            if len(units) > 1:
                name = concat_name(model_lay.name)
                run = runs[name]
                out = ref.get(model_lay.name, {}).get("out")
                result[name] = {"sc": run.trace, "golden": gold.get(name, {}),
                                "reference": {} if out is None else {"out": out}, "saturations": 0}
                nxt = run.out
            if model_lay.name in runs or len(units) > 1:
                layer_input = nxt
        return result

    def _teacher_forced(self, lay, run, layer_input: np.ndarray, backward: bool) -> dict:
        """The golden step of ``lay`` on the SC's own previous state and input (a backward
        direction: in its own step order, returned in the sequence's order)."""
        bn_steps, cell_range, hidden = design_points(self.plans[lay.name])
        lay = design_layer(lay, bn_steps)
        flip = (lambda a: a[:, ::-1]) if backward else (lambda a: a)
        h_sc = flip(run.trace[f"{lay.name}.h"])
        c_sc = flip(run.trace[f"{lay.name}.c"]) if isinstance(lay, LSTM) else None
        B, T, H = h_sc.shape
        tf: dict[str, list] = {}
        for t in range(T):
            h_prev = np.zeros((B, H)) if t == 0 else h_sc[:, t - 1]
            if isinstance(lay, LSTM):
                c_prev = np.zeros((B, H)) if t == 0 else c_sc[:, t - 1]
                s = step_lstm(lay, layer_input[:, t], h_prev, c_prev, t, cell_range=cell_range, hidden=hidden)
            else:
                s = step_gru(lay, layer_input[:, t], h_prev, t, hidden=hidden)
            for k, v in s.items():
                tf.setdefault(k, []).append(v)
        return {k: flip(np.stack(v, axis=1)) for k, v in tf.items()}

    def error(self, x, *, length: int | None = None, reference: str = "quantized", metric: str = "mean_abs") -> float:
        """Deviation of the simulated output from the quantized reference (or ``'golden'``)."""
        xc = self._check_x(x)
        sim = self.simulate(xc, length=length)
        ref = forward(self.model, xc) if reference == "quantized" else golden_forward(self.model, self.plans, xc)[0]
        diff = np.abs(sim - ref)
        return float(diff.mean() if metric == "mean_abs" else diff.max())

    # ------------------------------------------------------------------------- reports
    def report(self) -> dict:
        info = {k: v for k, v in self.info.items() if not k.startswith("_")}
        return {"model": self.model.name,
                "layers": [p.to_json() for p in self.netlist.layers],
                "primitives": self.netlist.counts(),
                "sources": dict(self.netlist.sources),
                "stages": [{"pass": s["pass"], "seconds": s["seconds"], "skipped": s["skipped"]} for s in self.stages],
                "config": self.config.to_dict(),
                **info}

    def report_markdown(self) -> str:
        return report_markdown(self.report())

    # ------------------------------------------------------------------------- persistence
    def save(self, outdir: str | os.PathLike, *, force: bool = False,
             extra: Callable[[Path], Any] | None = None) -> Path:
        """Write the design to ``outdir`` atomically (nothing half-written on failure).

        ``extra(tmp)`` writes further outputs (e.g. the Verilog rtl/ and tb/) into the temporary
        directory before the single rename that publishes ``outdir``.
        """
        with atomic_dir(outdir, force=force) as tmp:
            doc = to_jsonable({"format": DESIGN_FORMAT, "version": 1, "netlist": self.netlist.to_json(),
                               "config": self.config.to_dict(), "plans": self.plan_records})
            np.savez_compressed(tmp / "arrays.npz", **self.netlist.arrays())
            doc["digest"] = design_digest(doc, tmp / "arrays.npz")
            (tmp / "design.json").write_text(json.dumps(doc, indent=1))
            save_model(self.model, tmp / "model")
            stages = tmp / "stages"
            stages.mkdir()
            for k, s in enumerate(self.stages):
                (stages / f"{k:02d}_{s['pass']}.json").write_text(json.dumps(to_jsonable(s)))
            rep = self.report()
            (tmp / "report.json").write_text(json.dumps(to_jsonable(rep), indent=1))
            (tmp / "report.md").write_text(self.report_markdown())
            if extra is not None:
                extra(tmp)
        return Path(outdir)

    @classmethod
    def load(cls, outdir: str | os.PathLike) -> "CompiledDesign":
        """Read a design written by :meth:`save`.  Every file is checked at the boundary: a
        damaged directory (wrong types, missing keys, corrupt arrays, undecodable reports,
        invalid layer names) raises :class:`ModelFormatError` naming the file."""
        d = Path(outdir)
        if not (d / "design.json").exists():
            raise ModelFormatError(f"{d}: not a compiled design directory (no design.json)")
        doc = read_json(d / "design.json", "design", ModelFormatError, dict, finite=False)
        if doc.get("format") != DESIGN_FORMAT or doc.get("version") != 1:
            raise ModelFormatError(f"{d / 'design.json'}: not an sccompiler design (format/version)")
        if not isinstance(doc.get("netlist"), dict) or not isinstance(doc.get("config"), dict):
            raise ModelFormatError(f"{d / 'design.json'}: 'netlist' and 'config' must be JSON objects")
        plans = doc.get("plans", {})
        if not isinstance(plans, dict):
            raise ModelFormatError(f"{d / 'design.json'}: 'plans' must be a JSON object")
        if not (d / "arrays.npz").exists():
            raise ModelFormatError(f"{d / 'arrays.npz'}: not found")
        if "digest" in doc:   # designs written before the digest existed load without the check
            regular_file(d / "arrays.npz", "design arrays", ModelFormatError)
            if doc["digest"] != design_digest(doc, d / "arrays.npz"):
                raise ModelFormatError(f"{d}: design.json or arrays.npz was modified or damaged after it was "
                                       "written (digest mismatch); recompile the design")
        with SafeNpz(d / "arrays.npz", "design arrays", ModelFormatError) as arrays:
            try:
                netlist = SCNetlist.from_json(doc["netlist"], arrays)
            except SCCError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                raise ModelFormatError(f"{d / 'design.json'}: malformed netlist ({type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0] if str(exc) else '-'})") from None
        for p in netlist.layers:
            check_layer_name(p.name, f"{d / 'design.json'}: netlist")
        model = load_native(d / "model")
        config = config_from_dict(doc["config"])
        info = {}
        rep = d / "report.json"
        if rep.exists():
            r = read_json(rep, "report", ModelFormatError, dict, finite=False)
            info = {k: r[k] for k in ("calibration", "fsms", "accuracy", "correlation", "cost", "schedule",
                                      "batchnorm", "warnings", "gated_banks")
                    if k in r}
        stages = []
        for f in sorted((d / "stages").glob("*.json")) if (d / "stages").is_dir() else []:
            rec = read_json(f, "stage record", ModelFormatError, dict, finite=False)
            try:
                stages.append({k: rec[k] for k in ("pass", "seconds", "skipped")})
            except KeyError:
                raise ModelFormatError(f"{f}: malformed stage record") from None
        design = cls(model, config, netlist, info, stages, plans)
        object.__setattr__(design, "_source", str(d))
        return design


def design_digest(doc: dict, arrays: Path) -> str:
    """SHA-256 over design.json's content (without its digest) and the bytes of arrays.npz."""
    h = hashlib.sha256(json.dumps({k: v for k, v in doc.items() if k != "digest"}, sort_keys=True).encode())
    with open(arrays, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def compile_model(model, config: CompileConfig | dict | None = None, *, calibration=None,
                  progress: Callable[[str], None] | None = None) -> CompiledDesign:
    """Compile a (quantized) model to an SC design.  ``model``: an IR Model or anything
    :func:`sccompiler.frontends.load_model` reads; ``calibration``: inputs (B, T, F) / ids (B, T)
    used for input ranges, FSM input models and the length scheduler."""
    m = load_model(model)
    if config is None:
        config = CompileConfig()
    elif isinstance(config, dict):
        config = config_from_dict(config)
    calib = None if calibration is None else check_input(m, calibration)
    if config.target_error is not None and calib is None:
        raise ConfigError("target_error needs calibration inputs (the scheduler measures the error on them)")
    state = CompileState(model=m, config=config, calibration=calib, progress=progress)
    start = time.perf_counter()
    state = run_compile(state)
    state.info["compile_seconds"] = time.perf_counter() - start
    return CompiledDesign(m, state.config, state.netlist, state.info, [s.to_json() for s in state.stages],
                          {name: plan_json(p) for name, p in state.plans.items()})


def load_design(outdir: str | os.PathLike) -> CompiledDesign:
    return CompiledDesign.load(outdir)
