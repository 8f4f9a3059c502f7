"""``scc quantize``: quantize a model's weights with one of the docs/background.md §4 schemes and save it in the
native format (mirrors :func:`sccompiler.quantize.quantize_model`)."""

from __future__ import annotations

import click

from ..errors import ConfigError
from ..quantize.schemes import INT_MAX_BITS, INT_MIN_BITS, SCHEMES, scheme_names
from .common import echo_json

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
@click.option("--requantize", is_flag=True, help="quantize tensors that are already quantized again")
@click.option("-o", "--output", "output", required=True, type=click.Path(),
              help="output model (native format)")
@click.option("--force", is_flag=True, help="overwrite OUTPUT if it exists")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def quantize_cmd(model: str, scheme: str, stochastic: bool, seed: int | None,
                 include_embeddings: bool, requantize: bool, output: str, force: bool,
                 as_json: bool) -> None:
    """Quantize MODEL's weight matrices and write the result to OUTPUT."""
    from ..frontends import load_model  # noqa: PLC0415 - frontends load only when a verb runs
    from ..frontends.native import save_model  # noqa: PLC0415
    from ..io import check_writable  # noqa: PLC0415
    from ..quantize import parse_scheme, quantization_summary, quantize_model  # noqa: PLC0415

    parse_scheme(scheme)  # fail on a bad scheme before loading anything
    if seed is not None and not stochastic:
        raise ConfigError("--seed only applies with --stochastic")
    check_writable(output, force)
    which = ("weights", "embeddings") if include_embeddings else ("weights",)
    quantized = quantize_model(load_model(model), scheme, stochastic=stochastic, seed=seed,
                               which=which, requantize=requantize)
    save_model(quantized, output, force=force)
    rows = quantization_summary(quantized)
    record = quantized.metadata["quantization"]
    if as_json:
        echo_json({"model": str(model), "output": str(output), **record, "tensors": rows})
        return
    how = "stochastic" if stochastic else "deterministic"
    seed_txt = f", seed {record['seed']}" if stochastic else ""
    click.echo(f"quantized {model} with {scheme} ({how}{seed_txt}) -> {output}")
    names = [f"{row['layer']}.{row['tensor']}" for row in rows]
    width = max(map(len, names), default=0)
    for name, row in zip(names, rows):
        shape = "x".join(str(d) for d in row["shape"])
        scale = "-" if row["scale"] is None or row["scheme"] == "float" else f"{row['scale']:.6g}"
        bits = "-" if row["scheme"] == "float" else row["bits"]
        click.echo(f"  {name:<{width}}  {shape:>9}  {row['scheme']:<12}  levels {_format_levels(row):<24}"
                   f"  scale {scale:<11}  bits {bits}")
