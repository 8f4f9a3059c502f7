"""The Optuna study of an exploration: samplers, distributions, storage in DIR/study.db.

The study is driven ask-and-tell (:mod:`.runner` asks for a point, a worker runs it, the driver
tells the result), so it lives in one SQLite file written by the driver only: an interrupted run
loses at most the trials in flight, and ``--resume`` continues the same study.  Each finished
trial carries its whole record (config, measurements, error) as the user attribute ``record``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from .objectives import Constraint, Objective
from .space import Space

STUDY_NAME = "explore"
STUDY_FILE = "study.db"
#: the constraint values of a trial (Optuna's convention: <= 0 means met), read by the samplers
CONSTRAINTS_ATTR = "constraints"
RECORD_ATTR = "record"


def _constraints(trial: optuna.trial.FrozenTrial) -> Sequence[float]:
    return trial.user_attrs.get(CONSTRAINTS_ATTR, [])


def distributions(space: Space) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in space.params:
        if p.choices is not None:
            out[p.key] = CategoricalDistribution(list(p.choices))
        elif p.integer:
            out[p.key] = IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
        else:
            out[p.key] = FloatDistribution(float(p.low), float(p.high), log=p.log, step=p.step)
    return out


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its ``study.stop()`` once the grid is covered (that works
    inside ``study.optimize`` only; here the runner stops after the grid's size)."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


def make_sampler(space: Space) -> optuna.samplers.BaseSampler:
    cons = _constraints if space.constraints else None
    if space.sampler == "grid":
        return AskTellGridSampler(space.grid(), seed=space.seed)
    if space.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=space.seed, constraints_func=cons)
    return optuna.samplers.TPESampler(seed=space.seed, constraints_func=cons,
                                      multivariate=len(space.params) > 1)


def storage_url(outdir: str | Path) -> str:
    return f"sqlite:///{Path(outdir).resolve() / STUDY_FILE}"


def open_study(outdir: str | Path, space: Space, objectives: Sequence[Objective], *, create: bool) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {"study_name": STUDY_NAME, "storage": storage_url(outdir), "sampler": make_sampler(space)}
    if create:
        return optuna.create_study(directions=[o.direction for o in objectives], **kwargs)
    return optuna.load_study(**kwargs)


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that ran to the end (complete, or failed with a recorded error)."""
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.FAIL) and RECORD_ATTR in t.user_attrs]


def abandon_unfinished(study: optuna.Study) -> int:
    """Trials left running by an interrupted run are marked failed (not counted, not recorded)."""
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        study.tell(t.number, state=TrialState.FAIL)
        n += 1
    return n


def tell(study: optuna.Study, trial: optuna.trial.Trial, rec: dict, objectives: Sequence[Objective],
         constraints: Sequence[Constraint]) -> None:
    """Store ``rec`` on ``trial`` and finish it (complete with its objective values, or failed)."""
    trial.set_user_attr(RECORD_ATTR, rec)
    vals = rec.get("values") or {}
    if rec["state"] == "ok" and all(o.name in vals and math.isfinite(vals[o.name]) for o in objectives):
        trial.set_user_attr(CONSTRAINTS_ATTR, [c.violation(vals) for c in constraints])
        study.tell(trial, [vals[o.name] for o in objectives])
    else:
        if rec["state"] == "ok":
            rec["state"], rec["error"] = "failed", "an objective could not be measured"
            trial.set_user_attr(RECORD_ATTR, rec)
        study.tell(trial, state=TrialState.FAIL)
