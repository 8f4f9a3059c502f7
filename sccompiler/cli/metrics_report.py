"""The task-metric options shared by ``scc simulate``, ``scc quantize`` and ``scc compile``
(``--targets``, ``--metric``) and how their results print (:mod:`sccompiler.evaluation`)."""

from __future__ import annotations

from typing import Callable, Mapping

import click

from ..evaluation import CLI_METRICS

METRIC_HELP = ("task metric of --targets: " + ", ".join(CLI_METRICS) +
               " (default: from the targets' shape and type: labels (B,) accuracy, labels (B, T) "
               "bpc for token models else step-accuracy, real targets shaped like the outputs mse)")


def metric_options(targets_help: str) -> Callable:
    """``--targets Y.npy`` and ``--metric NAME``."""
    def wrap(f: Callable) -> Callable:
        f = click.option("--metric", "metric", type=click.Choice(sorted(CLI_METRICS) + ["step_accuracy"]),
                         default=None, help=METRIC_HELP)(f)
        return click.option("--targets", "targets", type=click.Path(exists=True, dir_okay=False), default=None,
                            help=targets_help)(f)
    return wrap


def load_targets(path: str | None, metric: str | None):
    """The --targets array (or None); --metric without --targets is refused."""
    from ..errors import ConfigError  # noqa: PLC0415
    from ..io import load_npy  # noqa: PLC0415

    if path is None:
        if metric is not None:
            raise ConfigError("--metric needs --targets (the labels or values to score the outputs against)")
        return None
    return load_npy(path, "--targets", ConfigError)


def fmt_metric(entry: Mapping | None) -> str:
    """``0.984 [0.917, 0.997]`` (value and confidence interval)."""
    if not entry or entry.get("value") is None:
        return "-"
    lo, hi = entry["ci"]
    return f"{entry['value']:.4g} [{lo:.4g}, {hi:.4g}]"


def echo_metric_table(rows: list[tuple[str, Mapping | None]], metric: str, sequences: int, confidence: float,
                      echo: Callable[[str], None] = click.echo) -> None:
    """One line per model: float, quantized, SC per L."""
    echo(f"{metric} on {sequences} sequence(s) ({confidence:.0%} interval):")
    width = max(len(label) for label, _ in rows)
    for label, entry in rows:
        extra = ""
        if entry is not None and entry.get("error_vs_quantized"):
            extra = f"   |SC - quantized| mean {entry['error_vs_quantized']['mean_abs']:.4g}"
        echo(f"  {label:<{width}}  {fmt_metric(entry)}{extra}")
