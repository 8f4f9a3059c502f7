"""Side-by-side comparison of the SC design with its baselines: metrics and ratios as a JSON-able
dict and as markdown.

Ratio convention: ``baseline / SC`` for every metric, so a ratio > 1 means the SC design is smaller,
cheaper or faster than that baseline by that factor, and < 1 means it is worse.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import SCValueError
from .inventory import Activity, CostReport, Design
from .targets import Target, load_target

#: ratio name -> CostReport attribute compared by the ratio table: the same name as the
#: quantity's in ``designs[...]["cost"]`` (one name per quantity in every JSON)
RATIO_METRICS = {
    "area": "area",
    "energy_per_inference_j": "energy_per_inference_j",
    "latency_s": "latency_s",
    "complexity": "complexity",
    "flip_flops": "flip_flops",
    "memory_bits": "memory_bits",
}
CONVENTION = "ratio = baseline / SC: > 1 means the SC design is smaller/cheaper/faster by that factor"


def _ratio(base: float, sc: float) -> float | None:
    if sc == 0:
        return None if base == 0 else float("inf")
    return base / sc


def compare(sc: Design, baselines: Sequence[Design], target: Target | str = "asic-generic", *,
            steps: int = 1, activity: Activity | None = None) -> dict:
    """Estimate the SC design and every baseline on one target and tabulate baseline/SC ratios."""
    if not baselines:
        raise SCValueError("baselines", "at least one baseline design is needed")
    names = [sc.name, *(b.name for b in baselines)]
    if len(set(names)) != len(names):
        raise SCValueError("baselines", f"design names must be unique, got {names}")
    tgt = load_target(target)
    reports: dict[str, CostReport] = {d.name: d.estimate(tgt, steps=steps, activity=activity)
                                      for d in (sc, *baselines)}
    sc_rep = reports[sc.name]
    ratios = {b.name: {m: _ratio(getattr(reports[b.name], attr), getattr(sc_rep, attr))
                       for m, attr in RATIO_METRICS.items()} for b in baselines}
    designs = {}
    for d in (sc, *baselines):
        designs[d.name] = {
            "description": d.description,
            "params": {k: v for k, v in d.params},
            "step_cycles": list(d.step_cycles),
            "ops_per_step": d.ops_per_step,
            "ops_unit": d.ops_unit,
            "cost": reports[d.name].to_json(),
            "primitives": d.inventory.counts(),
            "parts": {p: {"area": r.area, "energy_per_inference_j": r.energy_per_inference_j}
                      for p, r in d.part_estimates(tgt, steps=steps, activity=activity).items()},
        }
    return {"target": tgt.name, "target_kind": tgt.kind, "steps": steps, "sc": sc.name,
            "convention": CONVENTION, "designs": designs, "ratios": ratios}


def _eng(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if x == 0:
        return f"0 {unit}"
    for scale, prefix in ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, "")):
        if abs(x) < scale * 1000:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def to_markdown(comparison: dict) -> str:
    """Markdown tables: one row of metrics per design, then the baseline/SC ratios."""
    area_unit = "um^2" if comparison["target_kind"] == "asic" else "LUT-eq"
    lines = [f"Target `{comparison['target']}`, {comparison['steps']} time step(s) per inference.", "",
             f"| design | area ({area_unit}) | GE / LUTs | FFs | SNGs | RNGs | cycles | latency | energy/inference |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, d in comparison["designs"].items():
        c = d["cost"]
        logic = c["gate_equivalents"] if c["gate_equivalents"] is not None else c["luts"]
        lines.append(f"| {name} | {_num(c['area'])} | {_num(logic)} | {_num(c['flip_flops'])} | "
                     f"{_num(c['sng_count'])} | {_num(c['rng_count'])} | {_num(c['latency_cycles'])} | "
                     f"{_eng(c['latency_s'], 's')} | {_eng(c['energy_per_inference_j'], 'J')} |")
    lines += ["", f"Ratios vs `{comparison['sc']}` ({comparison['convention']}):", "",
              "| baseline | " + " | ".join(RATIO_METRICS) + " |",
              "|---|" + "---:|" * len(RATIO_METRICS)]
    for name, r in comparison["ratios"].items():
        lines.append(f"| {name} | " + " | ".join("-" if r[m] is None else f"{r[m]:.3g}x" for m in RATIO_METRICS) + " |")
    for name, b in comparison.get("sequence_buffers", {}).items():
        per = ", ".join(f"{k} {v}" for k, v in b["bits_per_step"].items())
        lines += ["", f"Sequence buffers `{name}` (bidirectional layer): {b['max_steps']} steps (T_max) x "
                      f"({per}) bits = {b['bits']} bits, {b['storage']}: area {_num(b['area'])}, "
                      f"energy/inference {_eng(b['energy_per_inference_j'], 'J')}"]
    lines += ["", "Descriptions:"]
    lines += [f"- `{n}`: {d['description']}" for n, d in comparison["designs"].items()]
    return "\n".join(lines) + "\n"
