"""Replay the bad-input corpus (corpus.py) through the CLI: no traceback, no unsafe write, no hang.

For every row: the run ends within ``TIME_BOUND`` seconds (an interval timer interrupts a hang,
even one blocked opening a FIFO), a rejected input prints exactly one ``error:`` line containing
the row's message fragment and exits non-zero with no exception escaping, files that existed
before are unchanged, no temporary ``.NAME.tmp-*`` / ``.NAME.old-*`` is left behind, and a failed
run creates no output path.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sccompiler.cli import cli

from .corpus import CASES, FAST, setup_dir

TIME_BOUND = 30.0
#: case id -> the argv it ran (read by the coverage test)
REPLAYED: dict[str, list[str]] = {}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    w = tmp_path_factory.mktemp("corpus-base")
    setup_dir(w)
    r = CliRunner().invoke(cli, ["compile", str(w / "m"), "-o", str(w / "d"), "--emit", "verilog", *FAST])
    assert r.exit_code == 0, r.output
    return w


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, files in os.walk(root):
        for name in files + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                out[str(p)] = "special"
            else:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no result within {TIME_BOUND} s")


def replay(argv: list[str], env: dict | None = None):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_BOUND)
    start = time.perf_counter()
    try:
        r = CliRunner(env=env).invoke(cli, argv)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return r, time.perf_counter() - start


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_case(case, base, tmp_path, monkeypatch):
    cid, _cls, needs_design, build, ok, fragment = case
    monkeypatch.setenv("SCC_FSM_CACHE", "0")
    w = tmp_path
    for name in ("m", "x.npy") + (("d",) if needs_design else ()):
        src = base / name
        if src.is_dir():
            import shutil  # noqa: PLC0415

            shutil.copytree(src, w / name)
        else:
            (w / name).write_bytes(src.read_bytes())
    argv = build(w)
    REPLAYED[cid] = argv
    before = snapshot(w)
    r, seconds = replay(argv)
    out = r.output
    assert not isinstance(r.exception, Hang), f"{cid}: hang ({seconds:.1f} s)"
    assert "Traceback" not in out
    assert r.exception is None or isinstance(r.exception, SystemExit), f"{cid}: {r.exception!r}"
    after = snapshot(w)
    changed = [p for p, h in before.items() if after.get(p) != h]
    assert not changed, f"{cid}: existing files changed: {changed}"
    leftovers = [p for p in after if ".tmp-" in p or ".old-" in p]
    assert not leftovers, f"{cid}: temporary files left: {leftovers}"
    if ok:
        assert r.exit_code == 0, out
        return
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert r.exit_code != 0 and len(errors) == 1, f"{cid}: exit {r.exit_code}, output:\n{out}"
    assert fragment in errors[0], f"{cid}: {errors[0]!r} lacks {fragment!r}"
    created = [p for p in after if p not in before]
    assert not created, f"{cid}: a failed run created {created}"


def test_corpus_covers_every_verb_and_class():
    """Runs after the replay (file order): every verb and every class has cases."""
    assert {"write", "inject", "trace", "accept", "hang", "npz", "valid"} <= {c[1] for c in CASES}
    if len(REPLAYED) == len(CASES):       # the whole corpus ran (not a -k subset)
        verbs = {argv[0] for argv in REPLAYED.values()}
        assert {"inspect", "compile", "simulate", "fsm", "verify", "baseline", "train"} <= verbs, verbs
