"""The ``scc`` command line.  Each verb lives in its own module and is imported lazily, so
``scc --help`` stays fast and a verb's heavy dependencies load only when it runs.

Errors: an :class:`SCCError` (and the safety net's OS errors) is one ``error: ...`` line on
stderr and a non-zero exit; with ``--json`` it is a JSON object on stdout instead,
``{"error": {"type": ..., "message": ..., "exit_code": ...}}`` (unless the verb already printed
its JSON result, which then carries the outcome, e.g. ``"passed": false``)."""

from __future__ import annotations

import importlib
import signal
import sys

import click

from ..errors import SCCError
from .common import JSON_PRINTED, echo_json

#: verb -> "module:attribute" of its click command (modules under sccompiler.cli)
COMMANDS: dict[str, str] = {
    "inspect": "sccompiler.cli.inspect_cmd:inspect_cmd",
    "quantize": "sccompiler.cli.quantize_cmd:quantize_cmd",
    "convert": "sccompiler.cli.convert_cmd:convert_cmd",
    "fsm": "sccompiler.cli.fsm_cmd:fsm_cmd",
    "activation": "sccompiler.cli.activation_cmd:activation_cmd",
    "cost": "sccompiler.cli.cost_cmd:cost_cmd",
    "compile": "sccompiler.cli.compile_cmd:compile_cmd",
    "simulate": "sccompiler.cli.simulate_cmd:simulate_cmd",
    "train": "sccompiler.cli.train_cmd:train_cmd",
    "verify": "sccompiler.cli.verify_cmd:verify_cmd",
    "baseline": "sccompiler.cli.baseline_cmd:baseline_cmd",
    "explore": "sccompiler.cli.explore_cmd:explore_cmd",
}
#: verbs that may compile numba kernels: they print a one-line notice before the first compilation
KERNEL_VERBS = frozenset({"quantize", "fsm", "activation", "cost", "compile", "simulate", "train", "explore"})
#: ``ctx.meta`` key (shared by a verb's context and the group's): the verb was given --json
AS_JSON = "scc.as_json"


def _note_json(ctx: click.Context, _param, value):
    ctx.meta[AS_JSON] = bool(value)
    return value


class SCCGroup(click.Group):
    """A click group that loads verbs lazily and turns :class:`SCCError` into a one-line error."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, name: str):
        if name in COMMANDS:
            mod_name, attr = COMMANDS[name].split(":")
            try:
                mod = importlib.import_module(mod_name)
            except ModuleNotFoundError as exc:
                if exc.name == mod_name:  # verb not built yet in this checkout
                    return None
                raise
            cmd = getattr(mod, attr)
            for p in cmd.params:     # every verb's --json tells the error handler below (one place)
                if p.name == "as_json" and p.callback is None:
                    p.callback = _note_json
            if name in KERNEL_VERBS and not ctx.resilient_parsing:
                from .progress import install_kernel_notice  # noqa: PLC0415

                install_kernel_notice()
            return cmd
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SCCError as exc:
            fail(ctx, exc, one_line(exc), exc.exit_code)
        # the safety net behind the validation at the boundary (docs/reliability.md): an
        # operating-system refusal, a pathological input or a request too large for memory is
        # still one line and a non-zero exit, never a traceback
        except (OSError, EOFError) as exc:
            fail(ctx, exc, one_line(exc), 1)
        except RecursionError as exc:
            fail(ctx, exc, "input nested too deeply", 1)
        except MemoryError as exc:
            fail(ctx, exc, "out of memory (reduce the request; see docs/reliability.md for the limits)", 1)


def fail(ctx: click.Context, exc: BaseException, message: str, code: int) -> None:
    """Report an error (a JSON object on stdout under --json, else an ``error:`` line) and exit."""
    if ctx.meta.get(AS_JSON) and not ctx.meta.get(JSON_PRINTED):
        echo_json({"error": {"type": type(exc).__name__, "message": message, "exit_code": code}})
    else:
        click.echo(f"error: {message}", err=True)
    ctx.exit(code)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text.splitlines()[0] if text else type(exc).__name__


@click.group(cls=SCCGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sccompiler", prog_name="scc")
def cli() -> None:
    """sccompiler: compile quantized LSTM/GRU networks into stochastic-computing hardware."""


def _terminate(signum, _frame) -> None:
    # unwinds like Ctrl-C, so every atomic output removes its temporary directory
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """SIGTERM (and SIGHUP) raise SystemExit(128 + signal), so ``finally``/``except`` blocks run:
    the atomic outputs of :mod:`sccompiler.io` remove their temporaries (SIGINT already raises
    KeyboardInterrupt).  Only the CLI installs this; the library never touches signals."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)


def main(argv: list[str] | None = None) -> None:
    install_signal_handlers()
    cli.main(args=argv, prog_name="scc")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
