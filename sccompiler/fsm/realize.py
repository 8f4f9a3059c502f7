"""Automatic choice of an activation realization (docs/activations.md).

For a target, an input kind, a max error and a stream length, :func:`realize_activation` builds
the smallest design of every realization family that meets the max error analytically -- a
weighted FSM over N (:func:`~.synth.synthesize_fsm`), a Bernstein/ReSC unit over the degree n
(:func:`~.bernstein.synthesize_bernstein`), a two-dimensional WFSM over N
(:func:`~.wfsm2d.synthesize_wfsm2d`) and a LUT+SNG over the address bits
(:func:`~.lut.synthesize_lut`) -- costs each with :mod:`sccompiler.cost.realizations`, measures
each at bit level (``points`` inputs x ``repeats`` seeds at the stream length) and picks the
cheapest (ASIC gate equivalents) that meets the error.  A family that cannot meet it reports the
error of its largest design; when none can, :attr:`Realization.chosen` is None and
:meth:`Realization.closest` names the candidate that came closest.

Bit level: ``simulated.max_error`` is the realized stream's error against the target (stream
noise included: a stream of L bits has a standard error sqrt(q(1-q)/L) in probability);
``simulated.z_max`` is the largest |mean over repeats - analytic| in units of the binomial
standard error of that mean, so values of a few mean that the hardware follows its analytic model
(independent copies, no start-up bias) to within stream noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cost.realizations import area, lut_inventory, resc_inventory, wfsm2d_inventory, wfsm_inventory
from ..errors import SCValueError, SynthesisError
from ..sim.realizations import lut_trace, simulate_resc, wfsm2d_trace
from ..sim.rules import check_int, resc_copy_width
from .bernstein import synthesize_bernstein
from .lut import synthesize_lut
from .synth import synthesize_fsm
from .targets import make_target
from .wfsm2d import STATES as WFSM2D_STATES
from .wfsm2d import synthesize_wfsm2d

KINDS = ("wfsm", "wfsm2d", "bernstein", "lut")
INPUT_KINDS = ("binary", "unipolar")  # plus "integral:M" (WFSM only)


@dataclass(frozen=True)
class Candidate:
    """One realization family's best design for the request."""

    kind: str
    params: dict[str, Any]
    analytic_max_error: float
    analytic_rmse: float
    meets: bool
    cost: dict[str, Any] | None
    simulated: dict[str, Any] | None = None
    note: str = ""
    design: Any = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params, "analytic_max_error": self.analytic_max_error,
                "analytic_rmse": self.analytic_rmse, "meets": self.meets, "cost": self.cost,
                "simulated": self.simulated, "note": self.note}

    @property
    def gate_equivalents(self) -> float:
        return math.inf if self.cost is None or self.cost["gate_equivalents"] is None else self.cost["gate_equivalents"]


@dataclass(frozen=True)
class Realization:
    expression: str
    input: str
    output: str
    domain: tuple[float, float]
    max_error: float
    length: int
    candidates: tuple[Candidate, ...]
    chosen: Candidate | None

    def closest(self) -> Candidate | None:
        built = [c for c in self.candidates if math.isfinite(c.analytic_max_error)]
        return min(built, key=lambda c: c.analytic_max_error) if built else None

    def unmet_message(self) -> str:
        best = self.closest()
        if best is None:
            return f"no realization could be built for {self.expression!r}"
        return (f"no realization of {self.expression!r} reaches max error {self.max_error:g}; the closest is "
                f"{best.kind} {describe(best)} at {best.analytic_max_error:.3g} ({best.note or 'its largest design'})")

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "input": self.input, "output": self.output,
                "domain": list(self.domain), "max_error": self.max_error, "length": self.length,
                "chosen": None if self.chosen is None else self.chosen.kind,
                "chosen_params": None if self.chosen is None else self.chosen.params,
                "candidates": [c.to_json() for c in self.candidates],
                "error_domain": f"errors are |target - realization| in the {self.output} output value domain"}


def describe(c: Candidate) -> str:
    return ", ".join(f"{k}={v}" for k, v in c.params.items() if k in ("states", "degree", "address_bits",
                                                                      "weight_bits", "coefficient_bits", "table_bits"))


def _sim_summary(sim: np.ndarray, analytic: np.ndarray, target: np.ndarray, length: int, bipolar: bool,
                 x: np.ndarray) -> dict:
    """sim: (R, B) simulated output values; analytic, target: (B,)."""
    to_p = (lambda v: (v + 1.0) / 2.0) if bipolar else (lambda v: v)
    q = np.clip(to_p(analytic), 0.0, 1.0)
    scale = 2.0 if bipolar else 1.0
    se = scale * np.sqrt(np.maximum(q * (1 - q), 1.0 / length) / (length * sim.shape[0]))
    z = (sim.mean(axis=0) - analytic) / se
    err = sim - target[None, :]
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "max_error": float(np.abs(err).max()),
            "mean_max_error": float(np.abs(sim.mean(axis=0) - target).max()),
            "z_max": float(np.abs(z).max()), "z_rms": float(np.sqrt(np.mean(z ** 2))),
            "binomial_sd": float(scale * np.sqrt(0.25 / length)), "repeats": int(sim.shape[0]),
            "x": [float(v) for v in x], "mean_output": [float(v) for v in sim.mean(axis=0)]}


def _xs(domain, points: int) -> np.ndarray:
    return np.linspace(domain[0], domain[1], points)


def _wfsm(tgt, E, inp, output, domain, max_states, length, points, repeats, seed, sim_on, width) -> Candidate:
    from .simulate import simulate_design  # noqa: PLC0415

    common = dict(input=inp, output=output, domain=domain, objective="minimax")
    note = ""
    try:
        d = synthesize_fsm(tgt, max_error=E, weight_bits=None, max_states=max_states, **common)
    except SynthesisError:
        d = synthesize_fsm(tgt, states=max_states, weight_bits=12, **common)
        note = f"largest design tried (N = {max_states})"
    deterministic = all(w in (0, 1 << d.weight_bits) for w in d.quantized_weights)
    operands = getattr(d.input, "operands", 1)
    inv = wfsm_inventory(d.states, d.weight_bits, width=width, max_step=max(1, operands), operands=operands,
                         deterministic=deterministic)
    simd = None
    if sim_on:
        s = [simulate_design(d, length=length, points=points, repeats=1, seed=seed + r) for r in range(repeats)]
        x = np.asarray(s[0].x)
        simd = _sim_summary(np.stack([np.asarray(v.mean_output) for v in s]), np.asarray(s[0].analytic_output),
                            d.target_value(x), length, output == "bipolar", x)
        simd["note"] = "FSM outputs are autocorrelated: their spread exceeds the binomial one"
    return Candidate("wfsm", {"states": d.states, "weight_bits": d.weight_bits, "input": d.input.name},
                     d.analytic_max_error, d.analytic_rmse, d.analytic_max_error <= E, area(inv, cycles=length),
                     simd, note, d)


def _bernstein(tgt, E, inp, output, domain, max_degree, length, points, repeats, seed, sim_on, width) -> Candidate:
    common = dict(input=inp, output=output, domain=domain)
    note = ""
    try:
        d = synthesize_bernstein(tgt, max_error=E, coefficient_bits=None, max_degree=max_degree, **common)
    except SynthesisError:
        d = synthesize_bernstein(tgt, degree=max_degree, coefficient_bits=12, max_degree=max_degree, **common)
        note = f"largest design tried (degree {max_degree})"
    cw = resc_copy_width(d.degree)
    inv = resc_inventory(d.degree, d.coefficient_bits, width=cw)
    simd = None
    if sim_on:
        x = _xs(d.domain, points)
        runs = [simulate_resc(x, d.quantized_coefficients, coefficient_bits=d.coefficient_bits, length=length,
                              input=inp, width=cw, seed=seed + r) for r in range(repeats)]
        val = np.stack(runs)
        val = 2.0 * val - 1.0 if output == "bipolar" else val
        simd = _sim_summary(val, d.output_value(x), d.target_value(x), length, output == "bipolar", x)
    return Candidate("bernstein", {"degree": d.degree, "coefficient_bits": d.coefficient_bits, "copy_width": cw,
                                   "quantized_coefficients": list(d.quantized_coefficients)},
                     d.analytic_max_error, d.analytic_rmse, d.analytic_max_error <= E, area(inv, cycles=length),
                     simd, note, d)


def _lut(tgt, E, inp, output, domain, max_bits, length, points, repeats, seed, sim_on, width) -> Candidate:
    common = dict(input=inp, output=output, domain=domain)
    note = ""
    try:
        d = synthesize_lut(tgt, max_error=E, table_bits=None, max_address_bits=max_bits, **common)
    except SynthesisError:
        d = synthesize_lut(tgt, address_bits=max_bits, table_bits=12, max_address_bits=max_bits, **common)
        note = f"largest design tried ({max_bits} address bits)"
    inv = lut_inventory(d.address_bits, d.table_bits)
    simd = None
    if sim_on:
        x = _xs(d.domain, points)
        runs = [lut_trace(x, d.table, table_bits=d.table_bits, address_bits=d.address_bits, domain=d.domain,
                          length=length, stream_input=False, width=width, seed=seed + r)["count"] / length
                for r in range(repeats)]
        val = np.stack(runs)
        val = 2.0 * val - 1.0 if output == "bipolar" else val
        simd = _sim_summary(val, d.output_value(x), d.target_value(x), length, output == "bipolar", x)
    return Candidate("lut", {"address_bits": d.address_bits, "table_bits": d.table_bits},
                     d.analytic_max_error, d.analytic_rmse, d.analytic_max_error <= E, area(inv, cycles=length),
                     simd, note, d)


def _wfsm2d(tgt, E, inp, output, domain, max_states, length, points, repeats, seed, sim_on, width) -> Candidate:
    top = max(s for s in WFSM2D_STATES if s <= max(2, max_states))
    common = dict(output=output, domain=domain)
    note = ""
    try:
        d = synthesize_wfsm2d(tgt, max_error=E, weight_bits=None, max_states=top, **common)
    except SynthesisError:
        d = synthesize_wfsm2d(tgt, states=top, weight_bits=12, max_states=top, **common)
        note = f"largest design tried (N = {top} per counter)"
    inv = wfsm2d_inventory(d.states, d.weight_bits, width=width)
    simd = None
    if sim_on:
        x = _xs(d.domain, points)
        runs = [wfsm2d_trace(x, d.quantized_table, states=d.states, weight_bits=d.weight_bits, length=length,
                             width=width, seed=seed + r)["count"] / length for r in range(repeats)]
        val = np.stack(runs)
        val = 2.0 * val - 1.0 if output == "bipolar" else val
        simd = _sim_summary(val, d.output_value(x), d.target_value(x), length, output == "bipolar", x)
        simd["note"] = "FSM outputs are autocorrelated: their spread exceeds the binomial one"
    return Candidate("wfsm2d", {"states": d.states, "weight_bits": d.weight_bits},
                     d.analytic_max_error, d.analytic_rmse, d.analytic_max_error <= E, area(inv, cycles=length),
                     simd, note, d)


_BUILDERS = {"wfsm": _wfsm, "wfsm2d": _wfsm2d, "bernstein": _bernstein, "lut": _lut}


def realize_activation(target, *, max_error: float, length: int = 1024, input: str = "binary",  # noqa: A002
                       output: str = "bipolar", domain: tuple[float, float] | None = None,
                       kinds: tuple[str, ...] = KINDS, max_states: int = 64, max_degree: int = 64,
                       max_address_bits: int = 12, simulate: bool = True, points: int = 33, repeats: int = 4,
                       seed: int = 1, width: int = 16) -> Realization:
    """Candidates of every family for ``target`` and the cheapest that meets ``max_error``."""
    if not (isinstance(max_error, (int, float)) and math.isfinite(max_error) and max_error > 0):
        raise SCValueError("max_error", f"must be a positive number, got {max_error!r}")
    check_int("length", length, 1, 1 << 24)
    check_int("points", points, 2, 4096)
    check_int("repeats", repeats, 1, 64)
    check_int("seed", seed, 0)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise SCValueError("kinds", f"expected a non-empty subset of {KINDS}, got {list(kinds)}")
    integral = isinstance(input, str) and input.startswith("integral")
    if not integral and input not in INPUT_KINDS:
        raise SCValueError("input", f"expected one of {INPUT_KINDS} or integral:M, got {input!r}")
    tgt = make_target(target)
    limits = {"wfsm": max_states, "wfsm2d": min(max_states, 16), "bernstein": max_degree, "lut": max_address_bits}
    cands = []
    for kind in kinds:
        if kind != "wfsm" and integral:
            cands.append(Candidate(kind, {}, math.inf, math.inf, False, None, None,
                                   "takes a bit-stream input, not an integral (APC) one"))
            continue
        if kind in ("wfsm", "wfsm2d") and input == "unipolar":
            cands.append(Candidate(kind, {}, math.inf, math.inf, False, None, None,
                                   "the saturating counter's input model is bipolar"))
            continue
        cands.append(_BUILDERS[kind](tgt, float(max_error), input, output, domain, limits[kind], int(length),
                                     points, repeats, seed, simulate, width))
    ok = [c for c in cands if c.meets]
    chosen = min(ok, key=lambda c: c.gate_equivalents) if ok else None
    dom = next((tuple(c.design.domain) for c in cands if c.design is not None), tuple(domain or (-1.0, 1.0)))
    return Realization(tgt.description, str(input), output, dom, float(max_error), int(length), tuple(cands), chosen)
