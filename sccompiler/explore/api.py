"""The Python API of ``scc explore``: :func:`explore` and :func:`rebuild_trial`.

DIR holds::

    DIR/explore.json      what was explored (model fingerprint, space, data digest, objectives)
    DIR/study.db          the Optuna study (SQLite): every trial with its record
    DIR/calibration.npy   the calibration inputs of every trial (for rebuilding one)
    DIR/baselines.json    the k-bit fixed-point baselines on the same data and cost model
    DIR/trials.csv, trials.json, pareto.json, plots/*.png, report.md   (rewritten after every run)

A new DIR is created atomically with everything a resumed run needs before the first trial, so an
interrupted run always leaves a DIR that ``resume=True`` continues; every check (space, data,
scheduler) runs before it is created.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..config import CompileConfig, config_from_dict
from ..errors import ConfigError, ModelFormatError, OutputExistsError
from ..frontends import load_model
from ..io import atomic_dir, atomic_file, check_writable, load_npy, read_json
from ..metrics import evaluate_metric
from ..reference import forward
from .data import load_data
from .fixed_point import run_baselines
from .objectives import MAXIMIZED_METRICS, feasible, resolve
from .report import write_outputs
from .runner import executor, run_study
from .space import Space, load_space
from .study import RECORD_ATTR, abandon_unfinished, finished, open_study
from .trial import TrialContext

FORMAT = "sccompiler-explore"
MANIFEST = "explore.json"
#: what a resumed run must share with the first (trials and constraints may change)
SAME_ON_RESUME = ("params", "fixed", "objectives", "sampler", "seed")


def fingerprint(model, calibration: np.ndarray) -> str:
    """The model as the explorer saw it: a digest of its quantized reference output on the calibration inputs."""
    out = np.ascontiguousarray(forward(model, calibration), dtype=np.float64)
    return hashlib.sha256(out.tobytes() + str(out.shape).encode()).hexdigest()


def _check_attainable(space: Space, metric: str | None) -> None:
    """Refuse constraints no design can meet (every cost and error is >= 0; accuracies lie in [0, 1])."""
    for c in space.constraints:
        if c.name == "metric" and metric is None:
            raise ConfigError(f"constraint {c.text!r}: VAL.npz has no targets 'y' for a task metric")
        hi = 1.0 if c.name == "metric" and metric in MAXIMIZED_METRICS else None
        if (c.op == "<=" and c.bound < 0) or (c.op == ">=" and hi is not None and c.bound > hi):
            raise ConfigError(f"constraint {c.text!r}: no design can meet it ({c.name} lies in "
                              f"[0, {'inf' if hi is None else f'{hi:g}'}])")


def _manifest(path: Path) -> dict:
    f = path / MANIFEST
    if not f.exists():
        raise ConfigError(f"{path}: not an exploration directory (no {MANIFEST}); start one without --resume")
    doc = read_json(f, "exploration manifest", ModelFormatError, dict)
    if doc.get("format") != FORMAT:
        raise ModelFormatError(f"{f}: not an sccompiler exploration manifest")
    return doc


def explore(model: Any, space: str | os.PathLike, data: str | os.PathLike, outdir: str | os.PathLike, *,
            workers: int | None = None, scheduler: str | None = None, resume: bool = False, force: bool = False,
            trials: int | None = None, sampler: str | None = None, seed: int | None = None,
            metric: str | None = None, progress: bool = False) -> dict:
    """Explore ``space`` (SPACE.yaml) for ``model`` on ``data`` (VAL.npz) into ``outdir``.

    ``trials`` / ``sampler`` / ``seed`` override the space file's; ``workers``: Dask worker
    processes of an embedded LocalCluster (default: the cores; 1 runs in-process), ``scheduler``:
    an existing cluster's address instead; ``resume``: continue the study in an existing
    ``outdir`` (its trials are never run again); ``force``: replace an existing ``outdir``.
    Returns the summary that report.md states (see :func:`.report.summarize`).
    """
    if resume and force:
        raise ConfigError("give --resume (continue DIR) or --force (replace DIR), not both")
    out = Path(outdir)
    m = load_model(model)
    sp = load_space(space, m, trials=trials, sampler=sampler, seed=seed)
    val = load_data(data, m, metric)
    objectives = resolve(sp.objectives, val.metric)
    _check_attainable(sp, val.metric)
    cfg0 = config_from_dict(sp.fixed)
    doc = {"format": FORMAT, "version": 1, "model": str(model) if isinstance(model, (str, os.PathLike)) else m.name,
           "fingerprint": fingerprint(m, val.calibration), "data": str(data), "data_digest": val.digest,
           "metric": val.metric, "space": sp.to_json(), "cost_target": cfg0.cost_target,
           "objectives": [{"name": o.name, "direction": o.direction} for o in objectives]}
    if val.y is not None:   # what every trial's metric is judged against
        q = evaluate_metric(val.metric, val.reference, val.y)
        doc["quantized_metric"] = {"value": q.value, "low": q.low, "high": q.high, "sequences": q.sequences}
    if resume:
        old = _manifest(out)
        for key in SAME_ON_RESUME:
            if old["space"].get(key) != doc["space"].get(key):
                raise ConfigError(f"--resume {out}: the space's {key!r} differs from the one this study was started "
                                  "with; start a new DIR (or --force)")
        if old.get("data_digest") != val.digest:
            raise ConfigError(f"--resume {out}: VAL.npz differs from the data this study was started with")
        if old.get("fingerprint") != doc["fingerprint"]:
            raise ConfigError(f"--resume {out}: MODEL is not the model this study was started with")
    elif os.path.lexists(out) and not force:
        raise OutputExistsError(f"{out}: already exists (use --resume to continue its study, --force to replace it)")
    else:
        check_writable(out, force)
    ctx = TrialContext(m, val.x, val.y, val.metric, val.reference, val.calibration)
    with executor(workers, scheduler) as ex:   # an unreachable scheduler fails before DIR exists
        if resume:
            baselines = read_json(out / "baselines.json", "baselines", ModelFormatError, list)
            with atomic_file(out / MANIFEST, force=True) as fh:
                json.dump(doc, fh, indent=1)
        else:
            baselines = run_baselines(ctx, cfg0.cost_target)
            with atomic_dir(out, force=force) as tmp:
                (tmp / MANIFEST).write_text(json.dumps(doc, indent=1))
                (tmp / "baselines.json").write_text(json.dumps(baselines, indent=1))
                np.save(tmp / "calibration.npy", val.calibration)
                open_study(tmp, sp, objectives, create=True)
        study = open_study(out, sp, objectives, create=False)
        abandon_unfinished(study)
        total = min(sp.trials, sp.grid_size()) if sp.sampler == "grid" else sp.trials   # a grid runs once
        todo = max(0, total - len(finished(study)))
        _, seconds = run_study(study, sp, objectives, ctx, ex, todo=todo, progress=progress) if todo else ([], 0.0)
    records = [t.user_attrs[RECORD_ATTR] for t in finished(study)]
    summary = write_outputs(out, records, baselines, objectives, sp.constraints, doc,
                            run={"trials": todo, "seconds": seconds, "workers": getattr(ex, "slots", 1),
                                 "scheduler": scheduler})
    if sp.constraints and not any(r["state"] == "ok" and feasible(r["values"], sp.constraints) for r in records):
        raise ConfigError(f"no trial of {len(records)} meets the constraints "
                          f"({'; '.join(c.text for c in sp.constraints)}); {out} holds them: loosen the constraints "
                          "and --resume, or widen the space")
    return summary


def trial_record(outdir: str | os.PathLike, number: int) -> dict:
    """The record of trial ``number`` in an exploration directory."""
    d = Path(outdir)
    doc = _manifest(d)
    trials = read_json(d / "trials.json", "trials", ModelFormatError, dict)
    for rec in trials.get("trials", []):
        if rec.get("number") == number:
            return {**rec, "_manifest": doc}
    raise ConfigError(f"{d}: no trial {number} (trials.json holds {len(trials.get('trials', []))})")


def parse_trial_ref(ref: str) -> tuple[Path, int]:
    """``DIR/ID`` -> (DIR, ID)."""
    head, _, tail = str(ref).rstrip("/").rpartition("/")
    if not head or not tail.isdigit():
        raise ConfigError(f"--from-trial {ref!r}: expected DIR/ID (an exploration directory and a trial number)")
    return Path(head), int(tail)


def rebuild_trial(model: Any, ref: str) -> tuple[CompileConfig, np.ndarray, dict]:
    """(config, calibration inputs, record) that rebuild trial ``DIR/ID`` of MODEL's exploration
    (refused when MODEL is not the explored model, or the trial failed)."""
    d, number = parse_trial_ref(ref)
    rec = trial_record(d, number)
    m = load_model(model)
    calib = load_npy(d / "calibration.npy", "calibration inputs", ModelFormatError)
    if fingerprint(m, calib) != rec["_manifest"]["fingerprint"]:
        raise ConfigError(f"--from-trial {ref}: MODEL is not the model {d} explored")
    if rec.get("state") != "ok":
        raise ConfigError(f"--from-trial {ref}: trial {number} failed ({rec.get('error')}); nothing to rebuild")
    return config_from_dict(rec["config"]), calib, {k: v for k, v in rec.items() if k != "_manifest"}
