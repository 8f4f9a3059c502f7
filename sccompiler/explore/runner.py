"""Running an exploration's trials: in-process (one worker) or on Dask distributed.

:func:`executor` opens where the trials run -- an embedded ``LocalCluster`` of N single-threaded
worker processes, an existing cluster at a scheduler address (refused with one line when it cannot
be reached), or the driver process itself for one worker -- before the output directory exists.
:func:`run_study` keeps every worker busy: it asks the study for a point, submits
:func:`~.trial.run_trial`, and tells the study each result as it arrives.  FSM syntheses are
shared through the on-disk FSM cache (:mod:`sccompiler.fsm.cache`, which every worker on the
machine reads and writes); a point the study proposes again is answered from its first run,
never run twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from typing import Any, Callable, Iterator, Sequence

import optuna

from ..errors import ConfigError
from .objectives import Constraint, Objective, feasible
from .space import Space
from .study import RECORD_ATTR, distributions, finished, tell
from .trial import TrialContext, one_line, run_trial

#: seconds to wait for an existing scheduler
CONNECT_TIMEOUT = 10


class _Done:
    """A finished in-process trial (hashable by identity, like a Dask future)."""

    def __init__(self, record: dict) -> None:
        self.record = record


class InProcess:
    """The executor of one worker: trials run in the driver, one at a time."""

    slots = 1

    def scatter(self, ctx: TrialContext):
        return ctx

    def submit(self, ctx, number: int, params: dict, config: dict) -> _Done:
        return _Done(run_trial(ctx, number, params, config))

    def wait(self, pending: dict) -> list:
        return list(pending)

    @staticmethod
    def result(fut: _Done) -> dict:
        return fut.record


class DaskExecutor:
    """Trials as tasks on a Dask distributed client (one slot per worker thread)."""

    def __init__(self, client) -> None:
        self.client = client
        self.slots = max(1, sum(client.nthreads().values()))

    def scatter(self, ctx: TrialContext):
        return self.client.scatter(ctx, broadcast=True, hash=False)

    def submit(self, ctx, number: int, params: dict, config: dict):
        return self.client.submit(run_trial, ctx, number, params, config, pure=False, key=f"trial-{number}")

    def wait(self, pending: dict) -> list:
        from distributed import wait  # noqa: PLC0415 - dask is imported only when trials run on it

        done, _ = wait(list(pending), return_when="FIRST_COMPLETED")
        return list(done)

    @staticmethod
    def result(fut) -> dict:
        return fut.result()


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@contextlib.contextmanager
def executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[InProcess | DaskExecutor]:
    """Where the trials run (see the module docstring)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers: must be an integer >= 1, got {workers!r}")
    if scheduler is None and (workers or default_workers()) == 1:
        yield InProcess()
        return
    try:
        from distributed import Client, LocalCluster  # noqa: PLC0415 - the explore extra
    except ImportError:
        from ..errors import MissingDependencyError  # noqa: PLC0415

        raise MissingDependencyError("dask distributed is needed for more than one worker: "
                                     "pip install 'sccompiler[explore]' (or use --workers 1)") from None
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({one_line(exc)})") from None
        with client:
            if not client.nthreads():
                raise ConfigError(f"--scheduler {scheduler}: the cluster has no workers")
            yield DaskExecutor(client)
        return
    with LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield DaskExecutor(client)


def params_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def best_text(records: Sequence[dict], objectives: Sequence[Objective], constraints: Sequence[Constraint]) -> str:
    """'best error 0.12' over the feasible ok records (first objective), or '-'."""
    o = objectives[0]
    vals = [r["values"][o.name] for r in records
            if r["state"] == "ok" and o.name in r["values"] and feasible(r["values"], constraints)]
    if not vals:
        return "best -"
    best = min(vals) if o.direction == "minimize" else max(vals)
    return f"best {o.name} {best:.4g}"


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int, str], None]]:
    """A rich bar (stderr): trials done / total, best so far, ETA; a no-op when disabled."""
    if not enabled:
        yield lambda done, best: None
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

    with Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[best]}"),
                  TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("explore", total=total, best="best -")
        yield lambda done, best: bar.update(task, completed=done, best=best)


def _duplicate(first: dict, number: int) -> dict:
    return {**first, "number": number, "duplicate_of": first.get("duplicate_of", first["number"])}


def run_study(study: optuna.Study, space: Space, objectives: Sequence[Objective], ctx: TrialContext,
              ex: InProcess | DaskExecutor, *, todo: int, progress: bool = False) -> tuple[list[dict], float]:
    """Run ``todo`` more trials of ``study`` on ``ex``; returns (this run's records, seconds)."""
    dists = distributions(space)
    memo: dict[str, dict] = {params_key(t.params): t.user_attrs[RECORD_ATTR] for t in finished(study)}
    seen = [t.user_attrs[RECORD_ATTR] for t in finished(study)]
    ctx_ref = ex.scatter(ctx)
    pending: dict[Any, optuna.trial.Trial] = {}
    waiting: dict[str, list[optuna.trial.Trial]] = {}   # proposed again while the first still runs
    records: list[dict] = []
    asked = 0
    start = time.perf_counter()

    def finish(trial, rec: dict) -> None:
        tell(study, trial, rec, objectives, space.constraints)
        records.append(rec)
        update(len(records), best_text(seen + records, objectives, space.constraints))

    with progress_bar(progress, todo) as update:
        while len(records) < todo:
            while len(pending) < ex.slots and asked < todo:
                trial = study.ask(dists)
                asked += 1
                key = params_key(trial.params)
                if key in memo:            # proposed again: answered from its first run
                    finish(trial, _duplicate(memo[key], trial.number))
                elif key in waiting:
                    waiting[key].append(trial)
                else:
                    waiting[key] = []
                    fut = ex.submit(ctx_ref, trial.number, dict(trial.params), space.config_dict(trial.params))
                    pending[fut] = trial
            if not pending:
                continue
            for fut in ex.wait(pending):
                trial = pending.pop(fut)
                try:
                    rec = ex.result(fut)
                except Exception as exc:  # noqa: BLE001 - a lost worker fails its trial, not the study
                    rec = {"number": trial.number, "params": dict(trial.params),
                           "config": space.config_dict(trial.params), "state": "failed",
                           "error": f"worker: {one_line(exc)}", "values": {}, "lengths": {}, "seconds": math.nan}
                key = params_key(trial.params)
                memo[key] = rec
                finish(trial, rec)
                for dup in waiting.pop(key, []):
                    finish(dup, _duplicate(rec, dup.number))
    return records, time.perf_counter() - start
