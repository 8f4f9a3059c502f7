"""An exploration's outputs: trials CSV + JSON, the Pareto set, plots and report.md.

The comparison with fixed point is stated per cost (energy per inference, area): an SC trial
*beats* a k-bit fixed-point baseline when it is at least as accurate on the same data (``error``
no larger and, with targets, the task metric no worse) and cheaper; the report names the cheapest
such SC trial for every baseline and the factor, or says that none is.  The verdict only counts a
win against the cheapest folding of a k-bit design (``fixedK`` and its ``-P`` foldings compute the
same integers): beating a fully parallel design that a folded one of equal accuracy undercuts is
no win.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

from ..io import atomic_file  # noqa: E402
from .objectives import MAXIMIZED_METRICS, Constraint, Objective, feasible  # noqa: E402
from .pareto import pareto_indices  # noqa: E402

COSTS = ("energy", "area")
VALUE_KEYS = ("metric", "error", "area", "energy", "latency", "flip_flops")


def length_of(rec: dict) -> int | None:
    lengths = rec.get("lengths") or {}
    return max(lengths.values()) if lengths else None


def family(rec: dict) -> str:
    """The trial's searched values other than stream lengths (one line per family in error vs L)."""
    rest = {k: v for k, v in sorted(rec.get("params", {}).items()) if k.rpartition(".")[2] != "length"}
    return ", ".join(f"{k}={v}" for k, v in rest.items()) or "all"


def candidates(records: Sequence[dict], constraints: Sequence[Constraint]) -> list[dict]:
    """Distinct measured trials that meet the constraints."""
    return [r for r in records if r["state"] == "ok" and "duplicate_of" not in r and feasible(r["values"], constraints)]


def _as_good(sc: dict, base: dict, metric: str | None) -> bool:
    if sc["error"] > base["error"]:
        return False
    if metric is not None and "metric" in sc and "metric" in base:
        return sc["metric"] >= base["metric"] if metric in MAXIMIZED_METRICS else sc["metric"] <= base["metric"]
    return True


def comparisons(points: Sequence[dict], baselines: Sequence[dict], metric: str | None) -> dict[str, list[dict]]:
    """Per cost: per baseline, the cheapest SC trial at least as accurate and the factor baseline / SC."""
    out: dict[str, list[dict]] = {}
    for cost in COSTS:
        rows = []
        for b in baselines:
            if b["state"] != "ok":
                continue
            good = [p for p in points if _as_good(p["values"], b["values"], metric)]
            best = min(good, key=lambda p: p["values"][cost]) if good else None
            rows.append({"baseline": b["name"], "baseline_value": b["values"][cost],
                         "baseline_error": b["values"]["error"],
                         "trial": None if best is None else best["number"],
                         "trial_value": None if best is None else best["values"][cost],
                         "factor": None if best is None else b["values"][cost] / best["values"][cost]})
        out[cost] = rows
    return out


def _cheapest_foldings(rows: Sequence[dict]) -> list[dict]:
    """Per k-bit design (``fixedK`` and its ``fixedK-P..`` foldings), the row of its cheapest folding."""
    best: dict[str, dict] = {}
    for r in rows:
        k = r["baseline"].split("-P")[0]
        if k not in best or r["baseline_value"] < best[k]["baseline_value"]:
            best[k] = r
    return list(best.values())


def summarize(records: Sequence[dict], baselines: Sequence[dict], objectives: Sequence[Objective],
              constraints: Sequence[Constraint], metric: str | None) -> dict:
    points = candidates(records, constraints)
    pareto = [points[i]["number"] for i in pareto_indices([p["values"] for p in points], objectives)]
    comp = comparisons(points, baselines, metric)
    wins = {cost: max((r for r in _cheapest_foldings(rows) if r["factor"] and r["factor"] > 1),
                      key=lambda r: r["factor"], default=None)
            for cost, rows in comp.items()}
    return {"trials": len(records), "ok": sum(r["state"] == "ok" for r in records),
            "failed": sum(r["state"] == "failed" for r in records),
            "duplicates": sum("duplicate_of" in r for r in records), "feasible": len(points),
            "pareto": pareto, "comparisons": comp, "best_win": wins,
            "sc_beats_fixed_point": any(w is not None for w in wins.values())}


def _csv(records: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["number", "state", "error_message", "duplicate_of", "L", "family", *VALUE_KEYS, "seconds",
                "params", "config"])
    for r in records:
        v = r.get("values") or {}
        w.writerow([r["number"], r["state"], r.get("error") or "", r.get("duplicate_of", ""), length_of(r) or "",
                    family(r), *(v.get(k, "") for k in VALUE_KEYS), f"{r.get('seconds', 0):.3f}",
                    json.dumps(r.get("params", {}), sort_keys=True), json.dumps(r.get("config", {}), sort_keys=True)])
    return buf.getvalue()


def _scatter(path: Path, cost: str, points: Sequence[dict], pareto: set[int], baselines: Sequence[dict],
             unit: str) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    xs = [p["values"][cost] for p in points]
    ys = [p["values"]["error"] for p in points]
    ax.scatter(xs, ys, s=14, c="0.6", label="SC trials")
    front = sorted((p for p in points if p["number"] in pareto), key=lambda p: p["values"][cost])
    if front:
        ax.plot([p["values"][cost] for p in front], [p["values"]["error"] for p in front], "o-", c="tab:red",
                ms=5, label="SC Pareto set")
    marks: dict[str, str] = {}
    for b in baselines:
        if b["state"] != "ok":
            continue
        fold = "parallel" if b["parallelism"] is None else f"P={b['parallelism']}"
        first = fold not in marks
        mk = marks.setdefault(fold, "sDv^<>"[len(marks) % 6])
        ax.scatter([b["values"][cost]], [b["values"]["error"]], marker=mk, c="tab:blue", s=30,
                   label=f"fixed point ({fold})" if first else None)
        ax.annotate(f"{b['bits']}b", (b["values"][cost], b["values"]["error"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    if any(v > 0 for v in xs + [b["values"].get(cost, 0) for b in baselines if b["state"] == "ok"]):
        ax.set_xscale("log")
    ax.set_xlabel(f"{cost} ({unit})")
    ax.set_ylabel("error (mean |output - quantized reference|)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _lengths(path: Path, points: Sequence[dict]) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    fams: dict[str, list[tuple[int, float]]] = {}
    for p in points:
        if length_of(p) is not None:
            fams.setdefault(family(p), []).append((length_of(p), p["values"]["error"]))
    for name, pts in sorted(fams.items())[:12]:
        pts.sort()
        ax.plot([a for a, _ in pts], [b for _, b in pts], "o-", ms=4, label=name[:60])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("stream length L (longest layer)")
    ax.set_ylabel("error")
    if fams:
        ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else str(x)
    return str(x)


def report_text(summary: dict, records: Sequence[dict], baselines: Sequence[dict], objectives: Sequence[Objective],
                constraints: Sequence[Constraint], manifest: dict, run: dict) -> str:
    """report.md (see the module docstring for what "beats" means)."""
    by_num = {r["number"]: r for r in records}
    unit = "um^2" if not str(manifest.get("cost_target", "")).startswith("fpga") else "LUT-eq"
    lines = [f"# Exploration of {manifest.get('model')}", "",
             f"Data `{manifest.get('data')}`; objectives: "
             + ", ".join(f"{o.name} ({o.direction})" for o in objectives)
             + (f"; constraints: {', '.join(c.text for c in constraints)}" if constraints else "") + "; "
             f"cost target `{manifest.get('cost_target')}`, energy and latency per inference of the data's steps.", ""]
    q = manifest.get("quantized_metric")
    if q:
        lines += [f"The quantized model itself: {manifest.get('metric')} {_fmt(q['value'])} "
                  f"(95% interval {_fmt(q['low'])} .. {_fmt(q['high'])}, {q['sequences']} sequences); "
                  "`error` is the mean |SC - quantized model| of the outputs.", ""]
    lines += [
             f"{summary['trials']} trials: {summary['ok']} measured, {summary['failed']} failed, "
             f"{summary['duplicates']} proposed again (answered from their first run), "
             f"{summary['feasible']} distinct feasible. Last run: {run.get('trials', 0)} trials in "
             f"{run.get('seconds', 0):.1f} s on {run.get('workers', 1)} worker(s).", "", "## Verdict", ""]
    wins = summary["best_win"]
    if not summary["sc_beats_fixed_point"]:
        lines.append("**No SC design beats fixed point on this model and data**: for every k-bit fixed-point "
                     "baseline, each SC trial at least as accurate (or none is) costs more energy and more area.")
    else:
        for cost, w in wins.items():
            if w is None:
                lines.append(f"- {cost}: no SC trial at least as accurate as a fixed-point baseline is cheaper.")
                continue
            t = by_num[w["trial"]]
            lines.append(f"- **{cost}: SC beats fixed point.** Trial {w['trial']} ({family(t)}, L={length_of(t)}) "
                         f"has error {_fmt(t['values']['error'])} <= {w['baseline']}'s {_fmt(w['baseline_error'])} "
                         f"and {w['factor']:.3g}x less {cost} than its cheapest folding "
                         f"({_fmt(w['trial_value'])} vs {_fmt(w['baseline_value'])}).")
    lines += ["", "## Against each fixed-point baseline", "",
              "Cheapest SC trial at least as accurate (error no larger, task metric no worse); factor = baseline / SC "
              "(> 1: SC is cheaper).", "",
              "| baseline | error | metric | energy (J) | area | SC trial (energy) | factor | SC trial (area) "
              "| factor |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    comp = summary["comparisons"]
    base_by = {b["name"]: b for b in baselines}
    for e_row, a_row in zip(comp["energy"], comp["area"]):
        b = base_by[e_row["baseline"]]["values"]
        lines.append(f"| {e_row['baseline']} | {_fmt(b['error'])} | {_fmt(b.get('metric'))} | {_fmt(b['energy'])} | "
                     f"{_fmt(b['area'])} | {_fmt(e_row['trial'])} | {_fmt(e_row['factor'])} | {_fmt(a_row['trial'])} | "
                     f"{_fmt(a_row['factor'])} |")
    failed_b = [b for b in baselines if b["state"] != "ok"]
    if failed_b:
        lines += ["", "Baselines not evaluated: " + "; ".join(f"{b['name']}: {b['error']}" for b in failed_b)]
    lines += ["", "## Pareto set (SC trials)", "", "| trial | L | family | " + " | ".join(VALUE_KEYS) + " |",
              "|---|---:|---|" + "---:|" * len(VALUE_KEYS)]
    for n in summary["pareto"]:
        r = by_num[n]
        lines.append(f"| {n} | {_fmt(length_of(r))} | {family(r)} | "
                     + " | ".join(_fmt(r["values"].get(k)) for k in VALUE_KEYS) + " |")
    fails = [r for r in records if r["state"] == "failed"][:10]
    if fails:
        lines += ["", "## Failed trials", ""] + [f"- trial {r['number']}: {r.get('error')}" for r in fails]
    lines += ["", f"Plots: `plots/error_vs_energy.png`, `plots/error_vs_area.png` ({unit}), "
              "`plots/error_vs_length.png`. Rebuild a trial: `scc compile MODEL --from-trial DIR/ID -o OUT`.", ""]
    return "\n".join(lines)


def write_outputs(outdir: Path, records: Sequence[dict], baselines: Sequence[dict], objectives: Sequence[Objective],
                  constraints: Sequence[Constraint], manifest: dict, run: dict) -> dict:
    records = sorted(records, key=lambda r: r["number"])
    summary = summarize(records, baselines, objectives, constraints, manifest.get("metric"))
    points = candidates(records, constraints)
    with atomic_file(outdir / "trials.csv", force=True) as fh:
        fh.write(_csv(records))
    with atomic_file(outdir / "trials.json", force=True) as fh:
        json.dump({"trials": records}, fh, indent=1, default=str)
    with atomic_file(outdir / "pareto.json", force=True) as fh:
        json.dump({"objectives": [o.name for o in objectives], "pareto": [r for r in points
                                                                          if r["number"] in summary["pareto"]],
                   "summary": summary}, fh, indent=1, default=str)
    plots = outdir / "plots"
    plots.mkdir(exist_ok=True)
    unit = "LUT-eq" if str(manifest.get("cost_target", "")).startswith("fpga") else "um^2"
    # the scatter plots' Pareto set is the one over (error, that cost)
    for cost, u in (("energy", "J per inference"), ("area", unit)):
        two = [Objective("error", "minimize"), Objective(cost, "minimize")]
        front = {points[i]["number"] for i in pareto_indices([p["values"] for p in points], two)}
        _scatter(plots / f"error_vs_{cost}.png", cost, points, front, baselines, u)
    _lengths(plots / "error_vs_length.png", points)
    with atomic_file(outdir / "report.md", force=True) as fh:
        fh.write(report_text(summary, records, baselines, objectives, constraints, manifest, run))
    return summary
