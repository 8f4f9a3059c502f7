"""The SC top module around the emitted node blocks: its header, ports (``clk rst start n_steps
x_in busy done x_step valid out_step``, per inner layer ``valid_<layer> out_step_<layer>``, and
the ``o_<node>`` outputs), the control of every timed layer (cycle and step counters, start /
busy / valid / done, the pipelined launch of the next layer, clock enables of shorter layers),
and the packing of the checked values onto the output ports.

A sequence-level head (after a ``last_step`` layer) runs once per sequence: a streamed head is
launched when the last recurrent layer finishes its last step and runs one step; ``valid`` is
then high once per sequence, with ``out_step`` = ``n_steps - 1`` (the step the head read), and
the last recurrent layer reports its own steps on ``valid_<layer>`` / ``out_step_<layer>``.

A bidirectional layer's directions each launch the next phase after their LAST step (the
backward direction after the forward one, the read-out after the backward one); the top then has
an ``overflow`` output: a ``start`` with ``n_steps > max_steps`` runs nothing and raises it with
``done`` (:mod:`.ops.sequence`)."""

from __future__ import annotations

from ...sim.primitives import counter_width
from .emitter import STEP_BITS, DesignEmitter
from .names import comment_text
from .verilog_text import Section


def layer_control(sec: Section, p: str, prev: str | None, period: int, lw: int, launch: bool, step_rst: bool,
                  *, launch_last: bool = False, once: bool = False, first_steps: str = "n_steps") -> None:
    """Control of timed layer ``p``: ``period`` cycles per step.  Layer 0 starts on ``start``;
    layer k + 1 when layer k finishes its step 0 (its step t runs during layer k's step t + 1):
    an inner layer (``launch``) drives the next layer's start, the last one ``done``.
    ``launch_last``: the next layer is launched when this one finishes its LAST step; ``once``:
    this layer (a sequence-level head) runs one step, on the previous layer's last values, and
    reports it as step ``n_steps - 1``.  ``first_steps``: the steps layer 0 runs (0: none)."""
    go = "start" if prev is None else f"{prev}_launch"
    nsteps = first_steps if prev is None else f"{STEP_BITS}'d1" if once else f"{prev}_steps"
    S, last = STEP_BITS, period - 1
    # only the last layer has a done flag: an inner layer's valid ends with its flush
    clear_done = "" if launch else f" {p}_done <= 1'b0;"
    sec.comment(f"control of layer {p}: {p}_srst restarts its stream primitives "
                f"({'start' if prev is None else 'when ' + prev + ' finished step 0'}),",
                f"{p}_first = first cycle of a step, {p}_boundary = first cycle of a step >= 1 (previous step final)")
    sec.wire(f"{p}_srst", init=f"rst | {go}")
    sec.reg(f"{p}_cyc", lw)
    sec.reg(f"{p}_step", S)
    sec.reg(f"{p}_steps", S)
    sec.reg((f"{p}_busy", f"{p}_flush") if launch else (f"{p}_busy", f"{p}_done", f"{p}_flush"))
    sec.wire(f"{p}_first", init=f"{p}_busy && ({p}_cyc == {lw}'d0)")
    sec.wire(f"{p}_boundary", init=f"{p}_first && ({p}_step != {S}'d0)")
    sec.wire(f"{p}_valid", init=f"{p}_boundary || {p}_flush")
    sec.wire(f"{p}_out_step", S, init=f"{prev}_steps - {S}'d1" if once else f"{p}_step - {S}'d1")
    if launch:
        when = f"({p}_step + {S}'d1 == {p}_steps)" if launch_last else f"({p}_step == {S}'d0)"
        sec.wire(f"{p}_launch", init=f"{p}_busy && ({p}_cyc == {lw}'d{last}) && {when}",
                 comment="the next layer runs once, after this layer's last step" if launch_last else None)
    if step_rst:
        sec.wire(f"{p}_step_rst", init=f"{p}_srst | ({p}_busy && ({p}_cyc == {lw}'d{last}))",
                 comment="FSMs with state_policy reset")
    restart = [] if prev is None else [
        "end else if (start) begin      // a new sequence: idle until the previous layer launches it",
        f"    {p}_busy <= 1'b0;{clear_done} {p}_flush <= 1'b0;"]
    sec.always("posedge clk", [
        "if (rst) begin",
        (f"    {p}_busy <= 1'b0;{clear_done} {p}_flush <= 1'b0; {p}_cyc <= {lw}'d0; {p}_step <= {S}'d0; "
         f"{p}_steps <= {S}'d0;"),
        *restart,
        f"end else if ({go}) begin",
        f"    {p}_busy <= ({nsteps} != {S}'d0);{clear_done} {p}_flush <= 1'b0; {p}_cyc <= {lw}'d0; {p}_step <= {S}'d0;",
        f"    {p}_steps <= {nsteps};",
        "end else begin",
        f"    {p}_flush <= 1'b0;",
        *([] if launch else [f"    if ({p}_flush) {p}_done <= 1'b1;"]),
        f"    if ({p}_busy) begin",
        f"        if ({p}_cyc == {lw}'d{last}) begin",
        f"            {p}_cyc <= {lw}'d0;",
        f"            {p}_step <= {p}_step + {S}'d1;",
        f"            if ({p}_step + {S}'d1 == {p}_steps) begin {p}_busy <= 1'b0; {p}_flush <= 1'b1; end",
        "        end else begin",
        f"            {p}_cyc <= {p}_cyc + {lw}'d1;",
        "        end",
        "    end",
        "end"])


def sequential_mac_control(sec: Section, mac: dict, go: str, step: str, final: str,
                           src_done: str) -> tuple[str, str, str]:
    """The control of a sequential fixed-point head (:func:`.ops.dense.sequential_mac`): started
    (operands captured) in the cycle ``go`` in which a parallel head would be read, busy for its C
    MAC cycles, ``valid`` in the next cycle with the step ``step`` had at ``go``; ``done`` one
    cycle after the valid of the evaluation started by the ``final`` (last) step (its layer's
    ``src_done`` is high by then).  Returns the
    top's (valid, out_step, done)."""
    b, c, w, S = mac["base"], mac["cycles"], mac["width"], STEP_BITS
    sec.comment(f"sequential MAC control: capture on {b}_go, {c} accumulate cycle(s), {b}_valid after them")
    sec.wire(f"{b}_go", init=go)
    sec.reg((f"{b}_busy", f"{b}_valid", f"{b}_last", f"{b}_done"))
    sec.reg(f"{b}_cyc", w)
    sec.reg(f"{b}_step", S)
    sec.always("posedge clk", [
        "if (rst || start) begin",
        f"    {b}_busy <= 1'b0; {b}_valid <= 1'b0; {b}_last <= 1'b0; {b}_done <= 1'b0; {b}_cyc <= {w}'d0;",
        f"    {b}_step <= {S}'d0;",
        "end else begin",
        f"    {b}_valid <= {b}_busy && ({b}_cyc == {w}'d{c - 1});",
        f"    if ({b}_valid && {b}_last && {src_done}) {b}_done <= 1'b1;",
        f"    if ({b}_go) begin",
        f"        {b}_busy <= 1'b1; {b}_cyc <= {w}'d0; {b}_last <= {final}; {b}_step <= {step};",
        f"    end else if ({b}_busy) begin",
        f"        if ({b}_cyc == {w}'d{c - 1}) {b}_busy <= 1'b0;",
        f"        else {b}_cyc <= {b}_cyc + {w}'d1;",
        "    end",
        "end"])
    return f"{b}_valid", f"{b}_step", f"{b}_done"


def input_port(em: DesignEmitter) -> tuple[int, str]:
    """(width, comment) of ``x_in`` for the design's input format."""
    if em.x_format == "tern":
        return 2 * em.in_size, "feature j: [2j] nonzero, [2j+1] positive"
    if em.x_format == "token":
        return em.x_width, f"the token id (< {em.vocab})"
    return em.x_width * em.in_size, f"feature j: its SNG threshold X at [{em.x_width}j +: {em.x_width}]"


def top_text(em: DesignEmitter) -> str:
    """The complete top module (after :meth:`DesignEmitter.run`)."""
    m = em.module
    lw = counter_width(em.P)
    lens = ", ".join(f"{em.vid(k)} L = {v}" for k, v in em.lengths.items())
    m.comments = [
        f"// {em.top}: generated by sccompiler.backends.verilog.design from the compiled design",
        f"// {comment_text(em.design.model.name)} (layer {em.vid(em.layer)}; {lens}; {em.P} cycles per time step).",
        "// Synthesizable Verilog-2005.  Protocol: pulse start (with n_steps >= 1) to run a sequence from",
        "// reset; hold x_in at the input of step x_step while busy; valid marks the cycle where o_* hold",
        "// the values of step out_step; done rises after the last step.  docs/verilog.md, 'Designs'.",
        *(["// The head runs once per sequence, on the last step: valid is high once, out_step = n_steps - 1."]
          if em.per_sequence else []),
        *em.names.comment_lines()]
    m.ports = []
    for name in ("clk", "rst", "start"):
        m.port("input", name)
    m.port("input", "n_steps", STEP_BITS)
    m.port("input", "x_in", *input_port(em))
    m.port("output", "busy")
    m.port("output", "done")
    m.port("output", "x_step", STEP_BITS)
    m.port("output", "valid")
    m.port("output", "out_step", STEP_BITS)
    if em.bidir is not None:
        m.port("output", "overflow", comment=f"n_steps > max_steps = {em.bidir.max_steps}: refused, not run "
                                             "(done rises with it)")
    inner = [em.vid(layer) for layer in em.inner_layers]
    for layer in inner:
        m.port("output", f"valid_{layer}")
        m.port("output", f"out_step_{layer}", STEP_BITS)
    for o in em.outputs:
        m.port("output", f"o_{em.nid(o['node'])}", len(o["rows"]) * o["width"])
    ctl = em.control
    b = em.bidir
    serial = () if b is None else (b.forward, b.reverse)
    first_steps = "n_steps"
    if b is not None:
        ctl.comment(f"bidirectional layer {em.vid(b.forward)}: forward phase, backward phase over the buffered "
                    "sequence, then the read-out (docs/semantics.md); a sequence longer than the "
                    f"{b.max_steps}-entry buffers is refused")
        ctl.reg("overflow_q")
        ctl.always("posedge clk", ["if (rst) overflow_q <= 1'b0;",
                                   f"else if (start) overflow_q <= (n_steps > {STEP_BITS}'d{b.max_steps});"])
        first_steps = f"((n_steps > {STEP_BITS}'d{b.max_steps}) ? {STEP_BITS}'d0 : n_steps)"
    for k, layer in enumerate(em.rec_layers):
        v = em.vid(layer)
        nxt = em.rec_layers[k + 1] if k + 1 < len(em.rec_layers) else None
        # a direction of a bidirectional layer launches the next phase after its LAST step
        layer_control(ctl, v, em.vid(em.rec_layers[k - 1]) if k else None, em.P, lw, nxt is not None,
                      layer in em.step_rst_used, launch_last=nxt in em.sequence_layers or layer in serial,
                      once=layer in em.sequence_layers, first_steps=first_steps)
        if b is not None and b.readout and layer == b.concat:      # the read-out has no stream primitives
            for d in ctl.items:
                if getattr(d, "names", None) == (f"{v}_srst",):
                    d.unused = "the read-out control resets no stream primitive"
        L = em.lengths[layer]
        if L < em.P:
            ctl.wire(f"{v}_en", init=f"({v}_cyc < {lw}'d{L})",
                     comment=f"L = {L} active cycles of the {em.P}-cycle step; "
                             "then its sources, FSMs and counters hold")
    first, last = em.vid(em.rec_layers[0]), em.vid(em.layer)
    ctl.assign("busy", f"{first}_busy")
    ctl.assign("x_step", f"{first}_step")
    once_exact = em.per_sequence and em.layer not in em.sequence_layers
    if once_exact:                       # an exact head on the last step: valid once, after the last step
        valid, out_step = f"{last}_flush", f"{last}_steps - {STEP_BITS}'d1"
    else:
        valid, out_step = f"{last}_valid", f"{last}_out_step"
    done = f"{last}_done"
    if em.seq_mac:
        valid, out_step, done = sequential_mac_control(ctl, em.seq_mac, valid, out_step, f"{last}_flush", done)
    ctl.assign("valid", valid)
    ctl.assign("out_step", out_step)
    if b is not None:
        ctl.assign("overflow", "overflow_q")
        done = f"{done} | overflow_q"
    ctl.assign("done", done)
    for layer in inner:
        ctl.assign(f"valid_{layer}", f"{layer}_valid")
        ctl.assign(f"out_step_{layer}", f"{layer}_out_step")
    outs = m.section("outputs")
    outs.blank()
    for o in em.outputs:
        w = o["width"]
        for r, e in enumerate(o["rows"]):
            outs.assign(f"o_{em.nid(o['node'])}[{r * w + w - 1}:{r * w}]", e)
    return m.text()
