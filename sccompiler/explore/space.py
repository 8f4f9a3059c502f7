"""The search space of ``scc explore``: SPACE.yaml parsed and checked against the compiler config.

A space file (YAML or JSON) looks like::

    params:                         # compiler config keys to search
      length: [32, 64, 128, 256]    # a list: a categorical choice
      defaults.gate_input: [table, integral_wfsm]
      lstm0.gate_fsm_states: {low: 8, high: 64, log: true}   # an int range (log scale)
      defaults.fsm_tolerance: {low: 0.01, high: 0.1}        # a float range
      cost_bits: {low: 4, high: 8, step: 2}                  # an int range with a step
    fixed: {seed: 1}                # config every trial shares (the base config)
    objectives: [error, energy]     # OBJECTIVES (see objectives.py)
    constraints: ["error <= 0.5"]
    sampler: nsga2                  # grid, tpe, nsga2 (default: tpe, nsga2 for >1 objective)
    trials: 32
    seed: 0

A key is a top-level :class:`~sccompiler.config.CompileConfig` option (``length``, ``sources``,
...), ``defaults.KEY`` (a :class:`~sccompiler.config.LayerConfig` option of every layer) or
``LAYER.KEY`` (one layer's option).  Every value a parameter can take is checked by building the
config with it, so a bad key or value fails here with the compiler's own message, before any trial.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..config import CompileConfig, LayerConfig, config_from_dict
from ..errors import ConfigError
from ..io import parse_json, read_text
from .objectives import Constraint, Objective, parse_constraint, parse_objectives

SAMPLERS = ("grid", "tpe", "nsga2")
#: top-level config keys a space may search (the others are structural: flow, disable, layers, schedule)
TOP_KEYS = ("length", "source", "lfsr_width", "sources", "source_fanout", "seed", "input_encoding",
            "input_range", "cost_bits", "target_error")
LAYER_KEYS = tuple(f.name for f in dataclasses.fields(LayerConfig))
#: most points a grid may have (its int ranges are expanded)
MAX_GRID = 100_000
MAX_TRIALS = 100_000


@dataclass(frozen=True)
class Param:
    """One searched key: ``choices`` (categorical) or a ``low``..``high`` range."""

    key: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False

    def grid_values(self) -> list:
        if self.choices is not None:
            return list(self.choices)
        if not self.integer:
            raise ConfigError(f"space: params.{self.key}: a float range cannot be a grid; give a list of values")
        step = int(self.step or 1)
        n = (int(self.high) - int(self.low)) // step + 1
        if n > MAX_GRID:
            raise ConfigError(f"space: params.{self.key}: the range has {n} points, "
                              f"more than a grid allows ({MAX_GRID})")
        return list(range(int(self.low), int(self.high) + 1, step))

    def corners(self) -> list:
        """The values checked against the config: every choice, or a range's ends."""
        if self.choices is not None:
            return list(self.choices)
        return [int(self.low), int(self.high)] if self.integer else [self.low, self.high]

    def to_json(self) -> dict:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step, "int": self.integer}


@dataclass(frozen=True)
class Space:
    """A parsed, checked search space (see the module docstring)."""

    params: tuple[Param, ...]
    fixed: Mapping[str, Any]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    sampler: str
    trials: int
    seed: int

    def grid(self) -> dict[str, list]:
        return {p.key: p.grid_values() for p in self.params}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def config_dict(self, values: Mapping[str, Any]) -> dict:
        """The full compiler config (a plain mapping) of one point: ``fixed`` with ``values`` set."""
        return set_keys(self.fixed, values)

    def to_json(self) -> dict:
        return {"params": {p.key: p.to_json() for p in self.params}, "fixed": dict(self.fixed),
                "objectives": [o.name for o in self.objectives],
                "constraints": [c.text for c in self.constraints], "sampler": self.sampler,
                "trials": self.trials, "seed": self.seed}


def set_keys(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    """``base`` (a config mapping) with dotted keys ``values`` set (``defaults.K``, ``LAYER.K``)."""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in base.items()}
    for key, value in values.items():
        head, _, tail = key.partition(".")
        if not tail:
            out[key] = value
        elif head == "defaults":
            out.setdefault("defaults", {})[tail] = value
        else:
            layers = out.setdefault("layers", {})
            layers[head] = {**(layers.get(head) or {}), tail: value}
    return out


def _param(key: str, spec: Any, layers: tuple[str, ...]) -> Param:
    where = f"space: params.{key}"
    head, _, tail = key.partition(".")
    if not tail:
        if key not in TOP_KEYS:
            raise ConfigError(f"{where}: unknown config key {key!r}; searchable top-level keys: {', '.join(TOP_KEYS)}, "
                              "or defaults.KEY / LAYER.KEY")
    else:
        if head != "defaults" and head not in layers:
            raise ConfigError(f"{where}: {head!r} is neither 'defaults' nor a layer of the model "
                              f"({', '.join(layers) or 'none'})")
        if tail not in LAYER_KEYS:
            raise ConfigError(f"{where}: unknown layer option {tail!r}; known: {', '.join(LAYER_KEYS)}")
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: an empty list of values")
        if any(isinstance(v, (list, dict)) for v in spec):
            raise ConfigError(f"{where}: values must be scalars (numbers, strings, null)")
        if len(set(map(repr, spec))) != len(spec):
            raise ConfigError(f"{where}: repeated values in {spec!r}")
        return Param(key, choices=tuple(spec))
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a list of values or a range {{low, high[, log, step]}}, "
                          f"got {type(spec).__name__}")
    unknown = sorted(set(spec) - {"low", "high", "log", "step"})
    if unknown or "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: a range needs keys low and high (optional: log, step)"
                          + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else ""))
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    nums = [v for v in (low, high, step) if v is not None]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in nums):
        raise ConfigError(f"{where}: low, high and step must be finite numbers")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false")
    if not low < high:
        raise ConfigError(f"{where}: low must be less than high, got {low!r} .. {high!r}")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0")
    if step is not None and (step <= 0 or log):
        raise ConfigError(f"{where}: step must be positive and cannot be combined with log")
    integer = all(isinstance(v, int) for v in nums)
    return Param(key, low=low, high=high, log=log, step=step, integer=integer)


def parse_space(data: Any, model=None, *, where: str = "space") -> Space:
    """Check a space mapping (as read from SPACE.yaml) against the config and ``model``'s layers."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: the top level must be a mapping with 'params' (and objectives, ...)")
    known = {"params", "fixed", "objectives", "constraints", "sampler", "trials", "seed"}
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
    raw = data.get("params")
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where}: empty space: 'params' must map at least one config key to its values")
    layers = tuple(lay.name for lay in model.layers) if model is not None else ()
    params = tuple(_param(str(k), v, layers) for k, v in raw.items())
    fixed = data.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise ConfigError(f"{where}: fixed: expected a mapping of config options")
    try:
        base = config_from_dict(fixed)
    except ConfigError as exc:
        raise ConfigError(f"{where}: fixed: {exc}") from None
    for name, _ in base.layers:
        if model is not None and name not in layers:
            raise ConfigError(f"{where}: fixed: layers.{name}: not a layer of the model ({', '.join(layers)})")
    for p in params:   # every choice (a range's ends) must make a valid config
        for v in p.corners():
            try:
                config_from_dict(set_keys(fixed, {p.key: v}))
            except ConfigError as exc:
                raise ConfigError(f"{where}: params.{p.key} = {v!r}: {exc}") from None
    objectives = parse_objectives(data.get("objectives", ["error", "energy"]), where)
    cons = data.get("constraints") or []
    if not isinstance(cons, list):
        raise ConfigError(f"{where}: constraints: expected a list such as ['error <= 0.05']")
    constraints = tuple(parse_constraint(c, where) for c in cons)
    sampler = data.get("sampler") or ("nsga2" if len(objectives) > 1 else "tpe")
    if sampler not in SAMPLERS:
        raise ConfigError(f"{where}: sampler: must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    trials, seed = data.get("trials", 32), data.get("seed", 0)
    for name, v, hi in (("trials", trials, MAX_TRIALS), ("seed", seed, 2**32 - 1)):
        if isinstance(v, bool) or not isinstance(v, int) or not (1 if name == "trials" else 0) <= v <= hi:
            lo = 1 if name == "trials" else 0
            raise ConfigError(f"{where}: {name}: must be an integer in [{lo}, {hi}], got {v!r}")
    space = Space(params, dict(fixed), objectives, constraints, sampler, trials, seed)
    if sampler == "grid":
        space.grid_size()   # a float range or a huge grid is refused now
    return space


def load_space(path: str | Path, model=None, **overrides: Any) -> Space:
    """Read SPACE.yaml (or .json); ``overrides`` (trials, sampler, seed: CLI flags) replace its keys."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: space file not found")
    text = read_text(p, "space", ConfigError)
    data = _yaml(text, p) if p.suffix.lower() in (".yaml", ".yml") else parse_json(text, f"space {p}", ConfigError)
    if isinstance(data, Mapping):
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_space(data, model, where=str(p))


def check_config(space: Space, values: Mapping[str, Any]) -> CompileConfig:
    """The :class:`CompileConfig` of one point (raises ConfigError for an invalid combination)."""
    return config_from_dict(space.config_dict(values))


def _yaml(text: str, p: Path) -> Any:
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{p}: cannot parse the space: nested too deeply") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: cannot parse the space: {str(exc).splitlines()[0]}") from None
