"""``scc explore MODEL --space SPACE.yaml --data VAL.npz -o DIR``: search the compiler's config
space with Optuna, trials on Dask distributed, against the k-bit fixed-point baselines; writes DIR
(study.db, trials.csv/json, pareto.json, plots/, report.md).  Mirrors
:func:`sccompiler.explore.explore` (docs/explore.md)."""

from __future__ import annotations

import sys

import click

from .common import echo_json


@click.command("explore")
@click.argument("model", type=click.Path(exists=True, dir_okay=True))
@click.option("--space", "space", required=True, type=click.Path(dir_okay=False),
              help="SPACE.yaml: params (config keys and their values), objectives, constraints, sampler")
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False),
              help="VAL.npz: x (batch, time, features) and optionally y (the task metric's targets)")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(), help="exploration directory DIR")
@click.option("--trials", type=click.IntRange(1), default=None, help="total trials (overrides the space's)")
@click.option("--sampler", type=click.Choice(["grid", "tpe", "nsga2"]), default=None,
              help="Optuna sampler (overrides the space's)")
@click.option("--seed", type=click.IntRange(0), default=None, help="sampler seed (overrides the space's)")
@click.option("--metric", type=click.Choice(["accuracy", "step_accuracy", "bpc", "mse"]), default=None,
              help="task metric of y (default: inferred from y's shape and dtype)")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="worker processes of an embedded Dask LocalCluster (default: the cores; 1: in-process)")
@click.option("--scheduler", default=None, help="address of an existing Dask scheduler (instead of a LocalCluster)")
@click.option("--resume", is_flag=True, help="continue the study in an existing DIR (no trial runs twice)")
@click.option("--force", is_flag=True, help="replace an existing DIR")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def explore_cmd(model: str, space: str, data: str, outdir: str, trials: int | None, sampler: str | None,
                seed: int | None, metric: str | None, workers: int | None, scheduler: str | None, resume: bool,
                force: bool, as_json: bool) -> None:
    """Explore MODEL's SC design space on VAL.npz into DIR, against fixed point."""
    from ..errors import MissingDependencyError  # noqa: PLC0415

    try:
        from ..explore import explore  # noqa: PLC0415
    except ImportError as exc:
        raise MissingDependencyError(f"scc explore needs the explore extra ({exc.name}): "
                                     "pip install 'sccompiler[explore]'") from None
    summary = explore(model, space, data, outdir, workers=workers, scheduler=scheduler, resume=resume, force=force,
                      trials=trials, sampler=sampler, seed=seed, metric=metric,
                      progress=not as_json and sys.stderr.isatty())
    if as_json:
        echo_json(summary)
        return
    click.echo(f"explored {summary['trials']} trials ({summary['ok']} measured, {summary['failed']} failed, "
               f"{summary['duplicates']} repeated proposals) -> {outdir}; Pareto set: "
               f"{', '.join(map(str, summary['pareto'])) or 'empty'}")
    wins = [f"{cost} {w['factor']:.3g}x (trial {w['trial']} vs {w['baseline']})"
            for cost, w in summary["best_win"].items() if w is not None]
    click.echo("SC beats fixed point: " + ", ".join(wins) if wins else
               "no SC design beats fixed point on this model and data")
    click.echo(f"see {outdir}/report.md")
