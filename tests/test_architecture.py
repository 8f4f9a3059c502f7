"""The package's import rules (docs/architecture.md), checked on the source: no library module
imports the CLI, the top-level parts import each other without cycles (imports inside functions
count), no private name is imported from another module, and no source file exceeds 800 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sccompiler"
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported sccompiler module, names imported from it, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "sccompiler"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sccompiler":
                continue
            names = [a.name for a in node.names]
            # ``from . import x`` imports the submodule x
            subs = [n for n in names if f"{target}.{n}" in MODULES]
            found += [(f"{target}.{n}", [], node.lineno) for n in subs]
            rest = [n for n in names if n not in subs]
            if rest:
                found.append((target, rest, node.lineno))
    return found


def part(module: str) -> str:
    """The top-level part of a module: ``sccompiler.sim.fsm`` -> ``sim``."""
    bits = module.split(".")
    return bits[1] if len(bits) > 1 else "__init__"


EDGES = [(mod, target, names, line) for mod, path in MODULES.items() for target, names, line in _imports(mod, path)]


def test_no_library_module_imports_the_cli():
    bad = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {t}" for m, t, _, line in EDGES
           if part(t) == "cli" and part(m) not in ("cli", "__main__")]
    assert not bad, "\n".join(bad)


def test_top_level_parts_have_no_import_cycle():
    graph = nx.DiGraph()
    where: dict[tuple[str, str], str] = {}
    for m, t, _, line in EDGES:
        a, b = part(m), part(t)
        if a != b and a != "__init__" and b != "__init__":
            graph.add_edge(a, b)
            where.setdefault((a, b), f"{MODULES[m].relative_to(PACKAGE.parent)}:{line}")
    cycles = list(nx.simple_cycles(graph))
    shown = [" -> ".join(c + [c[0]]) + "  ("
             + ", ".join(where[(c[i], c[(i + 1) % len(c)])] for i in range(len(c))) + ")"
             for c in cycles[:10]]
    assert not cycles, f"{len(cycles)} import cycle(s) between top-level parts:\n" + "\n".join(shown)


def test_no_private_name_imported_across_modules():
    bad = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {n} from {t}" for m, t, names, line in EDGES
           for n in names if n.startswith("_") and not n.startswith("__") and t != m]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_source_files_stay_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines (limit {MAX_LINES}): split it by topic"


def test_the_checker_sees_imports():
    """The rules above are only as good as the import scan: it must see relative, absolute and
    function-level imports."""
    targets = {t for m, t, _, _ in EDGES if m == "sccompiler.design"}
    assert {"sccompiler.driver", "sccompiler.runtime", "sccompiler.passes"} <= targets
    assert any(part(t) == "cli" for m, t, _, _ in EDGES if m == "sccompiler.__main__")
