"""``scc convert``: import a model (ONNX, PyTorch state_dict, native) and write it in the native
format, so later steps need neither torch nor onnx (mirrors :func:`sccompiler.frontends.save_model`)."""

from __future__ import annotations

import click

from .common import echo_json


@click.command("convert")
@click.argument("model", type=click.Path(dir_okay=True))
@click.option("-o", "--output", "output", required=True, type=click.Path(), help="output directory (native format)")
@click.option("--force", is_flag=True, help="overwrite OUTPUT if it exists")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torch", "native"]), default=None,
              help="input format (default: from the extension)")
@click.option("--input-kind", type=click.Choice(["features", "tokens"]), default=None,
              help="override the inferred input kind")
@click.option("--input-size", type=click.IntRange(min=1), default=None,
              help="override the inferred input size (features, or vocabulary for tokens)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def convert_cmd(model: str, output: str, force: bool, fmt: str | None, input_kind: str | None,
                input_size: int | None, as_json: bool) -> None:
    """Convert MODEL to the native format in OUTPUT."""
    from ..frontends import load_model, save_model  # noqa: PLC0415 - frontends load only when a verb runs
    from ..io import check_writable  # noqa: PLC0415

    check_writable(output, force)  # fail before the (possibly slow) import
    loaded = load_model(model, format=fmt, input_kind=input_kind, input_size=input_size)
    save_model(loaded, output, force=force)
    summary = {"model": str(model), "output": str(output), "name": loaded.name,
               "layers": [{"name": lay.name, "kind": lay.kind} for lay in loaded.layers],
               "params": loaded.param_count()}
    if as_json:
        echo_json(summary)
    else:
        kinds = ", ".join(lay.kind for lay in loaded.layers)
        click.echo(f"converted {model} -> {output}: {len(loaded.layers)} layers ({kinds}), "
                   f"{summary['params']} parameters")
