"""CLI consistency: progress only on a terminal's stderr (never under --quiet / --json), the
one-line kernel-compilation notice, defaults shown in --help, one --bits range, errors as JSON
under --json."""

from __future__ import annotations

import importlib
import io
import json

import click
import pytest
from click.testing import CliRunner

from sccompiler.cli import COMMANDS, cli, progress
from sccompiler.cli.common import BITS_RANGE
from sccompiler.config import CompileConfig

UNSET = getattr(click.core, "UNSET", None)      # click >= 8.2: an option's "no default"


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _commands():
    for verb, spec in sorted(COMMANDS.items()):
        mod, attr = spec.split(":")
        yield verb, getattr(importlib.import_module(mod), attr)


def test_progress_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(progress.sys, "stderr", _TTY())
    assert progress.progress_enabled()
    assert not progress.progress_enabled(quiet=True) and not progress.progress_enabled(as_json=True)
    monkeypatch.setattr(progress.sys, "stderr", io.StringIO())
    assert not progress.progress_enabled()
    with progress.progress_bar(False, 3, "x") as advance, progress.phases(False, "y") as phase:
        advance(1.0, "z")
        phase("build")


@pytest.mark.parametrize("params, shown", [({}, True), ({"as_json": True}, False), ({"quiet": True}, False)])
def test_kernel_notice_once_and_not_under_json_or_quiet(monkeypatch, params, shown):
    monkeypatch.setattr(progress.sys, "stderr", _TTY())
    lines: list[str] = []
    notice = progress._KernelNotice(lines.append)
    with click.Context(click.Command("x"), info_name="x") as ctx:
        ctx.params.update(params)
        notice.on_start(None)
        notice.on_start(None)
    assert lines == ([progress.KERNEL_NOTICE] if shown else [])


def test_kernel_notice_listens_to_numba_compilations(monkeypatch):
    from numba.core import event

    progress.install_kernel_notice()
    progress.install_kernel_notice()                       # once per process
    assert len(progress._NOTICE) == 1
    seen = []
    monkeypatch.setattr(progress._NOTICE[0].notice, "on_start", lambda ev: seen.append(ev.kind))
    with event.trigger_event("numba:compile", data={}):
        pass
    assert seen == ["numba:compile"]


def test_defaults_shown_and_one_bits_range():
    bits = {}
    for verb, cmd in _commands():
        for p in cmd.params:
            if not isinstance(p, click.Option) or p.is_flag or p.multiple or p.default in (None, UNSET):
                continue
            assert p.show_default, f"scc {verb} {p.opts[0]}: default {p.default!r} not shown in --help"
            if p.name == "bits":
                bits[verb] = (p.type.min, p.type.max)
    assert bits == {"baseline": BITS_RANGE, "cost": BITS_RANGE}
    compile_help = CliRunner().invoke(cli, ["compile", "--help"]).output
    assert f"default: the config's length, {CompileConfig().length}" in " ".join(compile_help.split())
    for verb in ("simulate", "compile", "baseline", "verify"):
        assert "--quiet" in CliRunner().invoke(cli, [verb, "--help"]).output


def test_errors_are_json_under_json(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "bad.json"), "--json"])
    assert r.exit_code != 0 and r.stderr == ""
    err = json.loads(r.stdout)["error"]
    assert set(err) == {"type", "message", "exit_code"} and err["exit_code"] == r.exit_code
    plain = CliRunner().invoke(cli, ["inspect", str(tmp_path / "bad.json")])
    assert plain.stdout == "" and plain.stderr == f"error: {err['message']}\n"
