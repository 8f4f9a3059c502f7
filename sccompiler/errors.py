"""The project's exception hierarchy.

Every error a user can cause derives from :class:`SCCError`; the CLI turns these into a one-line
message and a non-zero exit code, never a traceback.  Each subclass names one kind of failure so
API users can catch exactly what they expect.
"""

from __future__ import annotations


class SCCError(Exception):
    """Base class of all errors raised for bad input, bad configuration or missing tools."""

    #: exit code the CLI uses for this kind of error
    exit_code: int = 1


class ModelFormatError(SCCError):
    """A model file is malformed, truncated or not of the expected format/version."""


class UnsupportedOpError(SCCError):
    """The model uses an operator/layer the compiler does not support (names op and node)."""

    def __init__(self, op: str, node: str | None = None, detail: str = "") -> None:
        self.op = op
        self.node = node
        where = f" (node {node!r})" if node else ""
        extra = f": {detail}" if detail else ""
        super().__init__(f"unsupported operator {op!r}{where}{extra}")


class InvalidWeightsError(SCCError):
    """Weights contain NaN/inf or have shapes inconsistent with their layer."""


class SCValueError(SCCError, ValueError):
    """A parameter is out of range (width, state count, length, probability, shape).

    The message names the parameter. Raised instead of silently clipping.
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(f"{param}: {message}")


class ConfigError(SCCError, ValueError):
    """An inconsistent or invalid configuration."""


class ExpressionError(SCCError, ValueError):
    """A target expression is malformed, unsafe or outside the output range."""


class SynthesisError(SCCError):
    """FSM synthesis failed or cannot meet the requested accuracy."""


class MissingDependencyError(SCCError):
    """An optional Python dependency is needed but not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        self.package = package
        hint = f"pip install 'sccompiler[{extra}]'" if extra else f"pip install {package}"
        why = f" for {purpose}" if purpose else ""
        super().__init__(f"{package} is required{why} but not installed; install it with: {hint}")


class ToolMissingError(SCCError):
    """An external program (iverilog, verilator, yosys) is not on PATH."""


class OutputExistsError(SCCError):
    """An output path exists and --force was not given."""


class SimulationError(SCCError):
    """A simulation could not run (inconsistent netlist, mismatch in co-simulation, ...)."""


class ToolTimeoutError(SimulationError):
    """An external tool (a simulator build or run, Yosys) ran past its time limit and was killed
    with its child processes.  ``tool``: the program; ``phase``: ``build``, ``run`` or
    ``synth``; ``seconds``: the limit."""

    def __init__(self, tool: str, phase: str, seconds: float, detail: str = "") -> None:
        self.tool, self.phase, self.seconds = tool, phase, seconds
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{tool} ({phase}) ran past its time limit of {seconds:g} s and was stopped{extra}")


class OutputPathError(SCCError):
    """An output path cannot be created or written (under a file, read-only, in /proc, ...)."""


class InputFileError(SCCError):
    """An input file is missing, not a regular file, too large, or not of the expected format."""


class LimitError(SCValueError):
    """A request exceeds a documented size limit (checked before anything is allocated)."""

    def __init__(self, param: str, requested, limit, unit: str = "") -> None:
        self.requested, self.limit = requested, limit
        u = f" {unit}" if unit else ""
        req = f"{requested:,}" if isinstance(requested, int) else str(requested)
        super().__init__(param, f"{req}{u} exceeds the limit of {limit:,}{u}")


class ResourceLimitError(SCCError):
    """A run would need more memory than is available or allowed; the message says how much."""

    def __init__(self, what: str, needed: int, available: int, hint: str = "") -> None:
        self.needed = int(needed)
        self.available = int(available)
        extra = f"; {hint}" if hint else ""
        super().__init__(f"{what} would need {_gib(needed)} of memory, {_gib(available)} available{extra}")


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**27 else f"{n / 2**20:.1f} MiB"
