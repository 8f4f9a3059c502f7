"""Compiler configuration: frozen dataclasses, per-layer overrides, YAML/JSON loading.

Every datapath decision the XNOR-LSTM paper leaves open is an explicit option here; the
defaults and their cost/accuracy trade-offs are documented in docs/compiler.md.  A config file
(YAML or JSON) looks like::

    length: 256
    seed: 1
    defaults: {hidden: stream, gate_input: auto}
    layers:
      lstm0: {hidden: sign, gate_fsm_states: 64}
    disable: [synthesize_fsms]

Unknown keys, wrong types and out-of-range values raise :class:`~sccompiler.errors.ConfigError`
naming the offending key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import ConfigError
from .io import parse_json, read_text
from .sim.rules import int_problem

GATE_INPUTS = ("auto", "table", "integral_wfsm")
HIDDEN = ("auto", "stream", "sign", "ternary")
FSM_STATE = ("carry", "reset")
BIAS_ENCODINGS = ("streams", "offset")
FSM_INPUT_MODELS = ("auto", "binomial")
INPUT_ENCODINGS = ("auto", "real", "exact")
BN_STEPS = ("tables", "last", "mean")
GATE_SNGS = ("shared", "per_gate")
#: where an LSTM's binary h_t is decided: from the cell state's count (exact given c: no tanh(c)
#: WFSM, no o stream, no h counter) or from the counted stream of o * tanh(c)
SIGN_FROM = ("cell", "output")
SOURCES = ("lfsr", "sobol", "auto")
#: random-source registers: one per comparator, or shared by comparators whose streams never meet
SOURCE_MODES = ("private", "shared")
METRICS = ("mean_abs", "max_abs")


@dataclass(frozen=True)
class LayerConfig:
    """Options of one recurrent/dense layer (defaults in docs/compiler.md).

    gate_input: how a gate's pre-activation enters its nonlinearity: ``table`` (exact integer
      pre-activation from XNOR+popcount, folded affine + activation table, then an SNG; needs
      binary/ternary weights and exact operands), ``integral_wfsm`` (all operands as bipolar
      streams, XNOR + parallel counter into an integral stream driving a WFSM synthesized for the
      folded target: the paper's option), ``auto`` (table when exact, else integral_wfsm).
    hidden: ``stream`` (h_t = counter value, requantized to sng_bits and re-encoded by SNGs),
      ``sign`` (binary h_t = sign of the counter value: exact XNOR inputs for the next step) or
      ``auto`` (default: ``sign`` for a layer whose model has binary hidden states,
      ``hidden_activation: sign``, ``ternary`` for one with ternary hidden states,
      ``hidden_activation: ternary``, else ``stream``; ``stream`` on such a layer is refused: it
      would compute another network), ``ternary`` (GXNOR h_t in {-1, 0, +1}: the counter value
      d = 2 C - L against the integer threshold k = ceil(r L) of the layer's ``hidden_threshold``
      r, ``sim.rules.ternary_decode``; a zero state switches its XNORs off, the state skipping the
      cost model counts).  An LSTM with ternary h always counts o XNOR tanh(c) (``sign_from`` is
      ``output``: |o tanh(c)| >= r depends on o, which the cell count alone does not see).
    sign_from (LSTM, ``hidden: sign``): ``cell`` (default) decides h_t = sign(o tanh(BNc(c_t))) =
      sign(BNc(c_t)) from the count of c_t's integral stream against a per-step threshold
      (``sim.rules.cell_sign_thresholds``), since o > 0: no tanh(c) WFSM, o stream or h counter,
      and no sign error where |o tanh(c)| is small; ``output`` counts the o XNOR tanh(c) stream
      (the paper's datapath).
    cell_range: K; c_t is stored saturated to [-K, K] and re-encoded as K streams of c/K, so that
      f*c + i*g is an integral stream of K+1 bits.
    length: this layer's stream length L (cycles per time step); None = the global length.
    sng_bits: comparator width n of the SNGs; None = max(4, ceil(log2 L)).
    bias_encoding (integral_wfsm gates): ``streams`` = ceil(max|b|/u) constant-value bias SNGs
      per row (the APC sees only random +-1 operands, as the FSM's input model assumes), or
      ``offset`` = the integer part of b/u as a wired constant increment plus one SNG for the
      rest (far fewer SNGs, but the FSM sees a deterministic drift its model does not have: an
      error floor, measured in docs/compiler.md).
    gate_fsm_states / cell_fsm_states: states N of the gate / tanh(c) WFSMs, or ``auto``: per
      WFSM bank the smallest power of two N >= 16 whose analytic RMSE (under the bank's input
      model) is <= ``fsm_tolerance``, capped by the stream length: an integer-step FSM driven by
      increments of per-cycle spread sigma needs ~(N/sigma)^2 cycles to forget its state, so N is
      kept <= sigma sqrt(L) (docs/compiler.md §3, "WFSM size").
    fsm_tolerance: the analytic RMSE target of ``auto`` state counts (default 0.03, about the
      stream noise at L = 1024); an explicit N whose RMSE exceeds it is a report warning.
    fsm_input_model: ``auto`` = synthesize each WFSM for the Poisson-binomial distribution of the
      operand values seen on the calibration inputs when they are given (LSTM gates with binary
      weights and bias streams, tanh(c)), else Binomial(M); ``binomial`` = always Binomial(M).
    bn_steps: batch norms with per-time-step statistics (``BatchNormParams.per_step``):
      ``tables`` (default) = exact per-step folding: the LSTM's bn_c becomes a bank of tanh(c)
      WFSM weight tables indexed by the time step (a ROM of T_stats tables; steps beyond the
      last statistics row use the last row, as ``BatchNormParams.at``), per-step bn_x/bn_h
      per-step gate tables (table gates) or per-step WFSM table banks, bias constants and x-stream
      gains (integral gates); ``last`` / ``mean`` = one time-invariant affine per batch norm (the
      last statistics row, or the mean of the per-step scales and shifts): one table, no ROM, no
      per-step constants; the design reference
      (golden) uses the same collapsed batch norm, so the report's ``design_vs_quantized`` and
      ``batchnorm`` entries show the accuracy it costs.
    head_weight_bits (dense layers whose weights are not binary/ternary: a float head, or one
      quantized to more levels): K of the head's fixed-point weights, Wq = round(W / s) in
      [-(2^(K-1)-1), 2^(K-1)-1] with one symmetric scale s = max|W| / (2^(K-1)-1) per tensor; an
      int:K-quantized tensor keeps its own K and scale.  The head multiplies Wq with the integer h
      the SC core produces (exact codes, or per-input stream counts) and accumulates exactly.
    head_macs (the same heads): ``full`` (default) = one multiplier per weight, combinational,
      read when its operands are final; an integer P >= 1 = a sequential (folded) MAC of P
      multiply-accumulate units shared over the head's outputs x inputs: its operands are
      captured, then ceil(outputs * inputs / P) cycles accumulate (docs/semantics.md, "Sequential
      MAC"); a head per step overlaps the next step, and stretches the step period when its
      1 + ceil(outputs * inputs / P) cycles exceed it; ``auto`` = the smallest P that fits one step
      period (never stretches it).
    """

    gate_input: str = "auto"
    hidden: str = "auto"
    cell_range: int = 2
    gate_fsm_states: int | str = 32
    cell_fsm_states: int | str = 16
    fsm_tolerance: float = 0.03
    fsm_weight_bits: int = 8
    fsm_state: str = "carry"
    sng_bits: int | None = None
    length: int | None = None
    bias_encoding: str = "streams"
    fsm_input_model: str = "auto"
    bn_steps: str = "tables"
    gate_sngs: str = "shared"
    sign_from: str = "cell"
    head_weight_bits: int = 8
    head_macs: int | str = "full"

    def __post_init__(self) -> None:
        _choice("sign_from", self.sign_from, SIGN_FROM)
        _choice("gate_sngs", self.gate_sngs, GATE_SNGS)
        _choice("bn_steps", self.bn_steps, BN_STEPS)
        _choice("fsm_input_model", self.fsm_input_model, FSM_INPUT_MODELS)
        _choice("bias_encoding", self.bias_encoding, BIAS_ENCODINGS)
        _choice("gate_input", self.gate_input, GATE_INPUTS)
        _choice("hidden", self.hidden, HIDDEN)
        _choice("fsm_state", self.fsm_state, FSM_STATE)
        _int("cell_range", self.cell_range, 1, 8)
        for key in ("gate_fsm_states", "cell_fsm_states"):
            if getattr(self, key) != "auto":
                _int(key, getattr(self, key), 2, MAX_FSM_STATES)
        if isinstance(self.fsm_tolerance, bool) or not isinstance(self.fsm_tolerance, (int, float)) \
                or not 0 < self.fsm_tolerance < 1:
            raise ConfigError(f"fsm_tolerance: must be a number in (0, 1), got {self.fsm_tolerance!r}")
        _int("fsm_weight_bits", self.fsm_weight_bits, 1, 16)
        _int("head_weight_bits", self.head_weight_bits, 2, 16)
        if self.head_macs not in ("full", "auto"):
            if isinstance(self.head_macs, bool) or not isinstance(self.head_macs, int) or self.head_macs < 1:
                raise ConfigError(f"head_macs: must be 'full', 'auto' or an integer >= 1 (multiply-accumulate "
                                  f"units), got {self.head_macs!r}")
        if self.sng_bits is not None:
            _int("sng_bits", self.sng_bits, 1, 24)
        if self.length is not None:
            _int("length", self.length, 1, 1 << 20)

    def bits_for(self, length: int) -> int:
        return self.sng_bits if self.sng_bits is not None else max(4, math.ceil(math.log2(max(length, 2))))


@dataclass(frozen=True)
class ScheduleConfig:
    """Bitstream-length scheduling: candidate lengths, metric, safety margin, samples used, and
    whether layers are shortened individually after the uniform choice (``per_layer``)."""

    lengths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    metric: str = "mean_abs"
    margin: float = 0.8
    max_samples: int = 16
    per_layer: bool = True

    def __post_init__(self) -> None:
        if not self.lengths or any(isinstance(v, np.integer) or int_problem(v, 1) is not None
                                   for v in self.lengths):
            raise ConfigError(f"schedule.lengths: need positive integers, got {self.lengths!r}")
        object.__setattr__(self, "lengths", tuple(sorted(set(self.lengths))))
        _choice("schedule.metric", self.metric, METRICS)
        if not (isinstance(self.margin, (int, float)) and 0 < self.margin <= 1):
            raise ConfigError(f"schedule.margin: must be in (0, 1], got {self.margin!r}")
        _int("schedule.max_samples", self.max_samples, 1, 1 << 16)


@dataclass(frozen=True)
class CompileConfig:
    """Whole-compile options.  ``layers`` holds per-layer overrides as (name, LayerConfig)."""

    length: int = 256
    target_error: float | None = None
    source: str = "lfsr"
    lfsr_width: int = 32
    sources: str = "shared"
    source_fanout: int | None = None
    seed: int = 1
    input_encoding: str = "auto"
    input_range: float | None = None
    flow: str = "default"
    disable: tuple[str, ...] = ()
    cost_target: str = "asic-generic"
    cost_bits: int = 8
    max_steps: int | None = None
    defaults: LayerConfig = field(default_factory=LayerConfig)
    layers: tuple[tuple[str, LayerConfig], ...] = ()
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def __post_init__(self) -> None:
        _int("length", self.length, 1, 1 << 20)
        _choice("source", self.source, SOURCES)
        _int("lfsr_width", self.lfsr_width, 16, 32)
        _choice("sources", self.sources, SOURCE_MODES)
        if self.source_fanout is not None:
            _int("source_fanout", self.source_fanout, 1, 1 << 20)
        _int("seed", self.seed, 0, 2**63)
        _choice("input_encoding", self.input_encoding, INPUT_ENCODINGS)
        if self.target_error is not None and not (isinstance(self.target_error, (int, float))
                                                  and 0 < self.target_error < math.inf):
            raise ConfigError(f"target_error: must be a positive number, got {self.target_error!r}")
        if self.input_range is not None and not (isinstance(self.input_range, (int, float)) and self.input_range > 0):
            raise ConfigError(f"input_range: must be a positive number, got {self.input_range!r}")
        _int("cost_bits", self.cost_bits, 2, 16)
        if self.max_steps is not None:
            _int("max_steps", self.max_steps, 1, 1 << 20)
        for key in ("flow", "cost_target"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"{key}: expected a name (string), got {type(getattr(self, key)).__name__}")
        object.__setattr__(self, "disable", tuple(self.disable))
        names = [n for n, _ in self.layers]
        if len(set(names)) != len(names):
            raise ConfigError(f"layers: duplicate layer overrides in {names}")

    def layer(self, name: str) -> LayerConfig:
        """The effective options of layer ``name`` (override or defaults)."""
        for n, cfg in self.layers:
            if n == name:
                return cfg
        return self.defaults

    def layer_length(self, name: str) -> int:
        cfg = self.layer(name)
        return cfg.length if cfg.length is not None else self.length

    def replace(self, **changes: Any) -> "CompileConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        def plain(obj):
            return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        d = plain(self)
        d["defaults"] = plain(self.defaults)
        d["schedule"] = plain(self.schedule) | {"lengths": list(self.schedule.lengths)}
        d["layers"] = {n: _diff(cfg, self.defaults) for n, cfg in self.layers}
        d["disable"] = list(self.disable)
        return d


# ------------------------------------------------------------------------------------ helpers
#: largest WFSM state count (explicit or chosen by ``auto``)
MAX_FSM_STATES = 1024


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: must be one of {', '.join(allowed)}; got {value!r}")


def _int(key: str, value: Any, lo: int, hi: int) -> None:
    """The integer check of :func:`sccompiler.sim.rules.check_int` (same rule and wording),
    raised as a ConfigError; a config holds plain Python ints (a numpy integer is refused so
    that the config stays JSON-serializable and hashable into cache keys)."""
    problem = (int_problem(value, lo, hi) if not isinstance(value, np.integer)
               else f"must be a Python int, got {type(value).__name__} {value!r}")
    if problem is not None:
        raise ConfigError(f"{key}: {problem}")


def _diff(cfg: LayerConfig, base: LayerConfig) -> dict:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
            if getattr(cfg, f.name) != getattr(base, f.name)}


def _build(cls, data: Mapping, where: str, base=None):
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
    try:
        return dataclasses.replace(base, **data) if base is not None else cls(**data)
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc}" if where not in ("", "config") else str(exc)) from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def config_from_dict(data: Mapping | None, **overrides: Any) -> CompileConfig:
    """Build a :class:`CompileConfig` from a plain mapping (as read from YAML/JSON) plus keyword
    overrides (CLI flags); per-layer overrides are merged over ``defaults``."""
    d = dict(data or {})
    d.update({k: v for k, v in overrides.items() if v is not None})
    if not isinstance(data or {}, Mapping):
        raise ConfigError("config: expected a mapping at the top level")
    defaults_raw = d.pop("defaults", {}) or {}
    if not isinstance(defaults_raw, Mapping):
        raise ConfigError(f"defaults: expected a mapping of options, got {type(defaults_raw).__name__}")
    defaults = _build(LayerConfig, defaults_raw, "defaults")
    layers_raw = d.pop("layers", {}) or {}
    if not isinstance(layers_raw, Mapping):
        raise ConfigError("layers: expected a mapping of layer name -> options")
    for n, o in layers_raw.items():
        if not isinstance(n, str) or not (o is None or isinstance(o, Mapping)):
            raise ConfigError(f"layers.{n}: expected a layer name mapped to a mapping of options")
    layers = tuple((str(n), _build(LayerConfig, o or {}, f"layers.{n}", base=defaults)) for n, o in layers_raw.items())
    sched_in = d.pop("schedule", {}) or {}
    if not isinstance(sched_in, Mapping):
        raise ConfigError(f"schedule: expected a mapping of options, got {type(sched_in).__name__}")
    sched_raw = dict(sched_in)
    if "lengths" in sched_raw and isinstance(sched_raw["lengths"], list):
        sched_raw["lengths"] = tuple(sched_raw["lengths"])
    schedule = _build(ScheduleConfig, sched_raw, "schedule")
    if "disable" in d:
        if not isinstance(d["disable"], (list, tuple)) or not all(isinstance(x, str) for x in d["disable"]):
            raise ConfigError("disable: expected a list of pass names")
        d["disable"] = tuple(d["disable"])
    d.update(defaults=defaults, layers=layers, schedule=schedule)
    return _build(CompileConfig, d, "config")


def load_config(path: str | Path | None, settings: "list[str] | tuple[str, ...]" = (), **overrides: Any
                ) -> CompileConfig:
    """Read a YAML (.yaml/.yml) or JSON config file; ``None`` gives the defaults.  ``settings``:
    ``KEY=VALUE`` assignments merged over the file (:func:`apply_settings`); ``overrides``:
    keyword values (CLI flags; None = not given) over both."""
    if path is None:
        return config_from_dict(apply_settings({}, settings), **overrides)
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    text = read_text(p, "config", ConfigError)
    if p.suffix.lower() not in (".yaml", ".yml"):
        data = parse_json(text, f"config {p}", ConfigError)
    else:
        data = _parse_yaml(text, p)
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{p}: the top level must be a mapping")
    try:
        return config_from_dict(apply_settings(data or {}, settings), **overrides)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def _parse_yaml(text: str, p: Path) -> Any:
    try:
        import yaml  # noqa: PLC0415

        return yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{p}: cannot parse config: nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any parse error is a config error with its message
        raise ConfigError(f"{p}: cannot parse config: {str(exc).splitlines()[0]}") from None


# ------------------------------------------------------------------------ KEY=VALUE overrides
def config_keys() -> dict[str, tuple[str, ...]]:
    """The keys ``--set`` accepts: whole-compile keys, layer keys (for every layer, or one layer
    as ``LAYER.KEY``) and ``schedule.KEY``."""
    top = tuple(f.name for f in dataclasses.fields(CompileConfig) if f.name not in ("defaults", "layers", "schedule"))
    return {"compile": top, "layer": tuple(f.name for f in dataclasses.fields(LayerConfig)),
            "schedule": tuple(f.name for f in dataclasses.fields(ScheduleConfig))}


def _parse_value(text: str) -> Any:
    """A YAML scalar or flow collection (``64``, ``0.5``, ``auto``, ``null``, ``[16, 32]``)."""
    import yaml  # noqa: PLC0415

    try:
        return yaml.safe_load(text) if text.strip() else None
    except Exception:  # noqa: BLE001 - unparsable: keep the text, the key's validation names the problem
        return text


def apply_settings(data: Mapping | None, settings: "list[str] | tuple[str, ...]") -> dict:
    """``data`` (a config mapping, as read from YAML) with ``KEY=VALUE`` assignments merged in.

    ``KEY`` is a whole-compile key (``length``, ``input_range``, ``seed``, ...), a layer key
    (``gate_fsm_states``, ``bias_encoding``, ...: sets ``defaults``, so every layer), ``LAYER.KEY``
    (that layer only), ``defaults.KEY`` or ``schedule.KEY``; ``VALUE`` is read as YAML (``64``,
    ``0.5``, ``auto``, ``[16, 32]``).  An unknown key is one :class:`ConfigError` naming the valid
    ones; values are validated when the config is built (:func:`config_from_dict`)."""
    keys = config_keys()
    out: dict = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dict(data or {}).items()}
    valid = (f"whole-compile keys {', '.join(keys['compile'])}; layer keys {', '.join(keys['layer'])} "
             f"(for every layer, or LAYER.KEY for one); schedule.KEY for {', '.join(keys['schedule'])}")
    for item in settings:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE (e.g. --set gate_fsm_states=64)")
        value = _parse_value(raw)
        head, dot, tail = key.rpartition(".")
        if key in keys["compile"]:
            if key == "disable" and isinstance(value, str):
                value = [value]
            out[key] = value
        elif not dot and key in keys["layer"]:
            out["defaults"] = {**(out.get("defaults") or {}), key: value}
        elif head == "schedule" and tail in keys["schedule"]:
            out["schedule"] = {**(out.get("schedule") or {}), tail: value}
        elif head == "defaults" and tail in keys["layer"]:
            out["defaults"] = {**(out.get("defaults") or {}), tail: value}
        elif dot and tail in keys["layer"] and head not in ("schedule", "defaults"):
            layer = head[len("layers."):] if head.startswith("layers.") else head
            layers = dict(out.get("layers") or {})
            layers[layer] = {**(layers.get(layer) or {}), tail: value}
            out["layers"] = layers
        else:
            raise ConfigError(f"--set {key}: unknown key; valid: {valid}")
    return out


def config_to_yaml(cfg: CompileConfig) -> str:
    """The complete effective config as YAML that :func:`load_config` reads back to ``cfg``."""
    import yaml  # noqa: PLC0415

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None)
