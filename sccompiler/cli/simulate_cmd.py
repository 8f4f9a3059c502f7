"""``scc simulate``: cycle-accurate simulation of a compiled design (OUTDIR) or of a model compiled
on the fly with the default config; prints the deviation from the quantized reference.
Mirrors :meth:`sccompiler.design.CompiledDesign.simulate`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .common import echo_json
from .compile_cmd import load_inputs


@click.command("simulate")
@click.argument("source", type=click.Path(exists=True, dir_okay=True), metavar="MODEL|OUTDIR")
@click.option("--inputs", "inputs", required=True, type=click.Path(exists=True, dir_okay=False),
              help=".npy inputs (B, T, F) or token ids (B, T)")
@click.option("--length", "length", type=click.IntRange(1), default=None, help="override the stream length L")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="compiler config when MODEL is a model file")
@click.option("--save", "save", type=click.Path(dir_okay=False), default=None, help="write the outputs to a .npy file")
@click.option("--force", is_flag=True, help="overwrite --save's file")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output (includes the outputs)")
@click.option("--workers", "workers", type=click.IntRange(1), default=1, show_default=True,
              help="threads simulating the batch")
@click.option("--engine", "engine", type=click.Choice(["packed", "reference"]), default="packed", show_default=True,
              help="packed runtime (fast) or the reference runtime (the oracle; bit-identical results)")
def simulate_cmd(source: str, inputs: str, length: int | None, config_path: str | None, save: str | None,
                 force: bool, as_json: bool, workers: int, engine: str) -> None:
    """Simulate MODEL|OUTDIR on --inputs, cycle-accurately."""
    import numpy as np  # noqa: PLC0415

    from ..config import load_config  # noqa: PLC0415
    from ..design import CompiledDesign, compile_model  # noqa: PLC0415
    from ..io import atomic_file, check_writable  # noqa: PLC0415
    from ..reference import forward  # noqa: PLC0415

    if save:
        check_writable(save, force)
    x = load_inputs(inputs)
    p = Path(source)
    if p.is_dir() and (p / "design.json").exists():
        design = CompiledDesign.load(p)
    else:
        design = compile_model(source, load_config(config_path, length=length))
    from rich.progress import Progress  # noqa: PLC0415

    start = time.perf_counter()
    with Progress(transient=True, disable=as_json) as prog:
        task = prog.add_task("simulating layers", total=len(design.netlist.layers))
        out = design.simulate(x, length=length, progress=lambda k: prog.advance(task, k), engine=engine,
                              workers=workers)
    seconds = time.perf_counter() - start
    ref = forward(design.model, x)
    diff = np.abs(out - ref)
    if save:
        with atomic_file(save, force=force, mode="wb") as fh:
            np.save(fh, out)
    result = {"source": source, "shape": list(out.shape), "engine": engine, "workers": workers,
              "lengths": design.lengths if length is None else
              {k: length for k in design.lengths}, "seconds": seconds,
              "error_vs_quantized_reference": {"mean_abs": float(diff.mean()), "max_abs": float(diff.max())}}
    if as_json:
        echo_json(result | {"output": out})
        return
    click.echo(f"simulated {x.shape[0]} sequence(s) x {x.shape[1]} step(s) in {seconds:.2f} s, L = "
               f"{', '.join(f'{k}:{v}' for k, v in result['lengths'].items())}")
    click.echo(f"output {tuple(out.shape)}; |SC - quantized reference|: mean {diff.mean():.4g}, max {diff.max():.4g}")
    if save:
        click.echo(f"outputs written to {save}")
