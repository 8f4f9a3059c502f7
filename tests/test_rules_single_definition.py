"""Each rule of a primitive is defined once, in sccompiler/sim/rules.py (docs/semantics.md §5.3).

This test reads the code (comments and string literals removed, so docstrings may name a rule) of
the packages that import the rules -- sim, fsm, runtime, quantize, config.py, reference.py -- and
fails on a restatement: an FSM reset state ``states // 2``, a state width ``(n - 1).bit_length()``,
a hand-written Stanh table, the sign decode ``2 * c >= L``, a statistics row
``min(t, a.shape[0] - 1)``, an ad-hoc integer type test, or a second definition of a rule's
function.  The patterns are narrow on purpose (no false positives on today's code): a new
restatement in another spelling is not caught; import from sccompiler.sim.rules instead.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sccompiler"
RULES = ROOT / "sim" / "rules.py"
SCOPE = ([p for d in ("sim", "fsm", "runtime", "quantize") for p in sorted((ROOT / d).glob("*.py"))]
         + [ROOT / "config.py", ROOT / "reference.py"])
FILES = [p for p in SCOPE if p != RULES]

_STATES = (r"(?:(?<![\w.])(?:n|N|nstates|states|n_states|num_states)"
           r"|[\w.]+\[[\"']states[\"']\]|int\(\w+\))")
PATTERNS = {
    "FSM reset state N // 2 (use rules.fsm_reset_state / stanh_threshold)":
        re.compile(rf"{_STATES}\s*//\s*2\b"),
    "FSM state width (use rules.fsm_state_width)":
        re.compile(r"\(\s*\w+\s*-\s*1\s*\)\s*\.bit_length\(\)"),
    "Stanh table (use rules.stanh_weights)":
        re.compile(r"np\.arange\(\s*\w+\s*\)\s*>=\s*\w+\s*//?\s*2"),
    "sign decode 2 C >= L (use rules.sign_decode)":
        re.compile(r"\b2\s*\*\s*[\w.\[\]]+\s*>=\s*L\b"),
    "statistics row min(t, T - 1) (use rules.stats_row / stats_rows)":
        re.compile(r"\bmin(?:imum)?\(\s*[\w.()]+\s*,\s*[\w.\[\]\"']+\.shape\[0\]\s*-\s*1\s*\)"),
    "integer type test (use rules.is_int / check_int)":
        re.compile(r"isinstance\(\s*[\w.]+\s*,\s*\(\s*int\s*,\s*np\.integer\s*\)\s*\)"),
}
#: functions of rules.py that nobody else in scope may (re)define
RULE_FUNCTIONS = {"is_int", "check_int", "_check_int", "int_problem", "unsigned_width", "signed_width",
                  "sbits", "fsm_reset_state", "fsm_state_width", "stanh_weights", "stanh_threshold",
                  "quantized_weights", "sign_decode", "stats_row", "stats_rows"}


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, code) with comments and prose blanked: docstrings and other strings that
    start a line or span lines (messages), and the text of f-strings.  A short literal inside an
    expression (``params["states"]``) is kept."""
    src = path.read_text()
    lines = src.splitlines()
    out = [list(line) for line in lines]
    fstring_text = getattr(tokenize, "FSTRING_MIDDLE", None)
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        (r0, c0), (r1, c1) = tok.start, tok.end
        prose = (tok.type == tokenize.COMMENT or tok.type == fstring_text
                 or (tok.type == tokenize.STRING and (r1 > r0 or not lines[r0 - 1][:c0].strip()
                                                      or tok.string[:1] in "fFrRbB" and "{" in tok.string)))
        if not prose:
            continue
        for r in range(r0, r1 + 1):
            row = out[r - 1]
            a = c0 if r == r0 else 0
            b = c1 if r == r1 else len(row)
            row[a:b] = " " * (b - a)
    return [(i + 1, "".join(row)) for i, row in enumerate(out)]


def test_scope_is_not_empty():
    assert RULES.exists() and len(FILES) > 20


@pytest.mark.parametrize("what", sorted(PATTERNS))
def test_no_restated_rule(what):
    pat = PATTERNS[what]
    hits = [f"{p.relative_to(ROOT.parent)}:{n}: {line.strip()}"
            for p in FILES for n, line in code_lines(p) if pat.search(line)]
    assert not hits, f"{what}:\n" + "\n".join(hits)


def test_rule_functions_defined_once():
    hits = []
    for p in FILES:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in RULE_FUNCTIONS:
                hits.append(f"{p.relative_to(ROOT.parent)}:{node.lineno}: def {node.name}")
    assert not hits, "define these once, in sccompiler/sim/rules.py:\n" + "\n".join(hits)


@pytest.mark.parametrize("snippet,what", [
    ("reset = n // 2 if r is None else r", "FSM reset state"),
    ("np.full(B, n.params['states'] // 2)", "FSM reset state"),
    ("sbits = max(1, (nstates - 1).bit_length())", "FSM state width"),
    ("w = (np.arange(n) >= n // 2).astype(float)", "Stanh table"),
    ("return np.where(2 * c >= L, 1.0, -1.0)", "sign decode"),
    ("r = min(t, s.shape[0] - 1)", "statistics row"),
    ("idx = np.minimum(np.arange(steps), scale.shape[0] - 1)", "statistics row"),
    ("if isinstance(v, (int, np.integer)):", "integer type test"),
])
def test_patterns_catch_the_old_restatements(snippet, what, tmp_path):
    """The patterns match the restatements this module replaced (so the test is not vacuous)."""
    p = tmp_path / "m.py"
    p.write_text(snippet + "\n")
    matched = {k for k, pat in PATTERNS.items() for _, line in code_lines(p) if pat.search(line)}
    assert [k for k in matched if k.startswith(what)], (snippet, matched)
    # ... and not in prose: a docstring, a comment, an error message
    text = snippet.replace("{", "").replace("}", "").replace('"', "'")
    p.write_text(f'def f(n):\n    """{text}"""  # {text}\n    raise ValueError(f"{{n}}: {text}")\n')
    assert not [k for k, pat in PATTERNS.items() for _, line in code_lines(p) if pat.search(line)]
