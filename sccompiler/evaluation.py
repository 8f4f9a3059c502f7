"""A task metric side by side: the float model, the quantized model (its float64 forward,
:func:`sccompiler.reference.forward`) and the SC design at one or more stream lengths, each with
the confidence interval of :mod:`sccompiler.metrics`; and what quantizing a float model costs
(:func:`quantization_effect`, with the collapse rule that makes ``scc quantize`` warn).

Used by ``scc simulate``, ``scc quantize`` and ``scc compile --targets`` (docs/compiler.md, "Task
metrics").
"""

from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import numpy as np

from . import metrics
from .errors import ConfigError
from .ir.model import Model
from .reference import check_input, forward

#: metric names as the CLI spells them (a hyphen) -> :data:`sccompiler.metrics.METRICS`
CLI_METRICS = {"accuracy": "accuracy", "step-accuracy": "step_accuracy", "bpc": "bpc", "mse": "mse"}
#: metrics where larger is better
HIGHER_IS_BETTER = ("accuracy", "step_accuracy")
#: an absolute accuracy drop at or above this is a collapse
COLLAPSE_ACCURACY_DROP = 0.10
#: a bpc/mse that grows by this factor or more is a collapse
COLLAPSE_LOSS_RATIO = 1.25
#: without targets: mean |quantized - float| / mean |float| at or above this is a collapse
COLLAPSE_RELATIVE_ERROR = 0.5


def metric_name(name: str) -> str:
    """The :mod:`sccompiler.metrics` name of a metric given as ``step-accuracy`` or ``step_accuracy``."""
    key = str(name).replace("_", "-")
    if key not in CLI_METRICS:
        raise ConfigError(f"--metric: must be one of {', '.join(CLI_METRICS)}; got {name!r}")
    return CLI_METRICS[key]


def infer_metric(targets: np.ndarray, output_shape: tuple[int, ...], tokens: bool) -> str:
    """The metric the targets' shape and type imply: integer labels (B,) -> accuracy; integer
    labels (B, T) -> bpc for a token model (next-character prediction), else step accuracy; real
    targets shaped like the outputs -> mse."""
    t = np.asarray(targets)
    B, T = output_shape[:2]
    if t.dtype.kind in "iu" and t.shape == (B,):
        return "accuracy"
    if t.dtype.kind in "iu" and t.shape == (B, T):
        return "bpc" if tokens else "step_accuracy"
    if t.dtype.kind in "iuf" and t.shape == tuple(output_shape):
        return "mse"
    raise ConfigError(f"--targets: shape {t.shape} ({t.dtype}) fits no metric for outputs {tuple(output_shape)}: "
                      f"give integer labels ({B},) for accuracy, ({B}, {T}) for step-accuracy/bpc, or real "
                      f"targets {tuple(output_shape)} for mse (or name one with --metric)")


def resolve_metric(metric: str | None, targets: np.ndarray, output_shape: tuple[int, ...], tokens: bool) -> str:
    """``metric`` checked against the targets (one clear error), or the inferred one."""
    name = infer_metric(targets, output_shape, tokens) if metric is None else metric_name(metric)
    metrics.per_sequence(name, np.zeros(tuple(output_shape)), targets)  # shape/label checks, one error
    return name


def _error(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return {"mean_abs": float(d.mean()), "max_abs": float(d.max())}


def check_compatible(float_model: Model, model: Model) -> None:
    """A float model that can stand next to ``model``: same input and output size."""
    if float_model.input != model.input:
        raise ConfigError(f"--float-model: its input ({float_model.input.kind}, {float_model.input.size}) differs "
                          f"from the design's ({model.input.kind}, {model.input.size})")


def compare(model: Model, x, *, simulate: Callable[[np.ndarray, int | None], np.ndarray],
            lengths: Sequence[int | None] = (None,), targets=None, metric: str | None = None,
            float_model: Model | None = None, confidence: float = 0.95,
            progress: Callable[[int], None] | None = None) -> dict:
    """Outputs and (with ``targets``) the metric of the float model, the quantized ``model`` and
    ``simulate(x, L)`` (the SC design; L = None: its own lengths) for every L of ``lengths``.

    Returns ``{"metric", "sequences", "float", "quantized", "sc": [{"length", "seconds",
    "error_vs_quantized", "error_vs_float", **metric}], "outputs": {"float", "quantized", "sc": [...]}}``
    (metric entries: :meth:`sccompiler.metrics.MetricResult.to_json`; ``None`` without targets).
    """
    xc = check_input(model, x)
    q = forward(model, xc)
    f = None
    if float_model is not None:
        check_compatible(float_model, model)
        f = forward(float_model, xc)
        if f.shape != q.shape:
            raise ConfigError(f"--float-model: its outputs {f.shape} differ from the design's {q.shape}")
    name = None
    if targets is not None:
        name = resolve_metric(metric, targets, q.shape, model.input.kind == "tokens")

    def score(out):
        return None if name is None else metrics.evaluate_metric(name, out, targets, confidence).to_json()

    result: dict = {"metric": name, "sequences": int(q.shape[0]), "confidence": confidence,
                    "float": None if f is None else score(f), "quantized": score(q),
                    "quantized_vs_float": None if f is None else _error(q, f), "sc": []}
    outs = []
    for k, L in enumerate(lengths):
        start = time.perf_counter()
        out = simulate(xc, L)
        row = {"length": L, "seconds": time.perf_counter() - start, "error_vs_quantized": _error(out, q),
               "error_vs_float": None if f is None else _error(out, f)}
        m = score(out)
        result["sc"].append(row | (m or {}))
        outs.append(out)
        if progress is not None:
            progress(k + 1)
    result["outputs"] = {"float": f, "quantized": q, "sc": outs}
    return result


def quantization_effect(float_model: Model, quantized: Model, x, *, targets=None, metric: str | None = None,
                        confidence: float = 0.95) -> dict:
    """What quantizing ``float_model`` into ``quantized`` does to its outputs on inputs ``x``:
    mean/max |quantized - float|, the relative error (mean |q - f| / mean |f|), the metric of
    both with ``targets``, and ``collapsed`` with the reason (the rule: an accuracy drop of
    :data:`COLLAPSE_ACCURACY_DROP` or more, a bpc/mse grown by :data:`COLLAPSE_LOSS_RATIO` or
    more, or without targets a relative error of :data:`COLLAPSE_RELATIVE_ERROR` or more)."""
    xc = check_input(float_model, x)
    f, q = forward(float_model, xc), forward(quantized, xc)
    err = _error(q, f)
    scale = float(np.abs(f).mean())
    relative = err["mean_abs"] / scale if scale > 0 else float("inf")
    res: dict = {"sequences": int(f.shape[0]), "error": err | {"relative": relative},
                 "metric": None, "float": None, "quantized": None}
    reason = None
    if targets is not None:
        name = resolve_metric(metric, targets, f.shape, float_model.input.kind == "tokens")
        mf = metrics.evaluate_metric(name, f, targets, confidence).to_json()
        mq = metrics.evaluate_metric(name, q, targets, confidence).to_json()
        res.update(metric=name, float=mf, quantized=mq)
        if name in HIGHER_IS_BETTER and mf["value"] - mq["value"] >= COLLAPSE_ACCURACY_DROP:
            reason = f"{name} drops from {mf['value']:.3f} to {mq['value']:.3f}"
        elif name not in HIGHER_IS_BETTER and mq["value"] >= COLLAPSE_LOSS_RATIO * mf["value"] and \
                mq["value"] - mf["value"] > 1e-9:
            reason = f"{name} grows from {mf['value']:.4g} to {mq['value']:.4g}"
    elif relative >= COLLAPSE_RELATIVE_ERROR:
        reason = f"the outputs move by {relative:.0%} of their mean magnitude"
    res.update(collapsed=reason is not None, reason=reason)
    return res


def metric_rows(result: Mapping) -> list[tuple[str, dict | None]]:
    """(label, metric entry) rows of :func:`compare`'s result, for printing."""
    rows: list[tuple[str, dict | None]] = []
    if result.get("float") is not None:
        rows.append(("float", result["float"]))
    rows.append(("quantized", result["quantized"]))
    rows += [(f"SC L={r['length']}" if r["length"] is not None else "SC", r) for r in result["sc"]]
    return rows


#: post-training scale factors tried by :func:`search_scale` (times the scheme's W0; log-spaced)
SCALE_FACTORS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0)


def search_scale(float_model: Model, scheme: str, x, *, targets=None, metric: str | None = None,
                 factors: Sequence[float] = SCALE_FACTORS, **quantize_options) -> dict:
    """Post-training scale search: quantize with ``W0 * f`` for every ``f`` in ``factors`` and
    keep the best on the calibration inputs ``x`` -- the task metric with ``targets``, else the
    mean |quantized - float| -- ties to the factor nearest 1 (the authors' rule).  Returns
    {"criterion", "best", "rows": [{"factor", "error", "metric"}]}."""
    from .quantize import quantize_model  # noqa: PLC0415

    xc = check_input(float_model, x)
    f = forward(float_model, xc)
    name = None if targets is None else resolve_metric(metric, targets, f.shape, float_model.input.kind == "tokens")
    rows = []
    for factor in factors:
        q = forward(quantize_model(float_model, scheme, scale_factor=float(factor), **quantize_options), xc)
        row = {"factor": float(factor), "error": _error(q, f)["mean_abs"], "metric": None}
        if name is not None:
            row["metric"] = metrics.evaluate_metric(name, q, targets).value
        rows.append(row)

    def badness(r):
        value = r["error"] if name is None else (-r["metric"] if name in HIGHER_IS_BETTER else r["metric"])
        return (value, abs(np.log(r["factor"])))

    best = min(rows, key=badness)
    return {"criterion": name or "mean_abs_error", "best": best["factor"], "rows": rows}
