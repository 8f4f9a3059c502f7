"""sccompiler: compile quantized LSTM/GRU networks into stochastic-computing hardware.

The Python API mirrors the ``scc`` CLI verbs.  Names are imported lazily so that ``import
sccompiler`` stays cheap (cvxpy, numba and onnx load only when used).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# numba's OpenMP threads (the packed runtime's ``workers``) spin after every parallel region by
# default (libgomp's ACTIVE wait), which on a 2-core machine takes a core from the serial part of
# every step: workers=2 measured 26 ms CPU and 26 ms wall per Shakespeare step, PASSIVE 14 / 17
# (docs/compiler.md).  libgomp reads this once, when numba first starts its threads; a value the
# user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import (  # noqa: F401  (re-exported)
    ConfigError,
    ExpressionError,
    InvalidWeightsError,
    MissingDependencyError,
    ModelFormatError,
    OutputExistsError,
    SCCError,
    SCValueError,
    SimulationError,
    SynthesisError,
    ToolMissingError,
    UnsupportedOpError,
)

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    "load_model": "sccompiler.frontends",
    "save_model": "sccompiler.frontends.native",
    "inspect_model": "sccompiler.inspect",
    "quantize_model": "sccompiler.quantize",
    "forward": "sccompiler.reference",
    "synthesize_fsm": "sccompiler.fsm",
    "compile_model": "sccompiler.design",
    "load_design": "sccompiler.design",
    "CompiledDesign": "sccompiler.design",
    "CompileConfig": "sccompiler.config",
    "load_config": "sccompiler.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sccompiler' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
