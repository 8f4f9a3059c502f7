"""Memory plan of a packed-runtime run: how many sequences to simulate at once, and a refusal
(:class:`~sccompiler.errors.ResourceLimitError`, with the bytes it would need) for inputs that
cannot fit even one sequence at a time -- instead of being killed by the operating system."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ResourceLimitError, SCValueError
from ..ir.sc import SCNetlist
from ..sim.rules import is_int

#: fraction of the available memory a run may plan for when no limit is given
MEMORY_FRACTION = 0.5
#: most sequences simulated at once (larger chunks gain nothing and lose cache locality)
MAX_CHUNK = 512


@dataclass(frozen=True)
class MemoryPlan:
    chunk: int                 # sequences per chunk
    per_sequence: int          # bytes per sequence in flight (one step's streams)
    fixed: int                 # bytes for the whole batch (outputs, traces) + shared tables
    limit: int                 # the budget planned against


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable of /proc/meminfo, else physical pages)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def estimate(netlist: SCNetlist, lengths: dict[str, int], steps: int, trace: bool = False,
             collect: bool = False) -> tuple[int, int, int]:
    """(bytes per sequence in flight, bytes per sequence kept for the whole run, shared bytes)."""
    flight = kept = shared = 0
    for plan in netlist.layers:
        L = max(1, int(lengths.get(plan.name, plan.length) or 1))
        W = -(-L // 64)
        layer = 0
        for n in netlist.layer_nodes(plan.name):
            if n.kind == "bits":
                layer += n.size * W * 8 + (n.size * L if collect else 0)
                if n.op == "sng":
                    shared += n.size * ((1 << int(n.params.get("bits", 8))) + 1) * W * 8
            elif n.kind == "int":
                layer += n.size * L * 4 * 2                           # a per-cycle term and its sum
            if n.op == "xnor_apc":
                M = n.arrays["weights"].shape[1]
                banks = max(1, netlist.node(n.inputs[0]).size // max(M, 1))
                layer += banks * L * (-(-M // 64)) * 8                 # element-packed operands
            if n.kind in ("value", "word"):
                layer += n.size * 8 * 2
                kept += steps * n.size * 8 if trace else 0
            elif trace:
                kept += steps * n.size * 8
        flight = max(flight, layer)
        out = netlist.layer_nodes(plan.name)[-1]
        kept += steps * out.size * 8
    return flight, kept, min(shared, 64 << 20)


def plan_memory(netlist: SCNetlist, shape: tuple[int, ...], lengths: dict[str, int], *, chunk: int | None = None,
                limit: int | None = None, trace: bool = False, collect: bool = False) -> MemoryPlan:
    """How many sequences of inputs ``shape`` (B, T, ...) to run at once within ``limit`` bytes
    (default: half the available memory); raises ResourceLimitError when even one does not fit."""
    if len(shape) < 2:
        raise SCValueError("x", f"inputs must be (batch, steps, ...), got shape {tuple(shape)}")
    B, T = int(shape[0]), int(shape[1])
    if chunk is not None and (not is_int(chunk) or chunk < 1):
        raise SCValueError("chunk", f"must be an integer >= 1, got {chunk!r}")
    if limit is not None and (not is_int(limit) or limit < 1):
        raise SCValueError("memory_limit", f"must be a positive integer (bytes), got {limit!r}")
    avail = available_memory()
    budget = int(limit) if limit is not None else int(avail * MEMORY_FRACTION)
    flight, kept, shared = estimate(netlist, lengths, T, trace, collect)
    fixed = kept * B + shared
    need_one = fixed + flight
    if need_one > budget:
        longest = max(lengths.values(), default=0)
        raise ResourceLimitError(f"simulating {B} sequence(s) of {T} step(s) at L = {longest}", need_one, budget,
                                 "use fewer sequences per call, fewer steps or a shorter L")
    fit = max(1, (budget - fixed) // max(flight, 1))
    size = min(B, MAX_CHUNK, fit) if chunk is None else min(B, int(chunk))
    if fixed + flight * size > budget:
        raise ResourceLimitError(f"a chunk of {size} sequence(s)", fixed + flight * size, budget,
                                 f"at most {fit} fit")
    return MemoryPlan(max(1, size), flight, fixed, budget)
