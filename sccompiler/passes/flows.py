"""The flows: named pass lists (the compiler's visible pipeline).

``default``::

    check_model -> calibrate* -> plan_datapath -> fold_batchnorm -> lower_layers -> gate_zero_inputs*
      -> synthesize_fsms* -> insert_sngs -> allocate_sources          (LOWER: builds a design at one L)
      -> schedule_length*                                             (driver step: the L search)
      -> accuracy_report* -> correlation_report* -> cost*             (reports on the final design)

(* optional: may be disabled by name).  The driver (:mod:`sccompiler.driver`) runs the passes up
to ``schedule_length`` once per candidate length, then the report passes once.  ``lower`` stops
after ``allocate_sources``; ``fast`` skips the accuracy and correlation reports.
"""

from __future__ import annotations

from . import (  # noqa: F401
               accuracy_report,
               allocate_sources,
               calibrate,
               check_model,
               correlation_report,
               cost,
               fold_batchnorm,
               gate_zero_inputs,
               insert_sngs,
               lower_layers,
               plan_datapath,
               synthesize_fsms,
)
from .registry import Pass, register

#: the driver step between lowering and the reports (carried out by sccompiler.driver)
SCHEDULE = "schedule_length"
register(Pass(SCHEDULE, None, "pick the stream length L meeting target_error at least cost (error model checked "
                              "by simulation); runs the lowering passes once per candidate L",
              requires=("allocate_sources",), optional=True))

LOWER = ("check_model", "calibrate", "plan_datapath", "fold_batchnorm", "lower_layers", "gate_zero_inputs",
         "synthesize_fsms", "insert_sngs", "allocate_sources")
FLOWS: dict[str, tuple[str, ...]] = {
    "lower": LOWER,
    "default": LOWER + (SCHEDULE, "accuracy_report", "correlation_report", "cost"),
    "fast": LOWER + (SCHEDULE, "cost"),
}
