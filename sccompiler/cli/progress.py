"""Progress output of the CLI verbs, all on stderr (stdout carries the results and ``--json``):

* :func:`quiet_option`: ``--quiet`` on the verbs with long runs;
* :func:`progress_enabled`: progress shows only when stderr is a terminal, without ``--quiet``
  and without ``--json``;
* :func:`progress_bar`: a rich progress bar (fractional advances), :func:`phases`: a spinner with
  the elapsed time per phase of an external tool (build, run, synth) whose progress is unknown;
* :func:`install_kernel_notice`: one line before the first numba kernel compilation of a process
  (the kernels are cached on disk, ``cache=True``, so a later process loads them instead).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Callable, Iterator

import click

KERNEL_NOTICE = "compiling simulation kernels (first run only)..."


def quiet_option(f: Callable) -> Callable:
    """``--quiet``: no progress output on stderr."""
    return click.option("--quiet", "quiet", is_flag=True,
                        help="no progress output (progress shows on stderr only when it is a terminal)")(f)


def progress_enabled(quiet: bool = False, as_json: bool = False) -> bool:
    """Progress is drawn on a terminal's stderr, unless ``--quiet`` or ``--json``."""
    return not quiet and not as_json and sys.stderr.isatty()


def _console():
    from rich.console import Console  # noqa: PLC0415 - rich loads only when progress is drawn

    return Console(stderr=True)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: float, description: str) -> Iterator[Callable[..., None]]:
    """``advance(amount, description=None)`` of a bar from 0 to ``total`` (a no-op when not enabled)."""
    if not enabled:
        yield lambda amount=0.0, description=None: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=_console(), transient=True) as prog:
        task = prog.add_task(description, total=total)

        def advance(amount: float = 0.0, description: str | None = None) -> None:
            prog.update(task, advance=amount, **({"description": description} if description else {}))
        yield advance


@contextlib.contextmanager
def phases(enabled: bool, what: str) -> Iterator[Callable[[str], None]]:
    """``phase(name)``: a spinner ``WHAT: NAME`` with the time since the phase started."""
    if not enabled:
        yield lambda name: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=_console(),
                  transient=True) as prog:
        current: list = []

        def phase(name: str) -> None:
            if current:
                prog.remove_task(current.pop())
            current.append(prog.add_task(f"{what}: {name}", total=None))
        yield phase


class _KernelNotice:
    """A numba ``numba:compile`` listener printing :data:`KERNEL_NOTICE` once per process.

    The event fires only for a real compilation (a kernel loaded from numba's disk cache raises
    none).  Silent unless stderr is a terminal, and under ``--quiet`` / ``--json`` of the running
    verb (read from its click context)."""

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.shown = False
        self.lock = threading.Lock()
        self.echo = echo if echo is not None else (lambda text: click.echo(text, err=True))

    def on_start(self, event) -> None:
        with self.lock:
            if self.shown:
                return
            ctx = click.get_current_context(silent=True)
            params = ctx.params if ctx is not None else {}
            if not progress_enabled(bool(params.get("quiet")), bool(params.get("as_json"))):
                return
            self.shown = True
        self.echo(KERNEL_NOTICE)

    def on_end(self, event) -> None:
        pass


_NOTICE: list = []


def install_kernel_notice() -> None:
    """Register the notice's listener once (numba loads only here, when a verb may simulate)."""
    if _NOTICE:
        return
    from numba.core import event  # noqa: PLC0415 - numba is imported by the simulating verbs anyway

    class Listener(event.Listener):
        def __init__(self) -> None:
            self.notice = _KernelNotice()

        def on_start(self, ev) -> None:
            self.notice.on_start(ev)

        def on_end(self, ev) -> None:
            self.notice.on_end(ev)

    listener = Listener()
    event.register("numba:compile", listener)
    _NOTICE.append(listener)
