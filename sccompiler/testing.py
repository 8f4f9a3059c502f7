"""Test helpers shared by the project's test suite (importable, unlike a ``conftest`` module).

Environment switches (CI sets both): ``SCC_REQUIRE_TOOLS=1`` turns a missing external HDL tool
into a test failure instead of a skip, ``SCC_REQUIRE_TORCH=1`` does the same for the torch extra
(torch and onnxscript).
So nothing a user relies on is skipped silently in CI.
"""

from __future__ import annotations

import importlib
import os
import shutil


def _strict(var: str) -> bool:
    return os.environ.get(var, "") not in ("", "0", "false", "no")


def require_tool(name: str) -> str:
    """Return the path of an external program, or skip (fail under SCC_REQUIRE_TOOLS=1)."""
    import pytest  # noqa: PLC0415 - pytest is a dev extra, not a runtime dependency

    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed (apt-get install {name})"
        if _strict("SCC_REQUIRE_TOOLS"):
            pytest.fail(msg + " and SCC_REQUIRE_TOOLS=1")
        pytest.skip(msg)
    return path


def _require_module(name: str, what: str):
    """Import and return module ``name`` of the torch extra, or skip (fail under SCC_REQUIRE_TORCH=1)."""
    import pytest  # noqa: PLC0415 - pytest is a dev extra, not a runtime dependency

    try:
        return importlib.import_module(name)
    except ImportError:
        if _strict("SCC_REQUIRE_TORCH"):
            pytest.fail(f"{what} is not installed and SCC_REQUIRE_TORCH=1")
        pytest.skip(f"{what} is not installed (pip install 'sccompiler[torch]')")


def require_torch():
    """Import and return torch, or skip (fail under SCC_REQUIRE_TORCH=1)."""
    return _require_module("torch", "torch")


def require_onnxscript():
    """Import and return onnxscript (what torch's dynamo ONNX exporter needs; the torch extra
    installs it), or skip (fail under SCC_REQUIRE_TORCH=1)."""
    return _require_module("onnxscript", "onnxscript (torch's dynamo ONNX exporter)")
