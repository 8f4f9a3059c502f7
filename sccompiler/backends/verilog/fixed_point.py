"""The k-bit fixed-point BASELINE as synthesizable Verilog, bit-exact with its integer model.

:func:`emit_fixed_point_design` turns a :class:`~sccompiler.quantize.fixed_point.FixedPointModel`
(or an IR model, quantized with ``bits``) into

* ``rtl/``: ``<top>.v`` and one file per activation LUT module (``<top>_sigmoid``, ``<top>_tanh``,
  ``<top>_tanh_c``: 2^k-entry ``case`` tables).  The architecture is the analytic
  :func:`~sccompiler.cost.baselines.fixed_point_design` (fully parallel): one k x k signed
  multiplier per weight, a balanced adder tree per gate row (+ bias), requantize, LUT, and a
  per-neuron cell update, with registered stages inside a time step:

  ====================  ===========================================================================
  LSTM (3 cycles/step)  0: products, trees, requantize -> pre-activation registers (4H x k)
                        1: LUTs -> i f o (k-1 bits each, sigmoid >= 0) and g (k bits) registers
                        2: c = f*c + i*g, h = o*tanh(c) -> c, h state registers
  GRU, lbr=True (4)     0: r z pre-activations, n's input sum xn (wide), n's hidden part hn (k bits)
                        1: r z LUTs; z register; n_pre = requantize(xn + r*hn) register
                        2: n = tanh LUT register;   3: h = n + z*(h - n) -> h state
  GRU, lbr=False (5)    0: r z pre-activations, xn (wide);  1: r z LUTs; z and rh = r*h registers
                        2: n_pre = requantize(xn + W_hn rh);  3: n LUT;  4: h update
  ====================  ===========================================================================

  An optional trailing Linear head is combinational from the last layer's h state register
  (products, adder tree, bias: the exact accumulator, no requantization) and drives
  ``o_<head>_y``; it adds no register and no cycle, and is valid with the last layer's h.
  After a LastStep the last layer's h is captured in ``<last_step>_h`` when it writes step
  T - 1, the head reads that register, every layer gets its own ``valid_<layer>`` and ``valid``
  (``seq_valid``) is high once per sequence with ``out_step`` = T - 1 (``o_<last_step>_h``,
  ``o_<head>_y``).

  All layers share one phase counter of S = max stages cycles; a layer writes its state in the
  last phase, and layer l + 1 runs one time step behind layer l (it reads layer l's h in phase
  0).  ``weights="wired"``: weights and biases are constants (Yosys folds the multipliers into
  shift-adds); ``weights="loadable"``: they live in one scan-chain register loaded k bits per
  cycle through ``w_load`` / ``w_in`` (the analytic model's "weights in registers").
* ``tb/``: ``<top>_tb.v`` with ``$readmemh`` vectors (inputs, and every layer's expected per-step h
  and c, and the head's y, from :meth:`FixedPointModel.forward`; loadable: the scan-chain words) and
  ``manifest.json`` in the format of :func:`.design.emit_design`, so
  :func:`.design.verify_design` and :func:`.design.synthesize_design` run on it unchanged;
* ``report.json``: the analytic ``fixed_point_design`` estimate, which ``synthesize_design`` puts
  next to Yosys's numbers in ``synth.json``.

Ports (as the SC top): ``clk rst start n_steps x_in busy done x_step valid out_step``,
``valid_<layer> out_step_<layer>`` for inner layers, ``o_<layer>_h`` (and ``o_<layer>_c``) packed
k bits per neuron, and with a head ``o_<head>_y`` packed ``FixedPointModel.head_bits()`` bits
(signed) per output.  Pulse ``start`` to run a sequence from zero state; hold ``x_in`` (feature j at
``[k j +: k]``, Q(k-1)) at the input of step ``x_step`` while busy; ``valid_<layer>`` marks the
cycle where that layer's ``o_*`` hold step ``out_step_<layer>``; ``done`` rises the cycle after the
last layer's last step.  A sequence of T steps takes (T + layers - 1) x S cycles.

This module is the public entry point (emission, vectors, manifest, report); the datapath and
the top module are written by :mod:`.fixed_point_datapath`, the testbench by the shared
:mod:`.testbench`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, OutputExistsError, SCValueError, UnsupportedOpError
from ...quantize.fixed_point import FixedPointModel, quantize_activation
from .emitter import STEP_BITS
from .fixed_point_datapath import (
    IDENTIFIER,
    MAX_EMIT_BITS,
    STAGES,
    WEIGHT_MODES,
    FixedPointEmitter,
    lut_module,
    stages,
)
from .names import comment_text
from .testbench import TestbenchSpec, hex_word, mismatch_check, size_macros, testbench_text
from .verify import verify_design


def as_fixed_model(model_or_fixed, bits: int | None) -> FixedPointModel:
    if isinstance(model_or_fixed, FixedPointModel):
        if bits is not None and model_or_fixed.bits != bits:
            raise ConfigError(f"the fixed-point model has {model_or_fixed.bits} bits, bits={bits} was asked for")
        fpm = model_or_fixed
    else:
        fpm = FixedPointModel.from_model(model_or_fixed, 8 if bits is None else bits)
    back = [lay for lay in fpm.layers if lay.direction == "backward"]
    if back:
        name = back[0].name.removesuffix(".reverse")
        raise UnsupportedOpError(f"bidirectional {back[0].cell.upper()}", name,
                                 "the fixed-point baseline's RTL has no bidirectional layers yet (its integer "
                                 "model runs them: the compile's accuracy report and scc explore compare with it)")
    return fpm


def default_inputs(fpm: FixedPointModel, sequences: int = 2, steps: int = 3, seed: int = 0) -> np.ndarray:
    """Random float inputs in [-1, 1) for the testbench."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (sequences, steps, fpm.input_size))


def analytic_estimate(fpm: FixedPointModel, weights: str, target: str = "asic-generic") -> dict:
    """``fixed_point_design`` of the same shapes (weights as ROM when wired, register file when
    loadable), as the report.json block :func:`.design.synthesize_design` reads."""
    from ...cost.baselines import RecurrentShape, fixed_point_design  # noqa: PLC0415

    shapes = [RecurrentShape(lay.cell, lay.input_size, lay.hidden_size) for lay in fpm.layers]
    storage = "rom" if weights == "wired" else "register"
    cells = {lay.cell for lay in fpm.layers}
    head = None if fpm.head is None else (fpm.head.in_size, fpm.head.out_size)
    d = fixed_point_design(shapes, bits=fpm.bits, weight_storage=storage, cell=next(iter(cells)), head=head,
                           head_per_sequence=head is not None and fpm.last_step is not None)
    rep = d.estimate(target)
    note = ("analytic k-bit fixed-point baseline (sccompiler.cost.baselines.fixed_point_design), stored under "
            "'sc' so that synthesize_design puts it next to Yosys's numbers; this directory holds the baseline")
    if fpm.head is not None:
        note += (f"; the Linear head {fpm.head.name!r} ({fpm.head.in_size} -> {fpm.head.out_size}) is costed "
                 + ("once per sequence (after the LastStep)" if fpm.last_step is not None else "every step"))
    return {"target": target, "sc": d.name,
            "note": note,
            "designs": {d.name: {"description": d.description, "step_cycles": list(d.step_cycles),
                                 "cost": rep.to_json(), "primitives": d.inventory.counts()}}}


def emit_fixed_point_design(model_or_fixed, outdir: str | Path, *, bits: int | None = None,
                            inputs: np.ndarray | None = None, force: bool = False, weights: str = "wired",
                            top: str = "fx_design",
                            sequences: int = 2, steps: int = 3, seed: int = 0) -> dict[str, list[Path]]:
    """Write ``outdir/rtl``, ``outdir/tb`` and ``outdir/report.json`` (module docstring).

    ``model_or_fixed``: an IR :class:`~sccompiler.ir.model.Model` (quantized to ``bits``, default
    8) or a :class:`FixedPointModel` (``bits``, if given, must match it).
    ``inputs``: float (B, T, I) testbench inputs (quantized to Q(k-1));
    default ``sequences`` x ``steps`` uniform random values.  Existing outputs need ``force``; every
    file is written into a temporary directory first and moved into place at the end.
    Returns {"rtl": [...], "tb": [...], "report": [...]}.
    """
    if weights not in WEIGHT_MODES:
        raise SCValueError("weights", f"must be one of {', '.join(WEIGHT_MODES)}, got {weights!r}")
    if not isinstance(top, str) or not IDENTIFIER.match(top):
        raise SCValueError("top", f"must be a Verilog identifier, got {top!r}")
    fpm = as_fixed_model(model_or_fixed, bits)
    if fpm.bits > MAX_EMIT_BITS:
        raise SCValueError("bits", f"Verilog emission supports up to {MAX_EMIT_BITS} bits (2^k-entry LUTs), "
                                   f"got {fpm.bits}")
    x = default_inputs(fpm, sequences, steps, seed) if inputs is None else inputs
    x_int = fpm.quantize_input(x)
    T = x_int.shape[1]
    if T >= (1 << STEP_BITS):
        raise SCValueError("inputs", f"at most {(1 << STEP_BITS) - 1} time steps, got {T}")
    out = Path(outdir)
    for sub in ("rtl", "tb", "report.json"):
        if (out / sub).exists() and not force:
            raise OutputExistsError(f"{out / sub} exists (use force / --force to overwrite)")
    em = FixedPointEmitter(fpm, top, weights)
    em.run()
    top_text = em.top_text()
    expected = fpm.forward(x_int)
    files = {f"{top}_{kind}.v": lut_module(top, kind, table, fpm.bits) for kind, table in
             (("sigmoid", fpm.sigmoid_lut), ("tanh", fpm.tanh_lut), ("tanh_c", fpm.tanh_c_lut))
             if kind != "tanh_c" or any(lay.cell == "lstm" for lay in fpm.layers)}
    files[f"{top}.v"] = top_text
    tb_files = testbench_files(em, fpm, x_int, expected, list(files))
    report = {"kind": "fixed-point-baseline", "model": fpm.name, "bits": fpm.bits, "weights": weights,
              "cost": analytic_estimate(fpm, weights)}
    return write_atomic(out, files, tb_files, report, force)


def write_atomic(out: Path, rtl: dict[str, str], tb: dict[str, str], report: dict,
                 force: bool) -> dict[str, list[Path]]:
    """Write everything into a temporary sibling directory, then move rtl/, tb/, report.json into
    ``out`` (replacing older ones only with ``force``)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fx-emit-", dir=out))
    try:
        for sub, content in (("rtl", rtl), ("tb", tb)):
            (tmp / sub).mkdir()
            for name, text in content.items():
                (tmp / sub / name).write_text(text)
        (tmp / "report.json").write_text(json.dumps(report, indent=1))
        for sub in ("rtl", "tb", "report.json"):
            dst = out / sub
            if dst.exists():
                if not force:
                    raise OutputExistsError(f"{dst} exists (use force / --force to overwrite)")
                shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
            (tmp / sub).replace(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"rtl": [out / "rtl" / n for n in rtl], "tb": [out / "tb" / n for n in tb], "report": [out / "report.json"]}


def testbench_files(em: FixedPointEmitter, fpm: FixedPointModel, x_int: np.ndarray, expected: dict,
                    rtl_names: list[str]) -> dict[str, str]:
    """Testbench, vectors (inputs, expected h / c / y per step, scan-chain words) and manifest."""
    k = fpm.bits
    B, T, I = x_int.shape
    nl = len(fpm.layers)
    fields = []        # (layer ident, layer name, quantity, neuron, values (B, T), width)
    for p, lay, regs in em.state_outputs:
        for reg_name in regs:
            q = reg_name[len(p) + 1:]
            for u in range(lay.hidden_size):
                fields.append((p, lay.name, q, u, expected[lay.name][q][:, :, u], k))
    def at_steps(v: np.ndarray) -> np.ndarray:
        """(B, T) expected values: a once-per-sequence value (B, 1) is checked at step T - 1 only
        (``valid`` is high once per sequence, with ``out_step`` = T - 1)."""
        if v.shape[1] == T:
            return v
        full = np.zeros((B, T), dtype=np.int64)
        full[:, -1] = v[:, 0]
        return full

    if em.seq_output is not None:
        lp, H = em.seq_output
        for u in range(H):
            fields.append((lp, fpm.last_step, "h", u, at_steps(expected[fpm.last_step]["h"][:, :, u]), k))
    if em.head_output is not None:
        hp, yw = em.head_output
        for o in range(fpm.head.out_size):
            fields.append((hp, fpm.head.name, "y", o, at_steps(expected[fpm.head.name]["y"][:, :, o]), yw))
    in_words = [hex_word((x_int[b, t, j], k) for j in range(I)) for b in range(B) for t in range(T)]
    exp_words = [hex_word((f[4][b, t], f[5]) for f in fields) for b in range(B) for t in range(T)]
    names = [p for p, _, _ in em.state_outputs]
    inner = em.inner(names)
    # every layer is checked when it wrote its state; the head (combinational from the last
    # layer's h) with the last layer; after a LastStep, the last step's h and the head once per
    # sequence (with ``valid``), every layer with its own valid_
    checks: dict[str | None, list[str]] = {p: [] for p in inner}
    checks[None] = []
    offset = 0
    for p, lname, q, u, _, fw in fields:
        group = p if p in checks else None
        out_step, exp_now = ("out_step", "exp_now") if group is None else (f"out_step_{p}", f"exp_now_{p}")
        checks[group] += mismatch_check(f"o_{p}_{q}[{u * fw + fw - 1}:{u * fw}]",
                                        f"{exp_now}[{offset + fw - 1}:{offset}]",
                                        shown := (lname if comment_text(lname) == lname else p), f"{shown}.{q}", u,
                                        out_step, True)
        offset += fw
    outputs = [(f"o_{r}", lay.hidden_size * k) for _, lay, regs in em.state_outputs for r in regs]
    if em.seq_output is not None:
        outputs.append((f"o_{em.seq_output[0]}_h", em.seq_output[1] * k))
    if em.head_output is not None:
        outputs.append((f"o_{em.head_output[0]}_y", fpm.head.out_size * em.head_output[1]))
    nw = em.chain_words() if em.loadable else 0
    start_cyc = 1 + nw
    S = em.S
    spec = TestbenchSpec(
        top=em.top, generator="sccompiler.backends.verilog.fixed_point", expected="FixedPointModel.forward",
        sequences=B, steps=T, timeout=f"{start_cyc} + B * ((T + {nl}) * {S} + 10) + 10", x_bits=I * k,
        exp_bits=offset, inner=inner, outputs=outputs, checks=checks, start_cycle=start_cyc,
        final_valids=1 if em.per_sequence else None)
    tbn = spec.name
    if em.loadable:
        spec.setup = [f"    localparam integer NW = {nw};",
                      f"    reg [{k - 1}:0] w_mem [0:NW-1];",
                      f"    initial $readmemh(\"{tbn}_w.hex\", w_mem);",
                      "    reg w_load;",
                      f"    reg [{k - 1}:0] w_in;",
                      f"    initial begin w_load = 1'b0; w_in = {k}'d0; end"]
        spec.extra_ports = [("w_load", "w_load"), ("w_in", "w_in")]
        spec.preload = ["// load the weight scan chain (word 0 first), then start",
                        "if (cyc >= 1 && cyc < 1 + NW) begin w_load <= 1'b1; w_in <= w_mem[cyc - 1]; end",
                        "else w_load <= 1'b0;"]
    last = fpm.layers[-1]
    manifest: dict[str, Any] = {
        "top": em.top, "testbench": tbn, "layer": last.name, "length": S, "sequences": B, "steps": T,
        "size_macros": size_macros(tbn),
        # checked after the last stored step: verify runs every step (verify.checked_size)
        "per_sequence": [fpm.last_step] if em.per_sequence else None,
        "checks": [{"node": f"{f[1]}.{f[2]}", "neuron": f[3], "width": f[5], "signed": True} for f in fields],
        "host_affine": None,
        "kind": "fixed-point-baseline", "bits": k, "weights": "loadable" if em.loadable else "wired",
        "cycles_per_step": S, "sequence_cycles": f"(T + {nl - 1}) * {S}",
        "load_cycles": nw, "scan_chain_bits": em.chain_bits if em.loadable else 0,
        "formats": fpm.formats.to_json(),
        "layers": [{"name": lay.name, "cell": lay.cell, "input_size": lay.input_size, "hidden_size": lay.hidden_size,
                    "linear_before_reset": lay.linear_before_reset if lay.cell == "gru" else None,
                    "stages": stages(lay), "f_ih": lay.f_ih, "f_hh": lay.f_hh, "acc_frac": lay.acc_frac,
                    "bias_bits": fpm.bias_bits(lay)} for lay in fpm.layers],
        "head": None if fpm.head is None else {
            "name": fpm.head.name, "in_size": fpm.head.in_size, "out_size": fpm.head.out_size, "f_w": fpm.head.f_w,
            "acc_frac": fpm.head.acc_frac, "bias_bits": fpm.head_bias_bits(), "output_bits": fpm.head_bits(),
            "timing": ("combinational from the last step's register: once per sequence, valid with valid"
                       if em.per_sequence else
                       "combinational from the last layer's h register: no extra register or cycle")},
        "last_step": None if fpm.last_step is None else {
            "name": fpm.last_step, "hidden_size": fpm.layers[-1].hidden_size,
            "timing": "a register loaded with the last layer's h when it writes step T - 1; valid once per sequence"},
        "names": em.names.to_json(),                # original layer name -> Verilog identifier
        "rtl": rtl_names,                           # dependencies first, the top last
        "registers": dict(em.regs),
    }
    files = {f"{tbn}.v": testbench_text(spec), f"{tbn}_in.hex": "\n".join(in_words) + "\n",
             f"{tbn}_exp.hex": "\n".join(exp_words) + "\n"}
    if em.loadable:
        files[f"{tbn}_w.hex"] = "\n".join(em.chain_hex()) + "\n"
    files["manifest.json"] = json.dumps(manifest, indent=1)
    return files


def verify_fixed_point_design(outdir: str | Path, simulator: str = "icarus"):
    """Co-simulate an emitted baseline (same as :func:`.verify.verify_design`)."""
    return verify_design(outdir, simulator)


__all__ = ["MAX_EMIT_BITS", "STAGES", "WEIGHT_MODES", "analytic_estimate", "as_fixed_model", "default_inputs",
           "emit_fixed_point_design", "lut_module", "quantize_activation", "stages", "verify_fixed_point_design"]
