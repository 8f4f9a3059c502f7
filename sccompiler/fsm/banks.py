"""Synthesis of a WFSM bank: one weight table per (step, group) of rows that share a target
act(gain z + shift) and an input model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import MAX_FSM_STATES
from ..ir.sc import SIGMOID, SIGMOID_UNIPOLAR, TANH
from .synth import synthesize_fsm

TARGET_NAMES = {SIGMOID: "sigmoid", TANH: "tanh", SIGMOID_UNIPOLAR: "sigmoid (unipolar)"}
#: evaluation grid of bank synthesis
GRID = 401


def target_function(act: int, gain: float, shift: float = 0.0):
    """act(gain z + shift) as a vectorized function of z."""
    if act in (SIGMOID, SIGMOID_UNIPOLAR):
        return lambda z: 1.0 / (1.0 + np.exp(-(gain * np.asarray(z, dtype=float) + shift)))
    return lambda z: np.tanh(gain * np.asarray(z, dtype=float) + shift)


@dataclass(frozen=True)
class GroupModel:
    """A group's input model and whether it came from calibration data (then its samples set the
    fit's domain; otherwise the domain is where the target still changes)."""

    model: object
    calibrated: bool


def synthesize_bank(acts: np.ndarray, gains: np.ndarray, shifts: np.ndarray, models: list[GroupModel],
                    states: int, weight_bits: int) -> tuple[np.ndarray, list[dict]]:
    """Every (step, group) table at ``states`` states: ((T, G, N) quantized weights, one report
    entry per table).  ``gains`` / ``shifts``: (T, G)."""
    tables = np.zeros((gains.shape[0], len(models), states), dtype=np.int64)
    entries = []
    for g, act in enumerate(acts):
        model, calibrated = models[g].model, models[g].calibrated
        M = model.max_step
        for t in range(tables.shape[0]):
            gain, shift = float(gains[t, g]), float(shifts[t, g])
            kwargs = {}
            if not calibrated:
                zmax = min(float(M), max(1.0, (8.0 + abs(shift)) / max(abs(gain), 1e-12)))
                kwargs["domain"] = (-zmax, zmax)
            out_enc = "unipolar" if int(act) == SIGMOID_UNIPOLAR else "bipolar"
            d = synthesize_fsm(target_function(int(act), gain, shift), states=states, input=model,
                               weight_bits=weight_bits, grid=GRID, output=out_enc, max_states=MAX_FSM_STATES, **kwargs)
            tables[t, g] = np.asarray(d.quantized_weights, dtype=np.int64)
            entries.append({"group": g, "step": t, "target": TARGET_NAMES[int(act)], "gain": gain, "shift": shift,
                            "input_model": model.name, "states": states, "analytic_rmse": d.analytic_rmse,
                            "analytic_max_error": d.analytic_max_error,
                            "baseline_max_error": d.baseline.analytic_max_error})
    return tables, entries
