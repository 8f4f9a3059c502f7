"""``scc inspect``: layers, shapes, quantization and memory of a model (mirrors
:func:`sccompiler.inspect.inspect_model`)."""

from __future__ import annotations

import click

from .common import echo_json

_FORMATS = click.Choice(["onnx", "torch", "native"])


def _levels_text(t: dict) -> str:
    """The level set in units of the scale s when they are integers ({-1,0,1}), else as values."""
    levels, scale = t["levels"], t["scale"]
    if levels is not None:
        if scale and all(abs(v / scale - round(v / scale)) < 1e-9 for v in levels):
            return "{" + ",".join(str(int(round(v / scale))) for v in levels) + "}"
        return "{" + ",".join(f"{v:.4g}" for v in levels) + "}"
    return "-" if t["levels_count"] is None else f"{t['levels_count']} levels"


def _bytes(bits: int) -> str:
    nbytes = bits / 8
    return f"{nbytes:.0f} B" if nbytes < 1024 else f"{nbytes / 1024:.1f} KiB"


def render_table(info: dict) -> None:
    """Print ``inspect_model``'s result as a rich table."""
    from rich.console import Console  # noqa: PLC0415 - rich loads only for human output
    from rich.table import Table  # noqa: PLC0415

    inp = info["input"]
    table = Table(title=f"{info['name']}  (input: {inp['kind']}, size {inp['size']})")
    for col, justify in (("layer", "left"), ("tensor", "left"), ("shape", "right"), ("scheme", "left"),
                         ("bits", "right"), ("scale s", "right"), ("levels/s", "left"), ("memory", "right")):
        # only the level sets may fold: names and numbers must stay readable in 80 columns
        table.add_column(col, justify=justify, overflow="fold", no_wrap=col != "levels")
    for n, layer in enumerate(info["layers"]):
        if n:
            table.add_section()
        # the layer's name on its first row, its kind on the second: no wrapping of either
        heads = [layer["name"], f"({layer['kind']})"]
        rows = layer["tensors"] or [None]
        for k, t in enumerate(rows):
            first = heads[k] if k < len(heads) else ""
            if t is None:
                table.add_row(first, "-", "", "", "", "", "", _bytes(layer["memory_bits"]))
                continue
            scale = "-" if t["scale"] is None else f"{t['scale']:.4g}"
            table.add_row(first, t["name"], "x".join(map(str, t["shape"])), t["scheme"], str(t["bits"]),
                          scale, _levels_text(t), _bytes(t["memory_bits"]))
        for j, b in enumerate(layer["batchnorms"], start=len(rows)):
            steps = f"{b['steps']}x" if b["per_step"] else ""
            table.add_row(heads[j] if j < len(heads) else "", f"bn:{b['name']}", f"4x{steps}{b['features']}",
                          "float", "32", "-", "-", _bytes(b["memory_bits"]))
    console = Console()
    console.print(table)
    tot = info["totals"]
    ratio = "n/a" if tot["memory_ratio"] is None else f"{tot['memory_ratio']:.2f}x"
    console.print(f"{tot['layers']} layers, {tot['params']} parameters ({tot['quantized_params']} quantized); "
                  f"memory {_bytes(tot['memory_bits'])} vs {_bytes(tot['float32_bits'])} as float32 "
                  f"({ratio} saving)", highlight=False)


@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=True))
@click.option("--format", "fmt", type=_FORMATS, default=None, help="model format (default: from the extension)")
@click.option("--json", "as_json", is_flag=True, help="print the description as JSON")
def inspect_cmd(model: str, fmt: str | None, as_json: bool) -> None:
    """Describe MODEL: layers, shapes, parameter counts, quantization and memory."""
    from ..frontends import load_model  # noqa: PLC0415 - frontends load only when a verb runs
    from ..inspect import inspect_model  # noqa: PLC0415

    info = inspect_model(load_model(model, format=fmt))
    if as_json:
        echo_json(info)
    else:
        render_table(info)
