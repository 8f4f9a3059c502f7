"""``scc cost``: hardware cost of the SC reference datapath for a model against a k-bit fixed-point
and a binary/ternary-weight accumulate-only baseline, with baseline/SC ratios (mirrors
:func:`sccompiler.cost.cost_model`).

MODEL may also be a compiled OUTDIR (``scc compile``): its netlist inventory is costed instead of
the analytic reference datapath; --steps and --bits apply, --length, --weights and --format were
fixed when it was compiled and are refused rather than ignored.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from .common import bits_option, echo_json

_FORMATS = click.Choice(["onnx", "torch", "native"])


def _load_model(path: str, fmt: str | None):
    try:
        from ..frontends import load_model  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the frontends ship with the package
        raise ConfigError(f"model loading is not available: {exc}") from None
    return load_model(path, format=fmt)


@click.command("cost")
@click.argument("model", type=click.Path(exists=True, dir_okay=True))
@click.option("--target", "target", default="asic-generic", show_default=True, metavar="NAME|FILE",
              help="technology description: a bundled name (sccompiler/cost/targets/) or a .json file")
@click.option("--length", "length", type=click.IntRange(1), default=256, show_default=True,
              help="SC stream length L (cycles per time step)")
@bits_option("fixed-point baseline width k (and the accumulate-only baseline's activation width)")
@click.option("--steps", "steps", type=click.IntRange(1), default=1, show_default=True,
              help="time steps per inference")
@click.option("--weights", "weights", type=click.Choice(["auto", "binary", "ternary"]), default="auto",
              show_default=True, help="SC/accumulate-only weight kind (auto: from the model's quantization)")
@click.option("--format", "fmt", type=_FORMATS, default=None, help="model format (default: detected)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def cost_cmd(model: str, target: str, length: int, bits: int, steps: int, weights: str,
             fmt: str | None, as_json: bool) -> None:
    """Estimate area, energy and latency of MODEL as SC hardware vs fixed-point baselines."""
    from ..cost import cost_model, to_markdown, weight_kind  # noqa: PLC0415

    p = Path(model)
    # --- compiled OUTDIR (sccompiler.design): cost the netlist's own inventory -----------------
    if p.is_dir() and (p / "design.json").exists():
        from ..cost.netlist_cost import cost_report  # noqa: PLC0415
        from ..design import CompiledDesign  # noqa: PLC0415

        ctx = click.get_current_context()
        given = [f"--{name}" for name in ("length", "weights", "fmt")
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise ConfigError(f"{', '.join(given).replace('--fmt', '--format')} cannot change a compiled design "
                              f"({model}): its stream lengths and weights were fixed by scc compile; recompile "
                              "(scc compile MODEL --length L -o DIR) or cost the model file itself")
        design = CompiledDesign.load(p)
        result = cost_report(design.netlist, design.model, design.config.replace(cost_target=target, cost_bits=bits),
                             steps=steps)
        result["model"] = {"name": design.model.name, "path": str(model), "compiled": True}
        if as_json:
            echo_json(result)
            return
        click.echo(f"Compiled design {model!r} (netlist inventory), L per layer: {design.lengths}, {steps} step(s); "
                   f"folded baselines at P={result['equal_latency_parallelism']} (equal latency)")
        click.echo(to_markdown(result), nl=False)
        return
    # --- end compiled OUTDIR --------------------------------------------------------------------
    ir = _load_model(model, fmt)
    kind = weight_kind(ir) if weights == "auto" else weights
    result = cost_model(ir, length=length, bits=bits, target=target, steps=steps, weights=kind)
    skipped = [lay.name for lay in ir.layers if lay.kind not in ("lstm", "gru")]
    result["model"] = {"name": ir.name, "path": str(model), "not_costed": skipped}
    if as_json:
        echo_json(result)
        return
    shapes = ", ".join(f"{s['cell']} {s['input_size']}x{s['hidden_size']}" for s in result["layers"])
    click.echo(f"Model {ir.name!r}: {shapes}; "
               f"{kind} weights, L={length}, baseline k={bits}, "
               f"folded baselines at P={result['equal_latency_parallelism']} "
               "(equal latency)")
    if skipped:
        click.echo(f"Not costed (non-recurrent layers): {', '.join(skipped)}")
    click.echo(f"The SC row is the paper's analytic reference datapath, not a compiled netlist: `scc compile "
               f"{model} -o OUTDIR` then `scc cost OUTDIR` costs the design the compiler emits.")
    click.echo(to_markdown(result), nl=False)
    click.echo("Generic estimates (docs/cost-model.md): compare designs, not absolute silicon figures.")
