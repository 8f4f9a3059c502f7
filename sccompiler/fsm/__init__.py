"""Weighted-FSM models and their synthesis by convex optimization.

Public API: :func:`synthesize_fsm` -> :class:`FSMDesign`; :func:`simulate_design` measures the
bit-level error of a design with the cycle-accurate simulator; input models in :mod:`.inputs`,
steady states in :mod:`.steady`, safe target parsing in :mod:`.targets`.
"""

from .cache import clear_cache
from .inputs import BinaryInput, BinomialInput, EmpiricalInput, PoissonBinomialInput, gated_operand_input, parse_input
from .simulate import SimulatedError, simulate_design
from .steady import binary_steady_state, chain_steady_state, steady_state
from .synth import Baseline, FSMDesign, stanh_weights, synthesize_fsm
from .targets import make_target, parse_expression

__all__ = [
    "Baseline", "BinaryInput", "BinomialInput", "EmpiricalInput", "FSMDesign", "PoissonBinomialInput",
    "gated_operand_input",
    "binary_steady_state", "chain_steady_state", "clear_cache", "make_target", "parse_expression",
    "parse_input", "SimulatedError", "simulate_design", "stanh_weights", "steady_state", "synthesize_fsm",
]
