"""Outputs under concurrency, signals and odd paths: an output appears complete or not at all,
a path that appeared meanwhile is never replaced without force, temporaries never outlive a run,
and symlinks follow the documented policy (docs/reliability.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sccompiler.cli import cli
from sccompiler.errors import OutputExistsError, OutputPathError, SCCError
from sccompiler.io import atomic_dir, atomic_file

from .corpus import FAST, setup_dir

ROOT = Path(__file__).resolve().parents[2]


def names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "SCC_FSM_CACHE": "0"}


# ---------------------------------------------------------------- atomic_dir / atomic_file
@pytest.mark.parametrize("make", ["dir", "empty_dir", "file", "symlink"])
def test_path_appearing_meanwhile_is_never_replaced(tmp_path, make):
    out = tmp_path / "o"
    with pytest.raises(OutputExistsError, match="appeared"):
        with atomic_dir(out) as tmp:
            (tmp / "mine").write_text("new")
            if make == "dir":
                out.mkdir()
                (out / "theirs").write_text("theirs")
            elif make == "empty_dir":
                out.mkdir()
            elif make == "file":
                out.write_text("theirs")
            else:
                os.symlink(tmp_path / "elsewhere", out)
    assert os.path.lexists(out)
    if make == "dir":
        assert names(out) == ["theirs"]
    elif make == "file":
        assert out.read_text() == "theirs"
    assert [n for n in names(tmp_path) if ".tmp-" in n] == []


def test_atomic_file_appearing_meanwhile_is_never_replaced(tmp_path):
    f = tmp_path / "r.json"
    with pytest.raises(OutputExistsError, match="appeared"):
        with atomic_file(f) as fh:
            fh.write("mine")
            f.write_text("theirs")
    assert f.read_text() == "theirs" and names(tmp_path) == ["r.json"]


def test_interrupt_removes_temporary(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "o") as tmp:
            (tmp / "half").write_text("x")
            raise KeyboardInterrupt
    with pytest.raises(SystemExit):
        with atomic_file(tmp_path / "f") as fh:
            fh.write("x")
            raise SystemExit(143)
    assert names(tmp_path) == []


def test_symlink_policy(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("keep")
    link = tmp_path / "link"
    os.symlink(target, link)
    with pytest.raises(OutputExistsError):        # a symlink counts as existing
        with atomic_dir(link):
            pass
    with atomic_dir(link, force=True) as tmp:     # --force replaces the link, not what it points to
        (tmp / "new").write_text("n")
    assert not link.is_symlink() and names(link) == ["new"]
    assert names(target) == ["keep"]
    dangling = tmp_path / "dangling"
    os.symlink(tmp_path / "nowhere", dangling)
    with pytest.raises(OutputExistsError):
        with atomic_file(dangling):
            pass
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("where", ["under_file", "proc"])
def test_unwritable_output_is_one_error(tmp_path, where):
    (tmp_path / "f").write_text("x")
    path = tmp_path / "f" / "o" if where == "under_file" else Path("/proc/scc-test-out")
    for ctx in (atomic_dir(path), atomic_file(path)):
        with pytest.raises(OutputPathError):
            with ctx:
                pass


# ---------------------------------------------------------------- the CLI
@pytest.fixture
def model_dir(tmp_path):
    setup_dir(tmp_path)
    return tmp_path


def test_emit_failure_leaves_no_output(model_dir, monkeypatch):
    import sccompiler.backends.verilog.design as vd  # noqa: PLC0415

    real = vd.emit_design

    def broken(design, outdir, **kw):
        real(design, outdir, **kw)          # rtl/ and tb/ written into the temporary directory ...
        raise SCCError("emission failed")   # ... then a failure: nothing may be published

    monkeypatch.setattr(vd, "emit_design", broken)
    r = CliRunner().invoke(cli, ["compile", str(model_dir / "m"), "-o", str(model_dir / "o"), "--emit", "verilog",
                                 *FAST])
    assert r.exit_code != 0 and "emission failed" in r.output
    assert names(model_dir) == ["m", "x.npy"]


def test_emit_verilog_output_is_complete(model_dir):
    r = CliRunner().invoke(cli, ["compile", str(model_dir / "m"), "-o", str(model_dir / "o"), "--emit", "verilog",
                                 "--json", *FAST])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert {"design.json", "rtl", "tb", "report.json"} <= set(names(model_dir / "o"))
    assert all(Path(p).exists() for p in rep["verilog"]["rtl"] + rep["verilog"]["tb"])


def scc(*args: str) -> list[str]:
    return [sys.executable, "-m", "sccompiler", *args]


def test_concurrent_compiles_to_one_output(model_dir):
    out = model_dir / "o"
    argv = scc("compile", str(model_dir / "m"), "-o", str(out), "--emit", "verilog", *FAST)
    procs = [subprocess.Popen(argv, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    err = next(e for c, e in results if c != 0)
    assert "Traceback" not in err and [ln for ln in err.splitlines() if ln.startswith("error:")], err
    assert {"design.json", "rtl", "tb"} <= set(names(out))
    assert [n for n in names(model_dir) if ".tmp-" in n or ".old-" in n] == []


SIGTERM_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from sccompiler.cli import install_signal_handlers
    from sccompiler.io import atomic_dir
    install_signal_handlers()
    with atomic_dir(sys.argv[1]) as tmp:
        (tmp / "rtl").mkdir()
        (tmp / "rtl" / "half.v").write_text("module")
        print("ready", flush=True)
        time.sleep(60)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_removes_temporary(tmp_path, sig):
    p = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, str(tmp_path / "o")], env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(sig)
    p.wait(timeout=30)
    assert p.returncode != 0
    assert names(tmp_path) == []


@pytest.mark.parametrize("attempt", range(3))   # a race (once 1 in 5 leaked a temporary): tried 3 times
def test_sigterm_during_compile_leaves_complete_or_nothing(model_dir, attempt):
    out = model_dir / "o"
    p = subprocess.Popen(scc("compile", str(model_dir / "m"), "-o", str(out), "--emit", "verilog", *FAST),
                         env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while p.poll() is None and time.monotonic() < deadline:
        if any(".o.tmp-" in n for n in os.listdir(model_dir)):
            p.send_signal(signal.SIGTERM)
            break
        time.sleep(0.005)
    p.wait(timeout=60)
    err = p.stderr.read()
    # finished (0), killed by the signal (143), or the signal turned into one error line (1, seen
    # once under load); never a traceback
    assert "Traceback" not in err, err[-2000:]
    assert p.returncode in (0, 143) or (p.returncode == 1 and err.strip().splitlines()[-1].startswith("error:")), \
        (p.returncode, err[-2000:])
    assert [n for n in names(model_dir) if ".tmp-" in n] == []
    if out.exists():
        assert {"design.json", "rtl", "tb"} <= set(names(out))
