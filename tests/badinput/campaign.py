"""A randomized bad-input campaign through the CLI (held-out: cases are generated, not listed).

``python -m tests.badinput.campaign N [SEED]`` (from the repository root) generates N cases over
the verbs (mutated native manifests, random FSM expressions, random configs, random .npy bytes,
mutated design directories, odd output paths) and prints the counts of tracebacks, unsafe
writes (an existing file changed, a temporary left, a failed run creating output), hangs and
rejections without exactly one ``error:`` line.  ``test_campaign.py`` runs a small one in CI.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from sccompiler.cli import cli

from .corpus import FAST, setup_dir

TIME_BOUND = 30.0
TOKENS = ["x", "1", "2", "0", "9", "99", ".5", "e", "pi", "+", "-", "*", "/", "**", "^", "(", ")", ",", "tanh(",
          "log(", "sqrt(", "exp(", "Min(", "abs(", "atanh(", "Piecewise((", "<", "True", "'s'", "[", "]", "import"]
KEYS = ["length", "seed", "flow", "disable", "schedule", "defaults", "layers", "target_error", "hidden",
        "gate_input", "sng_bits", "lstm0", "cell_range", "gate_fsm_states", "metric", "lengths"]


def rand_json(rng: random.Random, depth: int = 0):
    k = rng.randrange(9 if depth < 3 else 6)
    if k == 6:
        return [rand_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    if k == 7:
        return {rng.choice(KEYS + ["z"]): rand_json(rng, depth + 1) for _ in range(rng.randrange(3))}
    if k == 8:
        return {"scheme": "binary", "bits": rng.randint(-1, 70)}
    return [None, True, rng.randint(-5, 5), rng.choice([0.5, -1e9, 1e308, 3.0]),
            rng.choice(["", "a", "../x", "int"]), rng.randint(-2**40, 2**40)][k]


def mutate(rng: random.Random, doc):
    doc = copy.deepcopy(doc)
    nodes = []

    def walk(d, parent, key):
        nodes.append((parent, key))
        if isinstance(d, dict):
            for k, v in d.items():
                walk(v, d, k)
        elif isinstance(d, list):
            for k, v in enumerate(d[:6]):
                walk(v, d, k)
    walk(doc, None, None)
    parent, key = rng.choice(nodes)
    if parent is None:
        return rand_json(rng)
    if rng.random() < 0.25:
        del parent[key]
    else:
        parent[key] = rand_json(rng)
    return doc


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "special"
    return out


def make_case(rng: random.Random, w: Path, base: Path) -> list[str]:
    kind = rng.choice(["manifest", "expression", "config", "npy", "design", "output"])
    if kind == "manifest":
        shutil.copytree(base / "m", w / "m2")
        doc = json.loads((w / "m2" / "model.json").read_text())
        (w / "m2" / "model.json").write_text(json.dumps(mutate(rng, doc)))
        return ["compile", str(w / "m2"), "-o", str(w / "o"), *FAST] if rng.random() < 0.3 else \
            ["inspect", str(w / "m2")]
    if kind == "expression":
        text = "".join(rng.choice(TOKENS) for _ in range(rng.randrange(1, 12)))
        return ["fsm", "-n", "4", "--length", "0", "--grid", "101", "--", text]
    if kind == "config":
        (w / "c.json").write_text(json.dumps({rng.choice(KEYS): rand_json(rng) for _ in range(rng.randrange(1, 4))}))
        return ["compile", str(w / "m"), "-o", str(w / "o"), "--config", str(w / "c.json"), *FAST]
    if kind == "npy":
        data = bytearray((w / "x.npy").read_bytes())
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        (w / "y.npy").write_bytes(bytes(data[:rng.randrange(len(data) + 1)]))
        return ["simulate", str(w / "m"), "--inputs", str(w / "y.npy"), "--length", "16"]
    if kind == "design":
        shutil.copytree(base / "d", w / "d2")
        name = rng.choice(["design.json", "report.json", "tb/manifest.json"])
        doc = json.loads((w / "d2" / name).read_text())
        (w / "d2" / name).write_text(json.dumps(mutate(rng, doc)))
        return (["verify", str(w / "d2"), "--simulator", "icarus"] if name.startswith("tb") else
                ["simulate", str(w / "d2"), "--inputs", str(w / "x.npy"), "--length", "16"])
    (w / "f").write_text("x")
    out = rng.choice([w / "f" / "o", Path("/proc/scc-campaign"), w / "f", w / "x.npy"])
    if rng.random() < 0.3:
        os.symlink(w / rng.choice(["f", "nowhere"]), w / "l")
        out = w / "l"
    return rng.choice([["compile", str(w / "m"), "-o", str(out), *FAST], ["baseline", str(w / "m"), "-o", str(out)],
                       ["simulate", str(w / "m"), "--inputs", str(w / "x.npy"), "--length", "16", "--save", str(out)],
                       ["fsm", "tanh(x)", "-n", "4", "--length", "0", "--plot", str(out)]])


def _alarm(signum, frame):
    raise TimeoutError("hang")


def run_campaign(n: int, seed: int = 0) -> dict:
    os.environ["SCC_FSM_CACHE"] = "0"
    rng = random.Random(seed)
    counts = {"cases": 0, "accepted": 0, "rejected": 0, "tracebacks": 0, "unsafe_writes": 0, "hangs": 0,
              "bad_error_lines": 0}
    failures = []
    with tempfile.TemporaryDirectory(prefix="scc-campaign-") as root:
        base = Path(root) / "base"
        base.mkdir()
        setup_dir(base)
        r = CliRunner().invoke(cli, ["compile", str(base / "m"), "-o", str(base / "d"), "--emit", "verilog", *FAST])
        assert r.exit_code == 0, r.output
        for k in range(n):
            w = Path(root) / f"c{k}"
            w.mkdir()
            shutil.copytree(base / "m", w / "m")
            np.save(w / "x.npy", np.load(base / "x.npy"))
            argv = make_case(rng, w, base)
            before = snapshot(w)
            old = signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, TIME_BOUND)
            try:
                res = CliRunner().invoke(cli, argv)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)
            after = snapshot(w)
            counts["cases"] += 1
            problem = None
            if isinstance(res.exception, TimeoutError):
                counts["hangs"] += 1
                problem = "hang"
            elif "Traceback" in res.output or not (res.exception is None or isinstance(res.exception, SystemExit)):
                counts["tracebacks"] += 1
                problem = "traceback " + "".join(traceback.format_exception(res.exception))[-1500:]
            unsafe = ([p for p, h in before.items() if after.get(p) != h] + [p for p in after if ".tmp-" in p
                                                                               or ".old-" in p])
            if res.exit_code != 0:
                unsafe += [p for p in after if p not in before]
            if unsafe:
                counts["unsafe_writes"] += 1
                problem = f"unsafe {unsafe[:3]}"
            if res.exit_code == 0:
                counts["accepted"] += 1
            else:
                counts["rejected"] += 1
                errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
                if len(errors) != 1 and problem is None:
                    counts["bad_error_lines"] += 1
                    problem = f"{len(errors)} error lines"
            if problem:
                failures.append((argv, problem, res.output[-300:]))
            shutil.rmtree(w, ignore_errors=True)
    counts["failures"] = failures
    return counts


if __name__ == "__main__":  # pragma: no cover
    result = run_campaign(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    for argv, problem, out in result.pop("failures"):
        print(f"FAIL {problem}: scc {' '.join(argv)}\n  {out.strip()}")
    print(json.dumps(result))
