"""Regenerate docs/results.md and docs/results_accuracy_vs_L.png from the committed example models.

Runs every example's ``evaluate.py`` (in a subprocess, with ``--json``), then writes the tables
and the plot from exactly the numbers those scripts printed; nothing in the output is typed by
hand.  Full mode evaluates the whole test sets (minutes); ``--reduced`` uses the examples' CI
sizes (few sequences) and is meant for smoke tests with ``--out-dir`` pointing elsewhere::

    python scripts/make_results.py --force                       # docs/results.md + plot
    python scripts/make_results.py --reduced --out-dir /tmp/res  # CI smoke run

Needs the data packages of the examples (see examples/*/README.md) and the ``torch`` extra only
for training, not here.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: (task, evaluate script, extra evaluate arguments in full mode)
TASKS = (
    ("quickstart", EXAMPLES / "quickstart" / "evaluate.py", []),
    ("shakespeare_char", EXAMPLES / "shakespeare_char" / "evaluate.py", []),
    ("seq_mnist", EXAMPLES / "seq_mnist" / "evaluate.py", []),
)
VARIANTS = ("float", "binary", "ternary")
PLOT_NAME = "results_accuracy_vs_L.png"


def start_task(script: Path, args: list[str], json_path: Path, log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, str(script), *args, "--json", str(json_path)]
    print("$", " ".join(str(c) for c in cmd[1:]), f"> {log_path}", flush=True)
    with open(log_path, "w") as log:  # the subprocess keeps its own descriptor
        return subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def finish_task(proc: subprocess.Popen, script: Path, json_path: Path, log_path: Path) -> dict:
    rc = proc.wait()
    print(log_path.read_text(), end="", flush=True)
    if rc != 0:
        raise SystemExit(f"error: {script.relative_to(ROOT)} failed with exit code {rc}")
    return json.loads(json_path.read_text())


def load_task_json(json_dir: Path, task: str) -> dict | None:
    """``DIR/<task>.json``, or the merge of ``DIR/<task>.<part>.json`` (e.g. one evaluation run
    per SC variant: their SC records and costs side by side; the newest file's other numbers), or
    ``None`` when there is neither."""
    whole = json_dir / f"{task}.json"
    parts = [whole] if whole.is_file() else sorted(json_dir.glob(f"{task}.*.json"), key=lambda p: p.stat().st_mtime)
    if not parts:
        return None
    runs = [json.loads(path.read_text()) for path in parts]
    merged = runs[-1]
    # variants: the union, in the order of the run that evaluated the most (newest values win)
    widest = max(runs, key=lambda r: len(r["variants"]))
    merged["variants"] = {v: next(r["variants"][v] for r in reversed(runs) if v in r["variants"])
                          for v in [*widest["variants"], *(v for r in runs for v in r["variants"])]}
    merged["sc_all"] = {k: v for r in runs for k, v in r.get("sc_all", {}).items()}
    merged["cost_all"] = {k: v for r in runs for k, v in r.get("cost_all", {}).items()}
    return merged


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _eng(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    for scale, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, "")):
        if abs(x) < scale * 1000:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


#: "equal accuracy": the SC metric within this of the fixed-point design's (metric units)
EQUAL_ACCURACY = {"bpc": 0.05}
EQUAL_ACCURACY_DEFAULT = 0.01


def _arch(rec: dict) -> str:
    a = rec.get("architecture") or {}
    return (f"{a.get('cell', '?').upper()} {a.get('num_layers', 1)}x{a.get('hidden_size', '?')}, "
            f"{a.get('input_size', '?')} in, {a.get('output_size', '?')} out") if a else "-"


def _ratios(c: dict) -> tuple[float | None, float | None, float | None]:
    """(fixed8 / SC area, fixed8 / SC energy, ternary-acc8 / SC energy) at equal latency."""
    ratios, areas = c["energy_ratio_equal_latency"], c.get("area_ratio_equal_latency", {})
    fixed = next((v for k, v in ratios.items() if k.startswith("fixed")), None)
    fixed_area = next((v for k, v in areas.items() if k.startswith("fixed")), None)
    tern = next((v for k, v in ratios.items() if "acc" in k), None)
    return fixed_area, fixed, tern


def _verdict(fixed_area: float | None, fixed: float | None) -> str:
    if fixed is None:
        return "-"
    if fixed > 1 and (fixed_area or 0) > 1:
        return "SC"
    if fixed < 1 and (fixed_area or 2) < 1:
        return "fixed8"
    return "mixed (" + ("SC" if fixed > 1 else "fixed8") + " energy, " + ("SC" if (fixed_area or 0) > 1 else "fixed8") \
        + " area)"


#: column order of the variants (the evaluate scripts' JSON has sorted keys); others after, by name
VARIANT_ORDER = ("float", "binary", "ternary", "binary-h", "gru-float", "gru-binary", "gru-ternary", "gru-binary-h")


def _variant_key(name: str) -> tuple[int, str]:
    return (VARIANT_ORDER.index(name) if name in VARIANT_ORDER else len(VARIANT_ORDER), name)


def _in_variant_order(r: dict, per_variant: dict) -> dict:
    return dict(sorted(per_variant.items(), key=lambda kv: _variant_key(kv[0])))


def _sc_all(r: dict) -> dict:
    """Every simulated variant's SC record (older JSON: only ``sc``)."""
    if r.get("sc_all"):
        return _in_variant_order(r, r["sc_all"])
    sc = r.get("sc") or {}
    return {sc["variant"]: sc} if sc.get("lengths") else {}


def _cost_all(r: dict) -> dict:
    if r.get("cost_all"):
        return _in_variant_order(r, r["cost_all"])
    sc = r.get("sc") or {}
    return {sc.get("variant", "ternary"): r["cost"]} if r.get("cost") else {}


def who_wins(task: str, r: dict) -> str:
    """One paragraph, from the numbers: per SC variant, the shortest L whose SC metric is within
    the equal-accuracy margin of the 8-bit fixed-point design's, and which design is cheaper at
    that L and equal latency."""
    lower = r["lower_is_better"]
    tol = EQUAL_ACCURACY.get(r["metric"], EQUAL_ACCURACY_DEFAULT)
    parts = []
    for v, sc in _sc_all(r).items():
        fixed = r["variants"].get(v, {}).get("fixed8")
        what = "the fixed-point design's"
        if fixed is None:  # binary-h: the digital design of the same network computes the reference
            fixed, what = r["variants"].get(v, {}).get("value"), "the quantized reference's"
        cost = _cost_all(r).get(v, {})
        if fixed is None or not sc.get("lengths"):
            continue
        vals = {int(L): x for L, x in sc["lengths"].items()}
        ok = [L for L in sorted(vals) if (vals[L] <= fixed + tol if lower else vals[L] >= fixed - tol)]
        if ok:
            L = ok[0]
            c = cost.get(str(L)) or cost.get(L)
            fa, fe, _ = _ratios(c) if c else (None, None, None)
            win = _verdict(fa, fe)
            parts.append(f"`{v}` reaches {what} {r['metric']} ({fixed:.3f}, within {tol}) at "
                         f"L = {L} ({vals[L]:.3f}); there, at equal latency, fixed8/SC energy is {_fmt(fe)} and "
                         f"area {_fmt(fa)}: **{win}** wins")
        else:
            L = max(vals)
            c = cost.get(str(L)) or cost.get(L)
            fa, fe, _ = _ratios(c) if c else (None, None, None)
            parts.append(f"`{v}` does not reach {what} {r['metric']} ({fixed:.3f}) at any "
                         f"L <= {L} (SC at L = {L}: {vals[L]:.3f}), so **fixed8** wins at equal accuracy "
                         f"(even at L = {L} and equal latency, fixed8/SC energy is {_fmt(fe)}, area {_fmt(fa)})")
    if not parts:
        return f"**Who wins ({task})**: no SC variant simulated."
    return f"**Who wins ({task})**, equal latency and equal accuracy: " + "; ".join(parts) + "."


def _same(value: float | None, sc: dict | None) -> str:
    return "-" if value is None or sc is None else f"{value:.3f} ({sc.get('samples')})"


def render_task(task: str, r: dict, lengths: list[int]) -> list[str]:
    sc_all, cost_all = _sc_all(r), _cost_all(r)
    n = max((sc.get("samples", 0) for sc in sc_all.values()), default=0)
    lines = [f"## {task}", "",
             f"{r['description']}; metric: {r['metric']}" + (" (lower is better)" if r["lower_is_better"] else "")
             + f"; trivial baseline {r['baseline']['value']:.3f} ({r['baseline']['name']}); SC columns on the "
             f"first n = {n} of the {r['test_sequences']} test sequences.", "",
             "| variant | architecture | parameters | quantized reference (whole set) | 8-bit fixed point "
             "(whole set) | reference on the SC samples (n) | epochs | training time (s) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for v, rec in _in_variant_order(r, r["variants"]).items():
        same = sc_all.get(v, {}).get("quantized_same_samples")
        lines.append(f"| {v} | {_arch(rec)} | {rec['parameters']} | {_fmt(rec['value'])} | {_fmt(rec.get('fixed8'))} "
                     f"| {_same(same, sc_all.get(v))} "
                     f"| {rec.get('epochs') or '-'} | {rec.get('train_seconds') or '-'} |")
    lines += ["", f"SC-simulated {r['metric']} at stream length L (95% interval, `CompiledDesign.evaluate`: "
              "accuracy Wilson score; bpc and step accuracy Student t over the sequences):", "",
              "| variant | " + " | ".join(f"L={L}" for L in lengths) + " |", "|---|" + "---:|" * len(lengths)]
    for v, sc in sc_all.items():
        cells = []
        for L in lengths:
            val, ci = sc.get("lengths", {}).get(str(L)), sc.get("ci", {}).get(str(L))
            cells.append("-" if val is None else f"{val:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    refused = [f"`{v}`: {sc['status']}" for v, sc in sc_all.items() if "refused" in sc.get("status", "")]
    options = [f"`{v}`: {', '.join(o for o in sc['options'] if not o.endswith('=None'))}"
               for v, sc in sc_all.items() if sc.get("options")]
    if options:
        lines += ["", "Layer choices the `auto` config made: " + "; ".join(options) + "."]
    if refused:
        lines += ["", *refused]
    lines += ["", "Mean |SC logit - quantized logit| on the SC samples (every step, every output):", "",
              "| variant | " + " | ".join(f"L={L}" for L in lengths) + " |", "|---|" + "---:|" * len(lengths)]
    for v, sc in sc_all.items():
        err = sc.get("logit_mean_abs_error", {})
        lines.append(f"| {v} | " + " | ".join(_fmt(err.get(str(L)), 4) for L in lengths) + " |")
    lines += ["", "Hardware cost of each compiled SC design for one evaluation sequence, against the 8-bit "
              "fixed-point design folded to the same latency (ratio = fixed8 / SC: > 1 means SC is cheaper):", "",
              "| variant | L | cycles/step | sources | flip-flops | SC area (um^2) | SC energy/sequence | "
              "latency/sequence | fixed8 / SC area | fixed8 / SC energy | ternary-acc8 / SC energy | cheaper |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for v, cost in cost_all.items():
        for L, c in cost.items():
            fa, fe, te = _ratios(c)
            lines.append(f"| {v} | {L} | {c['cycles_per_step']} | {c.get('sources', '-')} | {c.get('flip_flops', '-')} "
                         f"| {c['area_um2']:,.0f} | {_eng(c['energy_per_sequence_j'], 'J')} | "
                         f"{_eng(c['latency_s'], 's')} | {_fmt(fa)} | {_fmt(fe)} | {_fmt(te)} | {_verdict(fa, fe)} |")
    lines += ["", who_wins(task, r), ""]
    return lines


def render(results: dict[str, dict], lengths: list[int], mode: str, plot_name: str) -> str:
    lines = ["# Results", "",
             f"Generated by `python scripts/make_results.py{' --reduced' if mode == 'reduced' else ''}` "
             f"({mode} mode, {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC) from the committed models "
             "in `examples/*/model/`. Do not edit by hand: every number below is printed by the examples' "
             "`evaluate.py` scripts.", "",
             "Every committed variant (`examples/<task>/model/*/`) is run by `sccompiler.reference.forward` on the "
             "whole evaluation set and, when its weights are binary/ternary, by the 8-bit fixed-point integer "
             "model (`sccompiler.quantize.fixed_point`, the datapath `scc baseline` emits). Each binary/ternary "
             "variant is compiled by `sccompiler.design.compile_model` (the examples' `auto` config) at each "
             "stream length L and simulated bit by bit on the first n evaluation sequences; its netlist is "
             "costed by `sccompiler.cost.netlist_cost.cost_report` (analytic baselines: docs/cost-model.md). "
             f"\"Equal accuracy\" below: the SC metric within {EQUAL_ACCURACY.get('bpc')} bpc or "
             f"{EQUAL_ACCURACY_DEFAULT} accuracy of the fixed-point design's.", "",
             "## Summary", "",
             "| task | metric | trivial baseline | " + " | ".join(
                 sorted({v for r in results.values() for v in r["variants"]}, key=_variant_key)) + " |"]
    cols = lines[-1].count("|") - 4
    names = [c.strip() for c in lines[-1].strip("|").split("|")][3:]
    lines.append("|---|---|---:|" + "---:|" * cols)
    for task, r in results.items():
        lines.append(f"| {task} | {r['metric']}{' (lower is better)' if r['lower_is_better'] else ''} | "
                     f"{r['baseline']['value']:.3f} | "
                     + " | ".join(_fmt(r["variants"].get(v, {}).get("value")) for v in names) + " |")
    lines += ["", f"![accuracy vs L]({plot_name})", ""]
    for task, r in results.items():
        lines += render_task(task, r, lengths)
    lines += ["## Models", "", "| task | variant | architecture | parameters | epochs | training time (s) |",
              "|---|---|---|---:|---:|---:|"]
    for task, r in results.items():
        for v, rec in _in_variant_order(r, r["variants"]).items():
            lines.append(f"| {task} | {v} | {_arch(rec)} | {rec['parameters']} | {rec.get('epochs') or '-'} | "
                         f"{rec.get('train_seconds') or '-'} |")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, dict], lengths: list[int], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.4), squeeze=False)
    for ax, (task, r) in zip(axes[0], results.items()):
        sc_all = _sc_all(r)
        for i, (v, sc) in enumerate(sc_all.items()):
            xs = [L for L in lengths if str(L) in sc.get("lengths", {})]
            if xs:
                ax.plot(xs, [sc["lengths"][str(L)] for L in xs], "o-", color=f"C{i}", label=f"SC {v}")
                fixed = r["variants"].get(v, {}).get("fixed8")
                if fixed is not None:
                    ax.axhline(fixed, color=f"C{i}", ls="--", lw=0.8, label=f"fixed8 {v}")
        if "float" in r["variants"]:
            ax.axhline(r["variants"]["float"]["value"], color="grey", ls=":", label="float, whole set")
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [str(L) for L in lengths])
        ax.set_xlabel("stream length L")
        ax.set_ylabel(r["metric"])
        ax.set_title(task + ("" if sc_all else "\n(no SC simulation)"))
        ax.legend(fontsize=6)
    fig.tight_layout()
    from sccompiler.io import atomic_file  # noqa: PLC0415

    with atomic_file(path, force=True, mode="wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reduced", action="store_true", help="the examples' CI sizes (few sequences)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    ap.add_argument("--force", action="store_true", help="overwrite existing results")
    ap.add_argument("--tasks", nargs="+", default=[t for t, _, _ in TASKS], choices=[t for t, _, _ in TASKS])
    ap.add_argument("--lengths", nargs="*", type=int, default=[16, 32, 64, 128, 256, 512, 1024])
    ap.add_argument("--sc-samples", type=int, default=None, help="sequences simulated in SC per task")
    ap.add_argument("--sc-variants", nargs="+", default=None,
                    help="variants simulated in SC (default: all binary/ternary ones in full mode, ternary reduced)")
    ap.add_argument("--jobs", type=int, default=1, help="tasks evaluated at the same time")
    ap.add_argument("--json-dir", type=Path, default=None, help="keep each task's JSON and log there")
    ap.add_argument("--from-json", action="store_true", help="render from --json-dir instead of evaluating")
    args = ap.parse_args(argv)
    if args.from_json and args.json_dir is None:
        ap.error("--from-json needs --json-dir")
    if args.sc_variants is None:
        args.sc_variants = ["ternary"] if args.reduced else ["all"]
    sys.path.insert(0, str(ROOT))
    from sccompiler.errors import SCCError  # noqa: PLC0415
    from sccompiler.io import check_writable  # noqa: PLC0415

    md_path = args.out_dir / "results.md"
    try:
        check_writable(md_path, args.force)
        check_writable(args.out_dir / PLOT_NAME, args.force)
    except SCCError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        json_dir = args.json_dir or Path(tmp)
        json_dir.mkdir(parents=True, exist_ok=True)
        running = []
        for task, script, extra in TASKS:
            if task not in args.tasks:
                continue
            json_path = json_dir / f"{task}.json"
            if args.from_json:
                found = load_task_json(json_dir, task)
                if found is not None:
                    results[task] = found
                continue
            task_args = (["--reduced"] if args.reduced else extra) + ["--lengths", *map(str, args.lengths)]
            task_args += ["--sc-variants", *args.sc_variants]
            if args.sc_samples is not None:
                task_args += ["--sc-samples", str(args.sc_samples)]
            proc = start_task(script, task_args, json_path, json_dir / f"{task}.log")
            if args.jobs <= 1:
                results[task] = finish_task(proc, script, json_path, json_dir / f"{task}.log")
            else:
                running.append((task, proc, script, json_path))
        for task, proc, script, json_path in running:
            results[task] = finish_task(proc, script, json_path, json_dir / f"{task}.log")
        results = {t: results[t] for t, _, _ in TASKS if t in results}
    from sccompiler.io import atomic_file  # noqa: PLC0415

    args.out_dir.mkdir(parents=True, exist_ok=True)
    plot(results, args.lengths, args.out_dir / PLOT_NAME)
    with atomic_file(md_path, force=True) as fh:
        fh.write(render(results, args.lengths, "reduced" if args.reduced else "full", PLOT_NAME))
    print(f"wrote {md_path} and {args.out_dir / PLOT_NAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
