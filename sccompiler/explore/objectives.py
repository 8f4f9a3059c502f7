"""Objectives and constraints of an exploration.

Every trial (and every fixed-point baseline) is measured on the same quantities:

* ``metric``: the task metric of the outputs against VAL.npz's ``y`` (accuracy / step_accuracy:
  maximized; bpc / mse: minimized);
* ``error``: mean |output - quantized reference output| over every sequence, step and output;
* ``area`` (um^2 on an ASIC target, LUT-equivalents on an FPGA one), ``energy`` (J per inference
  of the data's T steps), ``latency`` (s per inference) and ``flip_flops``, from the one cost model
  (:func:`sccompiler.cost.netlist_cost.cost_report` for SC, :mod:`sccompiler.cost.baselines` for
  fixed point, on the config's ``cost_target``).

A constraint is ``NAME <= VALUE`` or ``NAME >= VALUE`` over the same names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ConfigError

#: objective name -> (direction of a cost, description); ``metric``'s direction depends on the metric
OBJECTIVES = {
    "metric": ("maximize", "the task metric against y"),
    "error": ("minimize", "mean |output - quantized reference|"),
    "area": ("minimize", "area (um^2 or LUT-eq)"),
    "energy": ("minimize", "energy per inference (J)"),
    "latency": ("minimize", "latency per inference (s)"),
    "flip_flops": ("minimize", "flip-flops"),
}
#: task metrics where larger is better
MAXIMIZED_METRICS = ("accuracy", "step_accuracy")


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str   # "minimize" or "maximize"

    def better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "minimize" else a > b


@dataclass(frozen=True)
class Constraint:
    name: str
    op: str          # "<=" or ">="
    bound: float
    text: str

    def violation(self, values: Mapping[str, Any]) -> float:
        """<= 0 when met (Optuna's convention), the distance to the bound otherwise."""
        v = values.get(self.name)
        if v is None or not math.isfinite(v):
            return math.inf
        return v - self.bound if self.op == "<=" else self.bound - v


def parse_objectives(raw: Any, where: str) -> tuple[Objective, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: objectives: expected a non-empty list from {', '.join(OBJECTIVES)}")
    out = []
    for name in raw:
        if name not in OBJECTIVES:
            raise ConfigError(f"{where}: objectives: unknown objective {name!r}; known: {', '.join(OBJECTIVES)}")
        out.append(Objective(name, OBJECTIVES[name][0]))
    if len({o.name for o in out}) != len(out):
        raise ConfigError(f"{where}: objectives: {raw!r} names an objective twice")
    return tuple(out)


_CONSTRAINT = re.compile(r"^\s*([a-z_]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


def parse_constraint(text: Any, where: str) -> Constraint:
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if m is None:
        raise ConfigError(f"{where}: constraints: {text!r} is not of the form 'NAME <= VALUE' or 'NAME >= VALUE'")
    name, op, num = m.groups()
    if name not in OBJECTIVES:
        raise ConfigError(f"{where}: constraints: {text!r}: unknown quantity {name!r}; known: {', '.join(OBJECTIVES)}")
    try:
        bound = float(num)
    except ValueError:
        raise ConfigError(f"{where}: constraints: {text!r}: {num!r} is not a number") from None
    if not math.isfinite(bound):
        raise ConfigError(f"{where}: constraints: {text!r}: the bound must be finite")
    return Constraint(name, op, bound, f"{name} {op} {num}")


def resolve(objectives: tuple[Objective, ...], metric: str | None) -> tuple[Objective, ...]:
    """Objectives with ``metric``'s direction set from the task metric (refused without ``y``)."""
    out = []
    for o in objectives:
        if o.name == "metric":
            if metric is None:
                raise ConfigError("objective 'metric' needs targets: VAL.npz has no 'y'")
            o = Objective("metric", "maximize" if metric in MAXIMIZED_METRICS else "minimize")
        out.append(o)
    return tuple(out)


def feasible(values: Mapping[str, Any], constraints: tuple[Constraint, ...]) -> bool:
    return all(c.violation(values) <= 0 for c in constraints)
