"""``scc verify`` / ``verify_design`` options: the automatic simulator, ``--sequences`` /
``--steps`` (a prefix of the stored vectors, checked exactly: a corrupted word outside the prefix
passes, inside it fails), ``--timeout`` (the tools' process group killed, the error naming the
flag and the faster option), one name per simulator, and errors as JSON under ``--json``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from compiler.models import FAST, lstm_model  # tests/compiler (tests/ is on sys.path)

from sccompiler.backends.verilog import tools
from sccompiler.backends.verilog.design import emit_design, verify_design
from sccompiler.backends.verilog.verify import checked_size
from sccompiler.cli import cli
from sccompiler.design import compile_model
from sccompiler.errors import SCValueError, ToolTimeoutError
from sccompiler.testing import require_tool

B, T = 2, 4


@pytest.fixture(scope="module")
def emitted(tmp_path_factory) -> Path:
    rng = np.random.default_rng(5)
    x = 0.5 * rng.choice([-1.0, 0.0, 1.0], size=(B, T, 2))
    design = compile_model(lstm_model(I=2, H=3, seed=5), {"length": 16, "defaults": {"hidden": "sign"}, **FAST},
                           calibration=x)
    out = tmp_path_factory.mktemp("verify") / "d"
    emit_design(design, out, inputs=x)
    return out


def corrupt(src: Path, dst: Path, seq: int, step: int) -> Path:
    """A copy of ``src`` whose expected word of (seq, step) is wrong in one bit."""
    import shutil

    shutil.copytree(src, dst)
    exp = dst / "tb" / "sc_design_tb_exp.hex"
    words = exp.read_text().split()
    words[seq * T + step] = f"{int(words[seq * T + step], 16) ^ 1:x}"
    exp.write_text("\n".join(words) + "\n")
    return dst


def test_checked_size_defaults_caps_and_refusals():
    man = {"sequences": 5, "steps": 100, "size_macros": {"sequences": "a", "steps": "b"}}
    assert checked_size(man) == (2, 32)
    assert checked_size({**man, "sequences": 1, "steps": 3}) == (1, 3)
    assert checked_size(man, 5, 100) == (5, 100)
    with pytest.raises(SCValueError, match="holds 5 sequences, cannot check 6"):
        checked_size(man, 6, None)
    old = {"sequences": 5, "steps": 100}                  # emitted before the size macros: all of it
    assert checked_size(old) == (5, 100)
    with pytest.raises(SCValueError, match="emit it again"):
        checked_size(old, None, 10)
    # a last-step head is checked after the last stored step: every step runs, prefixes are refused
    head = {**man, "per_sequence": ["head"]}
    assert checked_size(head) == (2, 100)
    with pytest.raises(SCValueError, match="head runs on the last step"):
        checked_size(head, None, 32)


def test_simulator_names(monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda p: None)
    assert tools.resolve_simulator("auto") == tools.resolve_simulator(None) == "icarus"
    monkeypatch.setattr(tools.shutil, "which", lambda p: f"/usr/bin/{p}")
    assert tools.resolve_simulator("auto") == "verilator" and tools.resolve_simulator("icarus") == "icarus"
    with pytest.raises(SCValueError, match="'icarus'"):
        tools.resolve_simulator("iverilog")
    r = CliRunner().invoke(cli, ["verify", ".", "--simulator", "iverilog"])
    assert r.exit_code == 2 and "use --simulator icarus" in r.output


def test_timeout_kills_the_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    t0 = time.monotonic()
    with pytest.raises(ToolTimeoutError, match="time limit of 0.5 s"):
        tools._run(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], cwd=None, timeout=0.5, what="sh")
    assert time.monotonic() - t0 < 10
    pid = int(pidfile.read_text())
    for _ in range(50):                                    # the grandchild is gone (or a zombie of init)
        status = Path(f"/proc/{pid}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        pytest.fail("the tool's child process survived the timeout")


@pytest.mark.hw
def test_prefix_is_checked_exactly(emitted, tmp_path):
    require_tool("iverilog")
    passed, res = verify_design(emitted, "icarus")
    assert passed and (res.sequences, res.steps) == (B, T)
    late = corrupt(emitted, tmp_path / "late", 1, T - 1)  # wrong word: last step of the second sequence
    assert not verify_design(late, "icarus")[0]
    passed, res = verify_design(late, "icarus", sequences=1)
    assert passed and "PASS sc_design: 1 sequences x 4 steps" in res.stdout
    passed, res = verify_design(late, "icarus", steps=T - 1)
    assert passed and f"{B} sequences x {T - 1} steps" in res.stdout
    early = corrupt(emitted, tmp_path / "early", 0, 1)
    assert not verify_design(early, "icarus", sequences=1, steps=2)[0]
    assert verify_design(early, "icarus", sequences=1, steps=1)[0]


@pytest.mark.hw
def test_cli_timeout_sizes_and_json_errors(emitted):
    require_tool("iverilog")
    r = CliRunner().invoke(cli, ["verify", str(emitted), "--simulator", "icarus", "--steps", "2", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["passed"] and doc["simulator"] == "icarus" and (doc["sequences"], doc["steps"]) == (B, 2)
    assert doc["simulator_choice"] == "--simulator"
    r = CliRunner().invoke(cli, ["verify", str(emitted), "--simulator", "icarus", "--timeout", "0.001"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.startswith("error: --timeout 0.001:") and "--simulator verilator" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = CliRunner().invoke(cli, ["verify", str(emitted), "--simulator", "icarus", "--sequences", "3", "--json"])
    assert r.exit_code == 1 and r.stderr == ""
    err = json.loads(r.stdout)["error"]
    assert err["type"] == "ConfigError" and err["message"].startswith("--sequences: the testbench holds 2")
