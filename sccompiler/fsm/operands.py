"""Input models of the compiled design's WFSMs, built from the operands they see, and their sizing.

A WFSM's steady state depends on the whole per-cycle increment distribution of its APC input
(:mod:`.inputs`), so the compiler synthesizes each bank for the operand values the calibration
inputs actually produce: (sample, step, row) triplets of (f c/K, ..., i g) for tanh(c) and of
(w x a_x/u, w h a_h/u, bias streams) for the LSTM's integral gates, where zero weights and gated
zero inputs add exactly 0 (:func:`~sccompiler.fsm.inputs.gated_operand_input`).
"""

from __future__ import annotations

import math

import numpy as np

from ..config import MAX_FSM_STATES
from .inputs import GRID_MODELS, BinomialInput, PoissonBinomialInput, gated_operand_input

#: operand samples drawn per WFSM bank for its calibrated input model
OPERAND_SAMPLES = 256


def binomial_model(operands: np.ndarray) -> BinomialInput:
    """Binomial(M) with M the median operand count of the bank's rows (M equal-valued operands)."""
    return BinomialInput(int(round(float(np.median(operands)))))


def cell_operand_model(f: np.ndarray, i: np.ndarray, g: np.ndarray, c: np.ndarray, K: int,
                       rng: np.random.Generator) -> PoissonBinomialInput:
    """The tanh(c) FSM's input: K streams of f c_{t-1}/K and one of i g per (sample, step, row),
    from the traced gate values (B, T, H) and cell state c (c_{t-1} saturated to [-K, K])."""
    M = K + 1
    c_prev = np.concatenate([np.zeros_like(c[:, :1]), c[:, :-1]], axis=1)
    c_prev = np.clip(c_prev, -K, K)
    ops = np.concatenate([np.repeat((f * c_prev / K)[..., None], K, axis=-1), (i * g)[..., None]],
                         axis=-1).reshape(-1, M)
    pick = rng.choice(ops.shape[0], size=min(OPERAND_SAMPLES, ops.shape[0]), replace=False)
    return PoissonBinomialInput.from_array(np.clip(ops[pick], -1, 1))


def gate_operand_model(w_ih: np.ndarray, w_hh: np.ndarray, xs: np.ndarray, hs: np.ndarray,
                       bias: np.ndarray | None, gated_x: bool, rows: np.ndarray, rng: np.random.Generator):
    """The integral gates' input for ``rows``: operand values w x (x in units of its stream
    scale), w h and the bias constants (nb, R), from the layer's (B, T, I) inputs and (B, T, H)
    previous hidden states.  A zero weight switches its XNOR off, and so does a zero exact input
    when the bank is ``gated_x``."""
    S, T = xs.shape[:2]
    picks = rng.integers(0, S * T, size=OPERAND_SAMPLES)
    prow = rng.choice(rows, size=OPERAND_SAMPLES)
    xs, hs = xs.reshape(S * T, -1)[picks], hs.reshape(S * T, -1)[picks]
    x_on = (w_ih[prow] != 0) & ((xs != 0) if gated_x else True)
    values = [w_ih[prow] * xs, w_hh[prow] * hs]
    active = [x_on, w_hh[prow] != 0]
    if bias is not None:
        values.append(bias[:, prow].T)
        active.append(np.ones((prow.size, bias.shape[0]), dtype=bool))
    return gated_operand_input(np.concatenate(values, axis=1), np.concatenate(active, axis=1))


def increment_spread(model) -> float:
    """The largest per-cycle standard deviation of the increments d_t an input model gives
    (grid models at x = 0, where a binomial's spread peaks; sample models over their samples)."""
    tab = model.increments(np.zeros(1)) if isinstance(model, GRID_MODELS) else model.increments()
    d = np.asarray(tab.deltas, dtype=np.float64)
    mean = tab.pmf @ d
    var = tab.pmf @ (d * d) - mean * mean
    return float(np.sqrt(np.max(np.maximum(var, 0.0))))


def auto_state_candidates(spread: float, length: int) -> list[int]:
    """Powers of two from 16 up to the mixing cap 2^floor(log2(max(spread, 1) sqrt(L))) (at least
    16, at most MAX_FSM_STATES): a saturating counter moved by increments of per-cycle spread
    sigma diffuses across N states in ~(N/sigma)^2 cycles, so larger N no longer averages within
    one time step's L cycles (measured on the Shakespeare model, L = 1024: 256 states 3.12 bpc,
    512 states 3.28; at L = 4096 512 states give 2.95)."""
    cap = max(spread, 1.0) * math.sqrt(max(length, 1))
    top = int(min(MAX_FSM_STATES, max(16, 2 ** int(math.floor(math.log2(cap))))))
    return [1 << k for k in range(4, int(math.log2(top)) + 1)]
