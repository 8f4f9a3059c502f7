"""``scc quantize``: quantize a model's weights with one of the docs/background.md §4 schemes and save it in the
native format (mirrors :func:`sccompiler.quantize.quantize_model`)."""

from __future__ import annotations

import click

from ..errors import ConfigError
from ..quantize.schemes import INT_MAX_BITS, INT_MIN_BITS, SCHEMES, scheme_names
from .common import echo_json
from .metrics_report import fmt_metric, load_targets, metric_options

_SCHEME_HELP = (f"quantization scheme: {', '.join(scheme_names())} "
                f"(K = {INT_MIN_BITS}..{INT_MAX_BITS} bits)")
#: the registry, listed under --help
_EPILOG = "\b\nSchemes:\n" + "\n".join(
    f"  {name:<13} {s.description}" for name, s in zip(scheme_names(), SCHEMES.values()))


def _format_levels(row: dict) -> str:
    if row["n_levels"] is None:
        return "float"
    if row["levels"] is not None:
        return "{" + ", ".join(f"{v:.6g}" for v in row["levels"]) + "}"
    return f"{row['n_levels']} levels ({row['n_used']} used)"


@click.command("quantize", epilog=_EPILOG)
@click.argument("model", type=click.Path(dir_okay=True))
@click.option("--scheme", required=True, help=_SCHEME_HELP)
@click.option("--stochastic", is_flag=True, help="stochastic rounding (needs a scheme that has it)")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="seed of the stochastic rounding (drawn and recorded if omitted)")
@click.option("--include-embeddings", is_flag=True, help="also quantize embedding tables")
@click.option("--requantize", is_flag=True,
              help="quantize tensors that are already quantized again (default: they are kept, only float ones change)")
@click.option("--search-scale", "search", is_flag=True,
              help="post-training scale search (binary/ternary/ott-ternary, needs --calibration): try W0 x "
                   "0.25..8 and keep the best task metric (--targets) or the smallest output error")
@click.option("--layers", "layers", default=None, metavar="NAME[,NAME...]",
              help="quantize only these layers (default: all; see `scc inspect MODEL` for the names)")
@click.option("-o", "--output", "output", required=True, type=click.Path(),
              help="output model (native format)")
@click.option("--force", is_flag=True, help="overwrite OUTPUT if it exists")
@click.option("--calibration", "calibration", type=click.Path(exists=True, dir_okay=False), default=None,
              help=".npy inputs (B, T, F) or token ids (B, T): report the output error the quantization causes")
@metric_options(".npy targets of --calibration (labels or values): report the task metric before and after")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def quantize_cmd(model: str, scheme: str, stochastic: bool, seed: int | None,
                 include_embeddings: bool, requantize: bool, search: bool, layers: str | None, output: str,
                 force: bool,
                 calibration: str | None, targets: str | None, metric: str | None, as_json: bool) -> None:
    """Quantize MODEL's weight matrices and write the result to OUTPUT.

    With --calibration (and --targets) it also reports what the quantization does to the outputs
    (and to the task metric), and warns when the model collapses."""
    from ..frontends import load_model  # noqa: PLC0415 - frontends load only when a verb runs
    from ..frontends.native import save_model  # noqa: PLC0415
    from ..io import check_writable  # noqa: PLC0415
    from ..quantize import parse_scheme, quantization_summary, quantize_model  # noqa: PLC0415

    parse_scheme(scheme)  # fail on a bad scheme before loading anything
    if seed is not None and not stochastic:
        raise ConfigError("--seed only applies with --stochastic")
    check_writable(output, force)
    y = load_targets(targets, metric)
    if y is not None and calibration is None:
        raise ConfigError("--targets needs --calibration (the inputs the targets belong to)")
    from .compile_cmd import load_inputs  # noqa: PLC0415

    x = load_inputs(calibration, "--calibration") if calibration else None
    which = ("weights", "embeddings") if include_embeddings else ("weights",)
    source = load_model(model)
    chosen = None if layers is None else [n.strip() for n in layers.split(",") if n.strip()]
    options = dict(stochastic=stochastic, seed=seed, which=which, requantize=requantize, layers=chosen)
    search_result = None
    if search:
        from ..evaluation import search_scale  # noqa: PLC0415

        if x is None:
            raise ConfigError("--search-scale needs --calibration (the inputs the scale is chosen on)")
        if not parse_scheme(scheme)[0].uses_fan:
            raise ConfigError(f"--search-scale: scheme {scheme!r} has no fan-based scale W0 to search "
                              "(binary, ternary and ott-ternary have)")
        search_result = search_scale(source, scheme, x, targets=y, metric=metric, **options)
    quantized = quantize_model(source, scheme, scale_factor=search_result["best"] if search_result else 1.0,
                               **options)
    effect = None
    if x is not None:
        from ..evaluation import quantization_effect  # noqa: PLC0415

        effect = quantization_effect(source, quantized, x, targets=y, metric=metric)
    save_model(quantized, output, force=force)
    rows = quantization_summary(quantized)
    record = quantized.metadata["quantization"]
    if as_json:
        echo_json({"model": str(model), "output": str(output), **record, "tensors": rows,
                   **({"effect": effect} if effect is not None else {}),
                   **({"scale_search": search_result} if search_result is not None else {})})
        if effect is not None and effect["collapsed"]:
            click.echo(f"warning: {collapse_message(scheme, effect)}", err=True)
        return
    how = "stochastic" if stochastic else "deterministic"
    seed_txt = f", seed {record['seed']}" if stochastic else ""
    click.echo(f"quantized {model} with {scheme} ({how}{seed_txt}) -> {output}")
    if search_result is not None:
        crit = search_result["criterion"]
        cells = ", ".join(f"{r['factor']:g}: {r['metric'] if r['metric'] is not None else r['error']:.4g}"
                          for r in search_result["rows"])
        click.echo(f"scale search ({crit} on the calibration set, W0 x factor): {cells}; "
                   f"chosen W0 x {search_result['best']:g}")
    if record["kept"]:
        click.echo(f"kept as quantized before (pass --requantize to change them): {', '.join(record['kept'])}")
    names = [f"{row['layer']}.{row['tensor']}" for row in rows]
    width = max(map(len, names), default=0)
    for name, row in zip(names, rows):
        shape = "x".join(str(d) for d in row["shape"])
        scale = "-" if row["scale"] is None or row["scheme"] == "float" else f"{row['scale']:.6g}"
        bits = "-" if row["scheme"] == "float" else row["bits"]
        click.echo(f"  {name:<{width}}  {shape:>9}  {row['scheme']:<12}  levels {_format_levels(row):<24}"
                   f"  scale {scale:<11}  bits {bits}")
    if effect is not None:
        echo_effect(scheme, effect)


def collapse_message(scheme: str, effect: dict) -> str:
    from .train_cmd import TRAIN_SCHEMES  # noqa: PLC0415

    trained = scheme if scheme in TRAIN_SCHEMES else "ternary"
    return (f"QUANTIZATION COLLAPSED: {scheme} post-training quantization ruins the model ({effect['reason']}); "
            f"train it with quantization in the loop instead: scc train --data DATA.npz --scheme {trained} "
            "(docs/training.md), or try a scheme with more levels")


def echo_effect(scheme: str, effect: dict) -> None:
    e = effect["error"]
    click.echo(f"on {effect['sequences']} calibration sequence(s): |quantized - float| mean {e['mean_abs']:.4g}, "
               f"max {e['max_abs']:.4g} ({e['relative']:.1%} of the mean |float output|)")
    if effect["metric"]:
        click.echo(f"{effect['metric']} (95% interval): float {fmt_metric(effect['float'])} -> "
                   f"quantized {fmt_metric(effect['quantized'])}")
    if effect["collapsed"]:
        click.echo(f"warning: {collapse_message(scheme, effect)}", err=True)
