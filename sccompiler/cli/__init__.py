"""The ``scc`` command line.  Each verb lives in its own module and is imported lazily, so
``scc --help`` stays fast and a verb's heavy dependencies load only when it runs."""

from __future__ import annotations

import importlib
import signal
import sys

import click

from ..errors import SCCError

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
            return getattr(mod, attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SCCError as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(exc.exit_code)
        # the safety net behind the validation at the boundary (docs/reliability.md): an
        # operating-system refusal, a pathological input or a request too large for memory is
        # still one line and a non-zero exit, never a traceback
        except (OSError, EOFError) as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(1)
        except RecursionError:
            click.echo("error: input nested too deeply", err=True)
            ctx.exit(1)
        except MemoryError:
            click.echo("error: out of memory (reduce the request; see docs/reliability.md for the limits)", err=True)
            ctx.exit(1)


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
