"""Hardware cost models driven by technology descriptions in cost/targets/.

* :mod:`.targets`: load/validate technology descriptions (generic ASIC in NAND2 equivalents, LUT6 FPGA);
* :mod:`.primitives`: per-primitive resource formulas (SC stream logic, APCs, FSMs, SNGs, LFSRs,
  and binary arithmetic);
* :mod:`.inventory`: :class:`Inventory` (counts per primitive, addable/scalable), :class:`CostReport`,
  :class:`Design` (an inventory with its latency model);
* :mod:`.timing`: :class:`Timing`, the cycle timing of the emitted SC RTL (:func:`netlist_timing`),
  and the pipelined-latency formula every design uses;
* :mod:`.netlist_cost`: the op -> cost mapping of a compiled netlist and its cost report;
* :mod:`.baselines`: k-bit fixed-point and binary/ternary accumulate-only LSTM/GRU designs;
* :mod:`.reference`: the analytic XNOR-LSTM reference datapath (docs/background.md §5);
* :mod:`.report`: baseline/SC ratio tables.

The formulas and assumptions are documented in docs/cost-model.md.
"""

from __future__ import annotations

from .baselines import (
    RecurrentShape,
    as_shapes,
    binary_weight_design,
    fixed_point_design,
    head_runs_once,
    head_shape,
    layer_shapes,
    parallelism_for_latency,
)
from .inventory import Activity, CostReport, Design, Inventory, Primitive
from .reference import xnor_lstm_reference_design, xnor_lstm_reference_inventory
from .report import compare, to_markdown
from .targets import AsicTarget, FpgaTarget, available_targets, load_target
from .timing import Timing, design_timing, netlist_timing, pipeline_latency_cycles

__all__ = [
    "Activity", "AsicTarget", "CostReport", "Design", "FpgaTarget", "Inventory", "Primitive",
    "RecurrentShape", "Timing", "available_targets", "binary_weight_design", "compare", "cost_model",
    "design_timing", "fixed_point_design", "head_runs_once", "head_shape", "layer_shapes", "load_target",
    "netlist_timing",
    "parallelism_for_latency", "pipeline_latency_cycles", "to_markdown", "weight_kind",
    "xnor_lstm_reference_design", "xnor_lstm_reference_inventory",
]


def weight_kind(model) -> str:
    """'ternary' if any recurrent layer's weights are ternary-quantized, else 'binary' (the SC
    datapath's XNOR weights are binary; float or k-bit weights are costed as binary)."""
    for lay in getattr(model, "layers", ()):
        for fname in ("w_ih", "w_hh"):
            t = getattr(lay, fname, None)
            if t is not None and "ternary" in t.quant.scheme:
                return "ternary"
            if t is not None and t.quant.levels is not None and len(t.quant.levels) == 3:
                return "ternary"
    return "binary"


def cost_model(layers, *, length: int = 256, bits: int = 8, target="asic-generic", steps: int = 1,
               weights: str = "binary", activity: Activity | None = None, **sc_options) -> dict:
    """The ``scc cost`` comparison for a stack of LSTM layers (an IR model, IR layers, or
    (input_size, hidden_size) pairs): the analytic SC reference datapath (docs/background.md §5, L + 1 cycles per
    step; not the compiler's emitted RTL, see :func:`~.netlist_cost.cost_report`) at stream length
    ``length`` against

    * the ``bits``-bit fixed-point LSTM, fully parallel and folded to the SC design's step latency;
    * the binary- (or ternary-, ``weights``) weight accumulate-only LSTM (``bits``-bit
      activations), fully parallel and folded to the same latency.
    ``sc_options`` go to :func:`xnor_lstm_reference_design`.
    """
    if weights not in ("binary", "ternary"):
        from ..errors import SCValueError  # noqa: PLC0415
        raise SCValueError("weights", f"must be 'binary' or 'ternary', got {weights!r}")
    shapes = layer_shapes(layers) if hasattr(layers, "layers") else as_shapes(layers)
    sc = xnor_lstm_reference_design(shapes, length, weight_bits=1 if weights == "binary" else 2, **sc_options)
    p = parallelism_for_latency(shapes, max(sc.step_cycles))
    baselines = [fixed_point_design(shapes, bits=bits), fixed_point_design(shapes, bits=bits, parallelism=p),
                 binary_weight_design(shapes, weights=weights, act_bits=bits),
                 binary_weight_design(shapes, weights=weights, act_bits=bits, parallelism=p)]
    result = compare(sc, baselines, target, steps=steps, activity=activity)
    result["equal_latency_parallelism"] = p
    result["weights"] = weights
    result["length"] = length
    result["bits"] = bits
    result["layers"] = [{"cell": s.cell, "input_size": s.input_size, "hidden_size": s.hidden_size} for s in shapes]
    return result
