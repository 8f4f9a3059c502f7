"""``report.md``: the markdown rendering of a compiled design's report (``CompiledDesign.report()``).

It renders the whole design report -- datapath per layer, batch norms, warnings, WFSMs, the
stream-length schedule, accuracy, correlation, cost, pass timings -- so it lives next to the
design, not in :mod:`sccompiler.cost` (which owns only the cost numbers and their tables,
:func:`sccompiler.cost.to_markdown`).  One function per section; each returns its lines
(empty when the report has no such section).
"""

from __future__ import annotations

from .cost import to_markdown


def report_markdown(rep: dict) -> str:
    """report.md: datapath per layer, FSMs, schedule, correlation, cost ratios."""
    lines = [f"# SC design for model `{rep['model']}`", ""]
    for section in (_datapath, _batchnorm, _warnings, _fsms, _schedule, _accuracy, _correlation, _cost,
                    _pass_timings):
        lines += section(rep)
    return "\n".join(lines) + "\n"


def _datapath(rep: dict) -> list[str]:
    lines = ["## Datapath", "", "| layer | kind | L | options |", "|---|---|---:|---|"]
    for lay in rep["layers"]:
        opts = ", ".join(f"{k}={v}" for k, v in lay["options"].items())
        lines.append(f"| {lay['name']} | {lay['kind']} | {lay['length']} | {opts} |")
    lines += ["", "Primitive instances: " + ", ".join(f"{k} {v:,}" for k, v in sorted(rep["primitives"].items())), ""]
    src = rep.get("sources", {})
    if src.get("mode"):
        widths = ", ".join(f"{n} x {w}-bit" for w, n in src.get("register_widths", {}).items())
        live = src["comparators"] - src["pruned"]
        n_sobol = int(src.get("sobol_registers", 0))
        sobol = (f" and {n_sobol} Sobol registers (source: {src.get('kind')}; {src.get('sobol_comparators', 0)} "
                 "comparators read them)") if n_sobol else ""
        lines += [f"Random sources ({src['mode']}): {src['registers'] - n_sobol} leap-forward LFSR registers "
                  f"({widths}){sobol}; {src['register_bits']} flip-flops feed {live} comparators; {src['pruned']} "
                  "comparators pruned (their streams meet only zero weights)."
                  + (f" At most {src['fanout_cap']} comparators per register." if src.get("fanout_cap") else ""),
                  "", "| layer | comparators | pruned | colours | registers | max comparators per register |"
                  + (" Sobol comparators | Sobol registers |" if n_sobol else ""),
                  "|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if n_sobol else "")]
        for name, v in src.get("layers", {}).items():
            lines.append(f"| {name} | {v['comparators']} | {v['pruned']} | {v.get('colours', '-')} | "
                         f"{v['registers']} | {v.get('max_fanout', 1)} |"
                         + (f" {v.get('sobol_comparators', 0)} | {v.get('sobol_registers', 0)} |" if n_sobol else ""))
        corr = rep.get("correlation", {}).get("sources")
        if corr and corr.get("pairs"):
            lines += ["", f"Measured between {corr['pairs']} sampled pairs of conflicting comparators (streams that "
                      f"meet) over {corr['cycles']} cycles: worst |SCC| {corr['max_abs_scc']:.3f}, worst covariance "
                      f"|z| {corr['max_abs_z']:.2f}, {100 * corr['share_beyond_z4']:.2f}% of pairs beyond |z| > 4."]
        lines.append("")
    return lines


def _batchnorm(rep: dict) -> list[str]:
    if not rep.get("batchnorm"):
        return []
    lines = ["## Batch norms", "", "| layer | field | statistics rows | realized | max scale change | "
             "max shift change | max tanh(c) target change |", "|---|---|---:|---|---:|---:|---:|"]
    for lay, fields in rep["batchnorm"].items():
        for field, e in fields.items():
            cells = [f"{e[k]:.3g}" if k in e else "" for k in
                     ("max_scale_change", "max_shift_change", "max_tanh_target_change")]
            lines.append(f"| {lay} | {field} | {e['rows']} | {e['realized']} | " + " | ".join(cells) + " |")
    return lines + ["", "A single table for per-step statistics (bn_steps last/mean) changes the function: the "
                    "accuracy section's design-vs-quantized gap is its cost.", ""]


def _warnings(rep: dict) -> list[str]:
    if not rep.get("warnings"):
        return []
    return ["## Warnings", ""] + [f"* {w}" for w in rep["warnings"]] + [""]


def _fsms(rep: dict) -> list[str]:
    if not rep.get("fsms"):
        return []
    lines = ["## WFSMs", "", "| node | group | target | gain | input model | N | max err (analytic) | Stanh max err |",
             "|---|---:|---|---:|---|---:|---:|---:|"]
    for f in rep["fsms"]:
        lines.append(f"| {f['node']} | {f['group']} | {f['target']} | {f['gain']:.4g} | {f['input_model']} | "
                     f"{f['states']} | {f['analytic_max_error']:.3g} | {f['baseline_max_error']:.3g} |")
    return lines + [""]


def _schedule(rep: dict) -> list[str]:
    if not rep.get("schedule"):
        return []
    s = rep["schedule"]
    lines = ["## Stream-length schedule", "",
             f"Target error {s['target_error']:.4g} ({s['metric']} vs the quantized reference); uniform L = "
             f"{s['length']}; error model err(L) = "
             f"{s['model']['a']:.4g}/sqrt(L) + {s['model']['b']:.4g}", "", "| L | error |", "|---:|---:|"]
    lines += [f"| {pt['length']} | {pt['error']:.4g} |" for pt in s["curve"]]
    lines.append("")
    if s.get("lengths"):
        lines += ["Per-layer lengths after shortening layers one at a time: "
                  + ", ".join(f"{k} L={v}" for k, v in s["lengths"].items())
                  + f" (measured {s['measured_error']:.4g})."]
        for r in s.get("refinements", []):
            lines.append(f"- {r['layer']} at L={r['length']}: error {r['error']:.4g} "
                         f"({'accepted' if r['accepted'] else 'rejected'})")
        t = s["timing"]
        # the throughput needs a clock: a timing computed without a target has none
        rate = t.get("throughput_steps_per_s")
        rate = "-" if rate is None else f"{rate:,.0f}"
        lines += ["", f"Cycles per time step {t['cycles_per_step']}; latency of {t['steps']} steps "
                      f"{t['latency_cycles']:,} cycles; throughput {rate} steps/s "
                      "(layers pipelined across time).", ""]
    return lines


def _accuracy(rep: dict) -> list[str]:
    if not rep.get("accuracy"):
        return []
    a = rep["accuracy"]
    lines = _task_metric(a.get("task"))
    if "curve" not in a:
        return lines
    lines += ["## Accuracy vs stream length", "",
             f"Mean |output - reference| on {a['samples']} calibration sequence(s); the design reference "
             f"(sign(h), saturated c, a fixed-point head's K-bit weights) differs from the quantized model by "
             f"{a['design_vs_quantized']:.4g}.", "",
             "| L | vs quantized reference | vs design reference |", "|---:|---:|---:|"]
    lines += [f"| {p['length']} | {p['error_vs_quantized']:.4g} | {p['error_vs_design_reference']:.4g} |"
              for p in a["curve"]]
    return lines + [""]


def _task_metric(task: dict | None) -> list[str]:
    if not task:
        return []
    lines = ["## Task metric", "",
             f"{task['metric']} on {task['sequences']} calibration sequence(s) with their targets "
             f"({task['confidence']:.0%} confidence interval).", "",
             "| model | value | interval | mean abs SC - quantized |", "|---|---:|---:|---:|"]

    def row(label, e, err="-"):
        return f"| {label} | {e['value']:.4g} | [{e['ci'][0]:.4g}, {e['ci'][1]:.4g}] | {err} |"
    if task.get("float"):
        lines.append(row("float", task["float"]))
    lines.append(row("quantized", task["quantized"]))
    for r in task["sc"]:
        lines.append(row("SC" + (f" L={r['length']}" if r["length"] else ""), r,
                         f"{r['error_vs_quantized']['mean_abs']:.4g}"))
    return lines + [""]


def _correlation(rep: dict) -> list[str]:
    if not rep.get("correlation", {}).get("gates"):
        return []
    lines = ["## Correlation (SCC between gate operands)", "", "| gate bank | mean abs SCC | max abs SCC |",
             "|---|---:|---:|"]
    for g, v in rep["correlation"]["gates"].items():
        lines.append(f"| {g} | {v['mean_abs_scc']:.3f} | {v['max_abs_scc']:.3f} |")
    return lines + [""]


def _cost(rep: dict) -> list[str]:
    if not rep.get("cost"):
        return []
    cost = rep["cost"]
    lines = ["## Cost vs baselines", ""]
    t = cost.get("timing")
    if t:
        # say which circuit the SC row costs: the emitted RTL's timing, not the paper's datapath
        lines += [f"`{cost['sc']}` is this design's netlist timed as its emitted RTL: "
                  f"{t['pipeline_depth']} pipelined layer(s) stepping every {t['step_period']} cycles "
                  f"(no overhead cycle), {t['latency_cycles']:,} cycles from start to the last valid output "
                  f"for {t['steps']} step(s); its latency and energy use these cycles.  The baselines are "
                  "analytic designs of the same layers (docs/cost-model.md).", ""]
    lines.append(to_markdown(cost))
    lines += _verdict(rep)
    lines += _skipping(cost.get("state_skipping"))
    rc = cost.get("reference_comparison")
    if rc:
        kinds = sorted(set(rc["netlist"]) | set(rc["reference"]))
        lines += ["### Netlist vs the analytic XNOR-LSTM reference inventory", "",
                  "Primitive counts only: the reference is the paper's datapath (docs/background.md §5), "
                  "counted analytically; it is not costed here.", "",
                  "| primitive | netlist | reference |", "|---|---:|---:|"]
        lines += [f"| {k} | {rc['netlist'].get(k, 0):,} | {rc['reference'].get(k, 0):,} |" for k in kinds]
        lines += [""] + [f"- {e}" for e in rc["explanations"]] + [""]
    return lines


def _skipping(sk: dict | None) -> list[str]:
    """State skipping of ternary hidden states: the measured skipped fraction and its energy."""
    if not sk:
        return []
    if sk.get("skipped_fraction") is None:
        return ["", f"State skipping (ternary h): {sk['source']}.", ""]
    return ["", f"State skipping (ternary h): {sk['skipped_fraction']:.1%} of the {sk['xnor_evaluations']:,} "
                f"recurrent XNOR evaluations are switched off by zero states ({sk['source']}); energy per "
                f"inference {sk['energy_per_inference_j']:.4g} J with skipping, "
                f"{sk['energy_per_inference_j_without_skipping']:.4g} J without.", ""]


def _verdict(rep: dict) -> list[str]:
    """Who wins against the fixed-point design folded to the SC design's latency (area, energy),
    and at which L the SC design matches the fixed-point model's accuracy."""
    cost = rep["cost"]
    p_eq = cost.get("equal_latency_parallelism")
    name = next((k for k, v in cost["designs"].items()
                 if k.startswith("fixed") and v["params"].get("parallelism") == p_eq), None)
    if name is None:
        return []
    r = cost["ratios"][name]
    words = []
    for key, what in (("area", "area"), ("energy_per_inference_j", "energy per inference")):
        v = r[key]
        words.append(f"{what}: {'SC' if v > 1 else 'fixed point'} wins by {max(v, 1 / v):.1f}x")
    lines = [f"**Verdict at equal latency** (`{name}`: the {name.split('-')[0][5:]}-bit fixed-point design folded "
             f"to P = {p_eq}, finishing a step within the SC design's step period): " + "; ".join(words) + "."]
    fx = (rep.get("accuracy") or {}).get("fixed_point")
    if fx:
        at = (f"the SC design is at least as accurate from L = {fx['sc_length_to_match']}"
              if fx["sc_length_to_match"] else
              f"the SC design does not reach it up to L = {fx['longest_simulated']}")
        lines.append(f"Accuracy: the {fx['bits']}-bit fixed-point model's mean |output - quantized reference| is "
                     f"{fx['error_vs_quantized']:.4g} on the calibration samples; {at} (accuracy curve above).")
    return ["", " ".join(lines), ""]


def _pass_timings(rep: dict) -> list[str]:
    lines = ["## Pass timings", "", "| pass | seconds | skipped |", "|---|---:|---|"]
    return lines + [f"| {s['pass']} | {s['seconds']:.3f} | {s['skipped']} |" for s in rep.get("stages", [])]
