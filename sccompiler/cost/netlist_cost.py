"""The op -> cost mapping of the compiled netlist: its primitive inventory, its cost against the
baselines, and the analytic XNOR-LSTM reference count side by side.

Every node maps to :mod:`sccompiler.cost` primitives (:func:`node_inventory`; docs/compiler.md has
the table); the inventory of each layer is one part of a :class:`~sccompiler.cost.Design` timed as
the emitted RTL (:mod:`.timing`: every timed layer steps with the period P = the longest L, no
overhead cycle, layers pipelined one step apart, the last result one cycle after the last step).
Binary-domain nodes (exact XNOR + popcount, gate tables) settle once per step.  A head after a
``last_step`` layer runs one step per sequence: its switching energy is charged for one step
period (``Design.sequence_parts``), in the SC design and in the baselines alike.  The markdown
report that shows these numbers is :mod:`sccompiler.report_md`.
"""

from __future__ import annotations

import numpy as np

from ..ir.sc import SCNetlist, SCNode, final_state_select
from ..sim.rules import bipolar_count_width, mac_schedule, signed_width, unsigned_width
from ..sim.sources import sobol_direction_count, sobol_directions
from .inventory import Design, Inventory
from .timing import bidirectional_schedule, netlist_timing, sequential_head


def _bits(n: int) -> int:
    return unsigned_width(max(int(n), 1))


def live_comparators(node: SCNode) -> int:
    """Comparators of an SNG/WFSM node that exist in hardware (pruned ones read no source)."""
    if "src" not in node.arrays:
        return node.size
    return int(np.count_nonzero(np.asarray(node.arrays["src"]) >= 0))


def source_inventory(netlist: SCNetlist, layer: str) -> Inventory:
    """The source registers of one layer: one leap-forward LFSR of its width each; a Sobol
    register (§2.5) is its DFFs + one XOR2 per bit some direction number sets + per bit the OR
    of the direction-select lines whose number sets it, and the layer has one one-hot select."""
    inv = Inventory()
    widths: dict[int, int] = {}
    sobol: dict[tuple[int, int], int] = {}
    ors: dict[int, int] = {}
    plan = next((p for p in netlist.layers if p.name == layer), None)
    m = sobol_direction_count(max(1, int(plan.length or 1))) if plan is not None else 1
    for reg in netlist.sources.get("registers") or []:
        if reg["layer"] != layer:
            continue
        w = int(reg["width"])
        if reg.get("kind", "lfsr") == "sobol":
            dirs = sobol_directions(int(reg["dim"]), w, m)
            ones = [sum((v >> j) & 1 for v in dirs) for j in range(w)]
            key = (w, sum(1 for o in ones if o))
            sobol[key] = sobol.get(key, 0) + 1
            for o in ones:
                if o >= 2:
                    ors[o] = ors.get(o, 0) + 1
        else:
            widths[w] = widths.get(w, 0) + 1
    for w, count in sorted(widths.items()):
        inv = inv.add("lfsr", count, width=w)
    for (w, x), count in sorted(sobol.items()):
        inv = inv.add("sobol", count, width=w, xors=x)
    for k, count in sorted(ors.items()):
        inv = inv.add("or", count, inputs=k)
    if sobol:
        inv = inv.add("sobol_select", 1, directions=m)
    return inv


def node_inventory(node: SCNode, length: int) -> Inventory:
    """Primitives of one node (see docs/compiler.md for the mapping); the random sources its
    comparators read are the layer's source registers (:func:`source_inventory`)."""
    op, p, size = node.op, node.params, node.size
    inv = Inventory()
    if op == "sng":
        const = "const" in node.arrays
        inv = Inventory.of("sng", live_comparators(node), width=p["bits"], constant=const or None)
        if const and node.arrays["const"].ndim == len(node.shape) + 1:
            # per-step constants (per-step bn_x/bn_h biases): a ROM of T x size thresholds
            T = node.arrays["const"].shape[0]
            inv = inv.add("weight_memory", bits=int(T * size * p["bits"]), storage="rom")
        if "gain" in node.arrays:
            # per-step / per-row input gain (bn_x/bn_h scale ratio): a ROM of the gains and one
            # b x b multiplier per SNG scaling its input once per step (binary domain)
            g = node.arrays["gain"]
            inv = inv.add("weight_memory", bits=int(g.size * p["bits"]), storage="rom")
            inv = inv.add("array_multiplier", size, width=int(p["bits"]), domain="binary")
    elif op == "wfsm":
        steps = int(np.max(node.arrays["operands"]))
        inv = Inventory.of("wfsm", size, states=p["states"], weight_bits=p["weight_bits"], max_step=steps)
        wq = node.arrays["wq"]
        if wq.ndim == 3:
            # per-step table bank: a ROM of T x G tables of N b-bit weights, loaded into the WFSMs'
            # weight tables once per step (N x b bits per FSM read), and a step counter that
            # stops at the last table
            T, G, N = wq.shape
            inv = inv.add("weight_memory", bits=int(T * G * N * p["weight_bits"]), storage="rom",
                          read_bits_per_cycle=0)
            inv = inv.add("counter", 1, width=_bits(T))
    elif op in ("xnor", "mux"):
        inv = Inventory.of(op, size)
    elif op == "xnor_int":
        inv = Inventory.of("xnor", size * int(p["operands"]))
    elif op == "xnor_apc":
        w = node.arrays["weights"]
        inv = Inventory.of("xnor", int(np.count_nonzero(w)))
        if np.any(w == 0) or p.get("gated"):
            inv = inv.add("and", int(np.count_nonzero(w)))     # gated XNOR: zero weights switch off
        if p.get("gated"):
            # zero inputs switch operands off per step: each row also counts its enabled operands
            # (d = 2 popcount(prod & en) - popcount(en)) instead of subtracting a constant
            inv = inv.add("apc", w.shape[0], inputs=int(np.max(np.count_nonzero(w, axis=1))))
    elif op == "apc":
        m = int(node.range[1])
        inv = (Inventory.of("apc", size, inputs=m)
               .add("ripple_adder", size, width=_bits(m) + 1, carry_in=False, domain="stream"))
    elif op == "xnor_popcount":
        w = node.arrays["weights"]
        rows, cols = w.shape
        inv = Inventory.of("xnor", int(np.count_nonzero(w)), domain="binary").add(
            "apc", rows, inputs=cols, domain="binary")
        if np.any(w == 0) or p.get("skip_zero"):
            # gated XNOR: zero weights, and zero ternary states (state skipping), switch it off
            inv = inv.add("and", int(np.count_nonzero(w)), domain="binary")
    elif op == "int_mac":
        inv = int_mac_inventory(node)
    elif op == "gate_table":
        inv = Inventory.of("activation_lut", size, input_bits=min(int(p["input_bits"]), 16),
                           output_bits=int(p.get("output_bits", 8)))
    elif op == "updown_counter":
        lo, hi = node.range
        inv = Inventory.of("counter", size, width=_bits(int(hi) - int(lo)),
                           increment_bits=_bits(abs(int(lo)) // max(length, 1) * 2 + 1))
    elif op == "counter":
        inv = Inventory.of("counter", size, width=_bits(length))
    elif op == "decode":
        if p["mode"] == "sign":
            inv = Inventory.of("register", size, width=1, domain="stream")
        elif p["mode"] == "cell_sign":
            # a compare of c's count with a (per-step) threshold: a subtractor of the counter's
            # width (its sign bit is h), the thresholds a ROM over the step index when per step
            thr = node.arrays["thr"]
            width = _bits(int(np.abs(thr).max()) * 2 + 2)
            inv = Inventory.of("register", size, width=1, domain="stream").add("ripple_adder", size, width=width)
            if thr.shape[0] > 1:
                inv = inv.add("weight_memory", bits=int(thr.size) * (width + 1))
        else:
            n = int(p.get("bits", 8))                           # hold register of the re-encoded value
            inv = Inventory.of("register", size, width=n, domain="stream")
            if p["mode"] == "integral":
                # a count narrower than the SNG width is shifted into it: only its own bits clamp
                wi = _bits(2 * length) + 2
                inv = inv.add("requantize", size, input_width=wi, output_width=min(n, wi), domain="stream")
    elif op == "dense_out":
        inv = Inventory.of("ripple_adder", size, width=16)
    elif op == "lookup":
        t = node.arrays["table"]
        inv = Inventory.of("weight_memory", bits=int(t.size) * 8)
    return inv


def skipping_banks(netlist: SCNetlist) -> list[SCNode]:
    """The XNOR + popcount banks that read ternary hidden states (``skip_zero``): a zero state
    switches its XNORs off (state skipping, Ardakani et al. DATE 2019)."""
    return [n for n in netlist if n.op == "xnor_popcount" and n.params.get("skip_zero")]


def state_skipping(netlist: SCNetlist, runs: dict, *, source: str) -> dict:
    """The fraction of XNOR evaluations that zero ternary states switch off, counted from a
    simulation's traces (``runs``: layer -> ``LayerRun`` with ``trace``, as ``Runtime.run(...,
    trace=True)`` returns).  Bank r x j evaluates once per time step for every weight w_rj != 0;
    it is skipped where the operand o_j of that step is 0, so the skipped evaluations of a step
    are ``sum_j nnz(W[:, j]) [o_j = 0]`` out of ``nnz(W)``.  ``source`` says where the inputs came
    from (reported as is)."""
    banks = {}
    total = skipped = 0
    for n in skipping_banks(netlist):
        run = runs.get(n.layer)
        if run is None or n.inputs[0] not in run.trace:
            continue
        o = np.rint(np.asarray(run.trace[n.inputs[0]], dtype=np.float64) / float(n.params["operand_scale"]))
        col = np.count_nonzero(n.arrays["weights"], axis=0)          # nonzero weights per operand j
        evals = int(col.sum()) * int(o.shape[0] * o.shape[1])
        off = int(((o == 0) * col).sum())
        banks[n.name] = {"xnor_evaluations": evals, "skipped": off,
                         "skipped_fraction": off / evals if evals else 0.0,
                         "zero_state_fraction": float(np.mean(o == 0)) if o.size else 0.0}
        total += evals
        skipped += off
    return {"skipped_fraction": skipped / total if total else 0.0, "xnor_evaluations": total,
            "skipped": skipped, "banks": banks, "source": source}


def skipping_energy(netlist: SCNetlist, skipping: dict, target, steps: int) -> dict:
    """Switching energy the skipped XNORs (and their enable ANDs) do not spend, per inference of
    ``steps`` time steps: per bank the dynamic energy of one evaluation of its XNOR + AND gates
    (binary domain: they settle once per step) x steps x the bank's skipped fraction."""
    from .inventory import dynamic_energy_per_cycle_j  # noqa: PLC0415

    saved = 0.0
    for n in skipping_banks(netlist):
        b = skipping["banks"].get(n.name)
        if b is None:
            continue
        nnz = int(np.count_nonzero(n.arrays["weights"]))
        inv = Inventory.of("xnor", nnz, domain="binary").add("and", nnz, domain="binary")
        saved += dynamic_energy_per_cycle_j(inv, target) * steps * b["skipped_fraction"]
    return {"energy_saved_per_inference_j": saved}


def int_mac_inventory(node: SCNode) -> Inventory:
    """A fixed-point head.  Fully parallel (no ``macs``), combinational (settles once per step, as
    the emitted RTL): one K x w-bit array multiplier per nonzero weight (w = 2 for exact codes
    {-1, 0, 1}; for counts the w = bits(L) + 1 bits of 2 c - L, formed by one constant-subtract
    ripple adder per input), then per output row a balanced adder tree of its products.
    Sequential (``macs`` = P): :func:`sequential_mac_inventory`."""
    wq = np.asarray(node.arrays["wq"])
    k = int(node.params["weight_bits"])
    if node.params["operands"] == "codes":
        w = 2
        inv = Inventory()
    else:
        w = bipolar_count_width(int(node.params["length"]))
        inv = Inventory.of("ripple_adder", wq.shape[1], width=w, carry_in=False, domain="binary")
    if node.params.get("macs") is not None:
        return inv + sequential_mac_inventory(node, w)
    nnz = np.count_nonzero(wq, axis=1)
    if int(nnz.sum()):
        inv = inv.add("array_multiplier", int(nnz.sum()), width=k, width_b=w, domain="binary")
    for terms, count in zip(*np.unique(nnz[nnz > 1], return_counts=True)):
        inv = inv.add("adder_tree", int(count), terms=int(terms), width=k + w, domain="binary")
    return inv


def sequential_mac_inventory(node: SCNode, operand_width: int) -> Inventory:
    """A sequential (folded) MAC of P units over the schedule :func:`sim.rules.mac_schedule`, as
    the emitted RTL: the operands captured in J registers of w bits; per unit a C:1 operand select
    (w-bit 2:1 muxes over the distinct inputs it reads) and a C:1 weight select (K-bit muxes; the
    weights themselves are the ``weights`` part), one K x w multiplier, and one accumulator per row
    its block touches; per row one adder per further unit's partial; the control counter over the
    C cycles.  The K-bit weights stay in the ``weights`` part."""
    wq = np.asarray(node.arrays["wq"])
    rows, cols = wq.shape
    k, w = int(node.params["weight_bits"]), int(operand_width)
    aw = signed_width(*map(int, node.range))
    sched = mac_schedule(rows, cols, int(node.params["macs"]))
    cycles = len(sched[0])
    inv = Inventory.of("register", cols, width=w, domain="binary")            # operand capture
    inv = inv.add("counter", 1, width=unsigned_width(max(cycles, 1)))        # the MAC cycle counter
    muxes = sum((len({j for _, j in blk}) - 1) * w + (len(blk) - 1) * k for blk in sched)
    if muxes:
        inv = inv.add("mux", muxes, domain="binary")
    inv = inv.add("array_multiplier", len(sched), width=k, width_b=w, domain="binary")
    partials = sum(len({r for r, _ in blk}) for blk in sched)
    inv = inv.add("accumulator", partials, width=aw, input_width=min(k + w, aw), domain="binary")
    if partials > rows:
        inv = inv.add("ripple_adder", partials - rows, width=aw, domain="binary")
    return inv


def _wfsm_states(netlist: SCNetlist, layer: str, role: str, option) -> int:
    """The state count a layer's WFSMs of ``role`` ended up with (``auto`` is resolved by synthesis)."""
    for node in netlist.layer_nodes(layer):
        if node.op == "wfsm" and node.params.get("role") == role:
            return int(node.params["states"])
    return 32 if option == "auto" else int(option)


def buffer_widths(netlist: SCNetlist, plan) -> dict[str, int]:
    """The bits per time step of a bidirectional layer's three sequence buffers (``plan``: its
    ``concat`` layer): the input codes (2 bits {nz, pos} per exact input, the SNG threshold's
    ``bits + 1`` per real one, ``x_in``'s fields) and each direction's h (1 bit sign, 2 ternary,
    the hold register's bits of a re-encoded h).  Under an h_n head (a ``last_step`` keeping the
    directions' final states, :func:`final_state_select`) only the input buffer: the head reads
    forward h_{T-1} and backward h_0 from the directions' own h registers, which hold them after
    their phases (each direction is clock-enabled only in its own phase)."""
    (cat,) = netlist.layer_nodes(plan.name)
    fwd, bwd = (netlist.node(i) for i in cat.inputs)
    x = netlist.node(f"{fwd.layer}.x")
    rec = netlist.plan(fwd.layer).options
    xb = 2 if x.params.get("exact") else int(rec.sng_bits) + 1

    def hbits(h: SCNode) -> int:
        mode = h.params.get("mode")
        return {"sign": 1, "cell_sign": 1, "ternary": 2}.get(mode, int(h.params.get("bits", 8)))

    if final_state_select(netlist) is not None:
        # an h_n head reads each direction's h register, held after its phase: no h buffers
        return {"input": x.size * xb}
    return {"input": x.size * xb, "forward_h": fwd.size * hbits(fwd), "backward_h": bwd.size * hbits(bwd)}


def buffer_inventory(netlist: SCNetlist, plan) -> Inventory:
    """A bidirectional layer's sequence buffers (``plan``: its ``concat`` layer), T_max =
    ``max_steps`` entries each (:func:`buffer_widths`), and the step-address logic: a step counter
    and the reversed address T - 1 - k of the backward phase (a subtractor of the counter's width)."""
    depth = int(plan.options.max_steps)
    inv = Inventory()
    for width in buffer_widths(netlist, plan).values():
        inv = inv.add("sequence_buffer", 1, width=width, depth=depth)
    aw = _bits(depth)
    return inv.add("counter", 1, width=aw).add("ripple_adder", 1, width=aw, domain="binary")


def netlist_inventory(netlist: SCNetlist) -> dict[str, Inventory]:
    """Layer name -> inventory (weights as a separate ``weights`` part; a bidirectional layer's
    ``concat`` layer: its sequence buffers)."""
    parts: dict[str, Inventory] = {}
    weight_bits = 0
    for plan in netlist.layers:
        if plan.kind == "concat":
            parts[plan.name] = buffer_inventory(netlist, plan)
            continue
        inv = source_inventory(netlist, plan.name)
        for node in netlist.layer_nodes(plan.name):
            inv = inv + node_inventory(node, plan.length or 1)
            if "weights" in node.arrays:
                w = node.arrays["weights"]
                weight_bits += w.size * (2 if np.any(w == 0) else 1)
            elif node.op == "int_mac":               # a fixed-point head: K bits per weight
                weight_bits += node.arrays["wq"].size * int(node.params["weight_bits"])
        if len(inv):
            parts[plan.name] = inv
    if weight_bits:
        parts["weights"] = Inventory.of("weight_memory", bits=int(weight_bits), storage="register")
    return parts


def sequence_layers(netlist: SCNetlist) -> tuple[str, ...]:
    """The layers after a ``last_step`` layer (a sequence-level head): they compute one time step
    per sequence, so their switching energy is counted once per sequence, not per step."""
    names = [p.name for p in netlist.layers]
    kinds = [p.kind for p in netlist.layers]
    return tuple(names[kinds.index("last_step") + 1:]) if "last_step" in kinds else ()


def _kind_counts(inv: Inventory) -> dict[str, int]:
    out: dict[str, int] = {}
    for prim, n in inv:
        out[prim.kind] = out.get(prim.kind, 0) + n
    return out


def cost_report(netlist: SCNetlist, model, config, *, steps: int = 1, skipping: dict | None = None) -> dict:
    """Cost of the compiled design running ``steps`` time steps vs the fixed-point and
    accumulate-only baselines (equal latency included), and the primitive counts next to the
    analytic reference datapath.  ``skipping`` (:func:`state_skipping` of a simulation) adds the
    ``state_skipping`` entry for designs with ternary hidden states: the measured fraction of
    skipped XNOR evaluations and the energy per inference with them switched off (area counts
    the enable ANDs already)."""
    from . import (  # noqa: PLC0415
        binary_weight_design,
        compare,
        fixed_point_design,
        head_shape,
        layer_shapes,
        load_target,
        parallelism_for_latency,
        weight_kind,
        xnor_lstm_reference_inventory,
    )

    parts = netlist_inventory(netlist)
    rec = [p for p in netlist.layers if p.kind in ("lstm", "gru")]
    timing = netlist_timing(netlist, steps=steps, clock_mhz=load_target(config.cost_target).clock_mhz)
    P = timing.step_period
    head = sequential_head(netlist)
    # a sequential head works H cycles per evaluation (once per step, or once per sequence)
    active = ((head[0], head[1] * (1 if head[2] else steps)),) if head else ()
    serial, once = bidirectional_schedule(netlist)
    # a bidirectional layer: its directions run one after the other (clock-gated outside their phase)
    gated = tuple((p.name, P) for p in netlist.layers if p.options.direction is not None)
    phases = (f"a bidirectional layer's 2 directions one after the other over the buffered sequence "
              f"(2 T x {P} cycles), then " if serial else "")
    sc = Design(name=f"sc-compiled-L{max(p.length for p in rec)}", parts=tuple(parts.items()),
                step_cycles=timing.step_cycles, result_cycles=timing.result_cycles, active_parts=active,
                serial_step_cycles=serial * P, pipeline_once=once, gated_parts=gated,
                description=(f"the compiled SC netlist (this design), timed as its emitted RTL: {phases}"
                             f"{timing.pipeline_depth} pipelined layer(s) stepping every P = {P} cycles, "
                             f"({'1' if once else 'T'} + {timing.pipeline_depth - 1}) x {P} + {timing.result_cycles} "
                             f"cycles for T steps"),
                ops_unit="stream-bit XNOR",
                params=(("lengths", tuple(p.length for p in rec)),), settle_cycles=P,
                sequence_parts=sequence_layers(netlist))
    shapes = layer_shapes(model)
    head = head_shape(model)            # the baselines carry the same dense head as the SC design
    kind = weight_kind(model)
    bits = config.cost_bits
    # the folded baselines must finish a time step within the SC design's step period
    p_eq = parallelism_for_latency(shapes, P, head=head)
    hd = {"head": head, "head_per_sequence": head is not None and bool(sequence_layers(netlist))}
    baselines = [fixed_point_design(shapes, bits=bits, **hd),          # the same head, once per
                 fixed_point_design(shapes, bits=bits, parallelism=p_eq, **hd),   # sequence after a
                 binary_weight_design(shapes, weights=kind, act_bits=bits, **hd),  # last step
                 binary_weight_design(shapes, weights=kind, act_bits=bits, parallelism=p_eq, **hd)]
    result = compare(sc, baselines, config.cost_target, steps=steps)
    result["equal_latency_parallelism"] = p_eq
    if skipping_banks(netlist):
        if skipping is None:
            result["state_skipping"] = {"skipped_fraction": None, "source": "not measured: compile with "
                                        "calibration inputs (the cost pass simulates them)"}
        else:
            e = skipping_energy(netlist, skipping, config.cost_target, steps)
            full = float(result["designs"][sc.name]["cost"]["energy_per_inference_j"])
            result["state_skipping"] = {**skipping, **e,
                                        "energy_per_inference_j": full - e["energy_saved_per_inference_j"],
                                        "energy_per_inference_j_without_skipping": full}
    result["timing"] = timing.to_json()
    buffers = {}
    for plan in netlist.layers:
        if plan.kind == "concat":
            widths = buffer_widths(netlist, plan)
            part = result["designs"][sc.name]["parts"][plan.name]
            buffers[plan.name] = {"max_steps": int(plan.options.max_steps), "bits_per_step": widths,
                                  "bits": int(plan.options.max_steps) * sum(widths.values()),
                                  "storage": "register file (REGFILE_BIT)", **part}
    if buffers:
        result["sequence_buffers"] = buffers
    # the analytic reference (docs/background.md §5) for LSTM layers, counted per primitive kind
    mine = _kind_counts(sc.inventory)
    ref_total = Inventory()
    for plan in rec:
        if plan.kind != "lstm":
            continue
        # a backward direction has the shape of its model layer (``NAME.reverse`` of ``NAME``)
        lay = model.layer(plan.name.removesuffix(".reverse") if plan.options.direction == "backward" else plan.name)
        o = plan.options
        ref_total = ref_total + xnor_lstm_reference_inventory(
            lay.input_size, lay.hidden_size, plan.length, weight_bits=2 if kind == "ternary" else 1,
            gate_fsm_states=_wfsm_states(netlist, plan.name, "gate", o.gate_fsm_states),
            cell_fsm_states=_wfsm_states(netlist, plan.name, "cell", o.cell_fsm_states),
            fsm_weight_bits=o.fsm_weight_bits, sng_bits=o.sng_bits,
            lfsr_width=int(netlist.sources.get("width", 32)),
            hidden_encoding="binary" if o.hidden == "sign" else "stream",
            input_encoding="stream" if o.gate_input == "integral_wfsm" else "binary")
    ref = _kind_counts(ref_total)
    result["reference_comparison"] = {
        "netlist": mine, "reference": ref,
        "explanations": [
            "table gates (exact inputs): XNOR+popcount and an activation table per gate row in the binary "
            "domain replace the reference's stream XNOR/APC/WFSM per row",
            "the reference shares the h SNG with the next layer's input; the compiled netlist gives every "
            "layer its own input SNGs",
            ("every SNG/WFSM comparator has its own LFSR (sources: private, as the reference)"
             if netlist.sources.get("mode") == "private" else
             f"comparators read {netlist.sources.get('count')} shared source registers (sources: shared) "
             "instead of one LFSR each"),
            "c_t is stored as K = cell_range streams (K SNGs, K XNORs) instead of one",
            "bias streams: ceil(max|b|/u) constant SNGs per gate row (the reference: one)",
            "the cell's APC (f*c + i*g) carries its own d = 2k - M offset adder (H ripple adders the reference "
            "does not count); with cell_range=1, one bias stream and integral gates every other kind matches",
        ]}
    return result
