"""The ``--error-budget`` report section shared by ``scc compile`` (on --calibration) and
``scc simulate`` (on --inputs): :meth:`sccompiler.design.CompiledDesign.error_budget`, its table
(or JSON), and an optional stacked-bar plot."""

from __future__ import annotations

import click

from ..errors import ConfigError


def budget_options(f):
    """--error-budget, --budget-sequences, --budget-plot (and --budget-length where ``lengths``)."""
    f = click.option("--budget-plot", "budget_plot", type=click.Path(dir_okay=False), default=None,
                     help="with --error-budget: write the budget as stacked bars per L (PNG; --force overwrites)")(f)
    f = click.option("--budget-sequences", "budget_sequences", type=click.IntRange(1), default=None,
                     help="with --error-budget: use the first N sequences only (the budget runs ~30 simulations "
                          "per L through the slow mixed runtime)")(f)
    f = click.option("--error-budget", "error_budget", is_flag=True,
                     help="add the error budget: the share of the output error of each class of stochastic "
                          "element, per layer and per L (docs/compiler.md, Error budget)")(f)
    return f


def check_budget_options(error_budget: bool, budget_plot: str | None, budget_sequences: int | None,
                         force: bool) -> None:
    """Refuse budget options without --error-budget, and an existing plot file without --force."""
    if not error_budget and (budget_plot or budget_sequences):
        raise ConfigError("--budget-plot and --budget-sequences need --error-budget")
    if budget_plot:
        from ..io import check_writable  # noqa: PLC0415

        check_writable(budget_plot, force)


def run_budget(design, x, lengths, *, sequences: int | None, plot: str | None, force: bool, quiet: bool):
    """The :class:`~sccompiler.analysis.error_budget.ErrorBudget` of ``design`` on ``x`` (the
    first ``sequences``) at ``lengths`` (empty: the design's L); the plot written."""
    from rich.progress import Progress  # noqa: PLC0415

    from ..analysis.error_budget import budget_runs, write_budget_plot  # noqa: PLC0415
    from ..reference import check_input  # noqa: PLC0415

    xs = check_input(design.model, x)
    xs = xs[:sequences] if sequences else xs
    todo = list(lengths) if lengths else None
    with Progress(transient=True, disable=quiet) as prog:
        task = prog.add_task("error budget", total=budget_runs(design) * (len(todo) if todo else 1))
        budget = design.error_budget(xs, lengths=todo, progress=lambda k: prog.advance(task, k))
    if plot:
        write_budget_plot(budget, plot, force=force)
    return budget


def echo_budget(budget, plot: str | None) -> None:
    """The budget's tables (against the design reference and the quantized model)."""
    from ..analysis.error_budget import budget_table  # noqa: PLC0415

    click.echo(f"\nerror budget on {budget.shape[0]} sequence(s), MSE of the outputs (all-but-one = MSE(full) - "
               "MSE(class exact); only-one = MSE(only the class stochastic) - MSE(all exact))")
    click.echo(budget_table(budget, "golden"))
    click.echo(budget_table(budget, "quantized"))
    if plot:
        click.echo(f"error budget plot written to {plot}")
