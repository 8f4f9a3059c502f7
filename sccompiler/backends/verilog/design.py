"""Design-level Verilog: a synthesizable top per compiled design, and its self-checking testbench.

:func:`emit_design` turns a :class:`~sccompiler.design.CompiledDesign` into

* ``rtl/``: the library modules it instantiates (one file per module, :mod:`.library`)
  and ``<top>.v``, the generated top: control (``start`` /
  ``busy`` / ``valid`` / ``done``, ``L`` cycles per time step, ``n_steps`` steps), input port,
  binary-domain XNOR + popcount, threshold ROMs, SNGs with their LFSRs, XNOR gates, APCs, WFSMs,
  counters and the state registers (h, c).  Every generated block starts with a comment naming
  the IR node it implements;
* ``tb/``: ``<top>_tb.v`` (simulation only) with ``$readmemh`` vectors of the inputs and of the
  expected per-step integers, produced by the design's own runtime
  (:meth:`sccompiler.runtime.engine.Runtime.run` with ``trace=True``), and ``manifest.json``.

Supported (everything else raises :class:`UnsupportedOpError` naming the node and op, before any
file is written): an optional embedding, stacked LSTM or GRU layers (``fsm_state`` carry or reset) either with
exact (+-s / 0) model inputs, ``gate_input: table`` (per-step statistics too; a GRU's n table also
reads r's pre-activations) and ``hidden: sign``, or with integral WFSM gates and ``hidden: stream``
(real inputs: the input port carries the input SNGs' thresholds; exact inputs may gate their
XNORs off, ``xnor_apc`` ``gated``; GRU ``xnor_int`` / ``islice`` / MUX, linear_before_reset 1
and 0); optionally followed by a dense head, exact (``xnor_popcount``) or streamed
(SNGs, ``xnor_apc``, up/down counters); the float affine of ``dense_out`` (``gain * k + bias``,
streamed ``gain * k / L + bias``) is applied by the host to the RTL's integer ``k`` (manifest).
Recurrent batch norm with per-step statistics: per-step input gains, bias constants and WFSM
table banks read ROMs addressed by the layer's ``min(step, T_st - 1)``; per-gate and per-row
operand banks (``xnor_apc`` over (G, M) / (R, M) streams).  Real inputs with per-row input
gains are refused (the port would carry one threshold per row and input).
Layer k + 1 (and a streamed head) runs one step behind layer k (pipelined).  A head after a
``last_step`` layer runs once per sequence: a streamed one is launched when the last recurrent
layer finishes its last step and runs one step on the h its state register then holds; ``valid``
is high once per sequence (``out_step`` = T - 1) and the testbench checks the head there.
A bidirectional first layer runs in three phases over sequence buffers (:mod:`.ops.sequence`):
its forward direction, then its backward direction over the buffered sequence in reverse, then
the rest reading concat(forward h_t, backward h_t); the testbench expects the backward
direction's values in its own step order, and ``n_steps > max_steps`` raises ``overflow``.
Layers with different ``L`` step with the longest one, P; a layer with L < P holds its sources,
FSMs and counters (clock enable ``<layer>_en``) in the last P - L cycles of each step.

Timing (zero overhead cycles, so the free-running LFSRs and WFSMs see exactly the runtime's
``L`` cycles per step): ``start`` re-runs every stream primitive from reset (as the runtime runs
every sequence from reset); step ``t`` occupies cycles ``t L .. t L + L - 1`` after the start
edge.  Counters run freely and a step's count is ``count - base`` (modulo ``2^width``, exact since
one step never exceeds the width); it is final in the first cycle of the next step, where it is
bypassed to the consumers (h, c feed that cycle's thresholds) and captured in the state
registers.  ``valid`` is high in that cycle (and in the cycle after the last step), with
``out_step`` the finished step and the ``o_*`` ports its values.

The emitter is built in layers: :mod:`.verilog_text` (the text builder), :mod:`.emitter` (the
walk over the netlist), :mod:`.ops` (one handler per op, by family), :mod:`.top` (ports and
per-layer control), :mod:`.testbench` (shared with the fixed-point baseline) and
:mod:`.verify` (simulators and Yosys); this module is the public entry point.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ...cost.timing import netlist_timing, timed_layers
from ...errors import OutputExistsError, SCValueError
from .emitter import MAX_ROM_ADDRESS_BITS, STEP_BITS, DesignEmitter
from .library import closure, write_library
from .names import comment_text
from .testbench import (
    MAX_REPORTED,
    TestbenchSpec,
    hex_word,
    mismatch_check,
    size_macros,
    testbench_text,
)
from .top import top_text
from .verify import synth_summary, synthesize_design, verify_design, verify_designs
from .verilog_text import INDENT

__all__ = ["MAX_REPORTED", "MAX_ROM_ADDRESS_BITS", "STEP_BITS", "check_supported", "default_inputs", "emit_design",
           "synth_summary", "synthesize_design", "verify_design", "verify_designs"]


def default_inputs(design, sequences: int, steps: int, seed: int) -> np.ndarray:
    """Random testbench inputs: token ids, or exact values in {-s, 0, s} (s: the input scale)."""
    rng = np.random.default_rng(seed)
    port = design.netlist.node("model.input")
    if port.params.get("kind") == "tokens":
        vocab = next(n for n in design.netlist.nodes if n.op == "lookup").arrays["table"].shape[0]
        return rng.integers(0, vocab, size=(sequences, steps))
    x_node = next(n for n in design.netlist.nodes if n.op == "input" and n.params.get("source") == "model.input")
    scale = float(x_node.params.get("scale", 1.0))
    size = design.netlist.node("model.input").size
    return scale * rng.choice([-1.0, 0.0, 1.0], size=(sequences, steps, size))


def check_supported(design, top: str = "sc_design") -> None:
    """Raise UnsupportedOpError / ConfigError if :func:`emit_design` would refuse the design."""
    DesignEmitter(design, top).run()


def emit_design(design, outdir: str | Path, *, inputs: np.ndarray | None = None, top: str = "sc_design",
                sequences: int = 2, steps: int = 3, seed: int = 0, force: bool = False) -> dict[str, list[Path]]:
    """Write ``outdir/rtl`` and ``outdir/tb`` for ``design`` (see the module docstring).

    ``inputs`` (B, T, F) exact values for the testbench (default: ``sequences`` x ``steps`` random
    values in {-s, 0, s}).  Returns {"rtl": [...], "tb": [...]}.  Existing rtl/ or tb/ need ``force``.
    """
    em = DesignEmitter(design, top)
    em.run()
    x = default_inputs(design, sequences, steps, seed) if inputs is None else np.asarray(inputs)
    tokens = em.x_format == "token"
    if x.ndim != (2 if tokens else 3) or x.shape[1] < 1 or x.shape[1] >= (1 << STEP_BITS):
        raise SCValueError("inputs", f"must be ({'B, T' if tokens else 'B, T, F'}) with 1 <= T < {1 << STEP_BITS}, "
                                     f"got shape {x.shape}")
    if tokens and x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.rint(x)):
        x = x.astype(np.int64)                           # ids saved as floats (e.g. a calibration .npy)
    if tokens and (x.dtype.kind not in "iu" or x.min() < 0 or x.max() >= em.vocab):
        raise SCValueError("inputs", f"token ids must be integers in [0, {em.vocab}), got {x.dtype} "
                                     f"in [{x.min()}, {x.max()}]")
    if not tokens:
        x = x.astype(np.float64)
    out = Path(outdir)
    for sub in ("rtl", "tb"):
        if (out / sub).exists():
            if not force:
                raise OutputExistsError(f"{out / sub} exists (use force / --force to overwrite)")
            shutil.rmtree(out / sub)
    library = sorted(em.modules)
    top_file = top_text(em)
    rtl_names = [f"{name}.v" for name in closure(library)] + [f"{top}.v"]
    tb_files = testbench_files(design, em, x, rtl_names)   # runs the runtime: fails before anything is written
    rtl = out / "rtl"
    rtl.mkdir(parents=True)
    rtl_files = write_library(rtl, library)
    (rtl / f"{top}.v").write_text(top_file)
    rtl_files.append(rtl / f"{top}.v")
    tb = out / "tb"
    tb.mkdir()
    paths = []
    for name, text in tb_files.items():
        (tb / name).write_text(text)
        paths.append(tb / name)
    return {"rtl": rtl_files, "tb": paths}


def checked_fields(em: DesignEmitter, trace: dict, steps: int) -> list[tuple]:
    """(node, neuron, width, signed, values (B, T)) of every checked value, in port order; a node
    of a sequence-level head (one step per sequence) is expected at step T - 1 (0 elsewhere)."""
    fields = []
    rev = em.bidir.reverse if em.bidir is not None else None
    for o in em.outputs:
        v = np.asarray(trace[o["node"]])
        if rev is not None and em.netlist.node(o["node"]).layer == rev:
            v = v[:, ::-1]                         # the backward direction's step k read x_{T-1-k}
        if v.shape[1] != steps:                    # (B, 1, ...): the head's one step, read at T - 1
            v = np.concatenate([np.zeros((v.shape[0], steps - 1) + v.shape[2:]), v], axis=1)
        for r in range(len(o["rows"])):
            col = v[:, :, r]
            if o.get("sign"):
                col = (col > 0).astype(np.int64)       # h = +-1 on a 1-bit port: 1 = +1
            elif o.get("ternary"):
                # h in {-1, 0, +1} on a 2-bit port {pos, nz}: the exact-input code nz | pos << 1
                col = (col != 0).astype(np.int64) | ((col > 0).astype(np.int64) << 1)
            fields.append((o["node"], r, o["width"], o["signed"], np.rint(col).astype(np.int64)))
    return fields


def input_codes(em: DesignEmitter, x: np.ndarray) -> list[list[int]]:
    """Per (sequence, step) the x_in field of every feature: token id, exact code {nz, pos}, or
    the input SNG bank's thresholds, as the runtime computes them."""
    B, T = x.shape[:2]
    F = x.shape[2] if x.ndim == 3 else 1
    if em.x_format == "token":
        return x.reshape(B * T, 1).tolist()
    if em.x_format == "tern":
        xin = np.rint(x / em.in_scale).astype(np.int64)
        return [[(int(v) != 0) | (int(v) > 0) << 1 for v in row] for row in xin.reshape(B * T, F)]
    return np.stack([em.sng_thresholds(em.x_sng, x[:, t], t)[:, :F] for t in range(T)],
                    axis=1).reshape(B * T, F).tolist()


def testbench_files(design, em: DesignEmitter, x: np.ndarray, rtl_names: list[str]) -> dict[str, str]:
    """Testbench + vectors + manifest; expected values from the runtime's trace (read only)."""
    rt = design._runtime()
    y, runs = rt.run(x, trace=True)
    B, T = x.shape[:2]
    trace = {}
    for run in runs.values():
        trace.update(run.trace)
    fields = checked_fields(em, trace, T)
    if em.host:                                    # the host affine reproduces simulate's output bit for bit
        k = np.asarray(trace[em.host["input"]], dtype=np.float64)
        if "length" in em.host:                    # counted: Runtime divides the count by L first
            k = k / em.host["length"]
        yy = np.asarray(em.host["gain"]) * k + np.asarray(em.host["bias"])
        if not np.array_equal(yy, y):
            raise SCValueError("design", "the dense head's host affine does not reproduce simulate()")
    in_words = [hex_word((v, em.x_width) for v in row) for row in input_codes(em, x)]
    exp_words = [hex_word((f[4][b, t], f[2]) for f in fields) for b in range(B) for t in range(T)]
    total = sum(f[2] for f in fields)
    last = em.vid(em.layer)
    checks: dict[str | None, list[str]] = {em.vid(layer): [] for layer in em.inner_layers} | {None: []}
    sh = 0
    for node, r, width, signed, _ in fields:
        o = next(o for o in em.outputs if o["node"] == node)
        if em.seq_head is not None:                # a sequential head's values: at its MAC's valid
            group = None if design.netlist.node(node).op == "int_mac" else o["ctl"]
        elif em.per_sequence:                      # the head's values: at the final (once per sequence) valid
            group = None if design.netlist.node(node).layer in em.sequence_layers else o["ctl"]
        else:
            group = None if o["ctl"] == last else o["ctl"]
        out_step, exp_now = ("out_step", "exp_now") if group is None else (f"out_step_{group}", f"exp_now_{group}")
        what = node if comment_text(node) == node else em.nid(node)      # a printable name, as is
        what += " (h: 1 = +1, 0 = -1)" if o.get("sign") else (" (h: 3 = +1, 1 = -1, 0 = 0)" if o.get("ternary") else "")
        checks[group] += mismatch_check(f"o_{em.nid(node)}[{r * width + width - 1}:{r * width}]",
                                        f"{exp_now}[{sh + width - 1}:{sh}]", em.vid(design.netlist.node(node).layer),
                                        what, r, out_step, signed)
        sh += width
    head_wait = em.seq_head[1] if em.seq_head else 0       # a sequential head's H after the last step
    serial = 0 if em.bidir is None else 2                    # a bidirectional layer's two T-step phases
    extra: dict = {}
    if em.bidir is not None:                                 # overflow must stay low
        checks[None] += [f"{INDENT}if (overflow) begin",
                         f"{INDENT * 2}if (errors < {MAX_REPORTED}) $display(\"MISMATCH seq=%0d overflow\", seq);",
                         f"{INDENT * 2}errors = errors + 1;", f"{INDENT}end"]
        extra = {"setup": [f"{INDENT}wire overflow;"], "extra_ports": [("overflow", "overflow")]}
    spec = TestbenchSpec(
        top=em.top, generator="sccompiler.backends.verilog.design",
        expected="the design's runtime (CompiledDesign.simulate)", sequences=B, steps=T,
        timeout=f"B * ({serial + 1} * T + {len(em.rec_layers) + 1}) * {em.P} + {10 + head_wait} * B + 10",
        x_bits=em.x_width * em.in_size,
        exp_bits=total, inner=[em.vid(layer) for layer in em.inner_layers], finish_note=True, checks=checks,
        final_valids=1 if em.per_sequence else None,
        outputs=[(f"o_{em.nid(o['node'])}", len(o["rows"]) * o["width"]) for o in em.outputs], **extra)
    tbn = spec.name
    # the one timing model (cost/timing.py) describes this RTL; refuse to write a manifest it does not
    timing = netlist_timing(design.netlist, steps=T)
    lengths = {k: v for k, v in em.lengths.items() if not (em.bidir and em.bidir.readout and k == em.bidir.concat)}
    if lengths != timed_layers(design.netlist) or timing.step_period != em.P:
        raise SCValueError("design", f"the emitted control (P = {em.P}, layers {em.lengths}) disagrees with the "
                                     f"timing model ({timing.cycles_per_step})")
    manifest = {"top": em.top, "testbench": tbn, "layer": em.layer, "length": em.P, "lengths": em.lengths,
                "cycles_per_step": em.P, "sequences": B, "steps": T,
                "size_macros": size_macros(tbn), "timing": timing.to_json(),
                "checks": [{"node": f[0], "neuron": f[1], "width": f[2], "signed": f[3]} for f in fields],
                "host_affine": em.host or None, "input_port": port_doc(em),
                # a head on the last step: valid once per sequence (out_step = T - 1)
                "per_sequence": sorted(em.sequence_layers) if em.per_sequence else None,
                # a bidirectional layer: its buffers' depth; every stored step is run (not causal)
                "bidirectional": None if em.bidir is None else {
                    "layer": em.bidir.forward, "max_steps": em.bidir.max_steps, "read_out_once": em.bidir.once,
                    "overflow_port": "overflow"},
                "names": em.names.to_json(),       # original layer / node name -> Verilog identifier
                "rtl": rtl_names}                 # dependencies first, the top last
    return {f"{tbn}.v": testbench_text(spec), f"{tbn}_in.hex": "\n".join(in_words) + "\n",
            f"{tbn}_exp.hex": "\n".join(exp_words) + "\n", "manifest.json": json.dumps(manifest, indent=1)}


def port_doc(em: DesignEmitter) -> dict:
    """How the host drives x_in (the manifest's ``input_port``)."""
    if em.x_format == "token":
        return {"format": "token", "bits": em.x_width, "vocabulary": em.vocab,
                "encoding": "the token id; the embedding table is in ROMs"}
    if em.x_format == "tern":
        return {"format": "exact", "bits_per_feature": 2, "scale": em.in_scale,
                "encoding": "bit 0: x != 0, bit 1: x > 0 (x in {-scale, 0, +scale})"}
    n = em.x_sng
    doc = {"format": "thresholds", "bits_per_feature": em.x_width, "sng": n.name, "encoding": n.encoding,
           "formula": "X = threshold(x / scale) of the SNG bank (Runtime._sng), held during the step"}
    if "gain" in n.arrays:
        doc["formula"] = "X_t = threshold(x * gain[min(t, T - 1)]) (the per-step input gain of batch norm)"
        doc["gain"] = np.asarray(n.arrays["gain"])[:, 0].tolist()
    else:
        doc["scale"] = float(n.params.get("scale", 1.0))
    return doc
