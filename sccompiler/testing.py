"""Test helpers shared by the project's test suite (importable, unlike a ``conftest`` module).

Environment switches (CI sets both): ``SCC_REQUIRE_TOOLS=1`` turns a missing external HDL tool
into a test failure instead of a skip, ``SCC_REQUIRE_TORCH=1`` does the same for the torch extra
(torch and onnxscript).
So nothing a user relies on is skipped silently in CI.
"""

from __future__ import annotations

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


def require_torch():
    """Import and return torch, or skip (fail under SCC_REQUIRE_TORCH=1)."""
    import pytest  # noqa: PLC0415 - pytest is a dev extra, not a runtime dependency

    try:
        import torch  # noqa: PLC0415 - torch is an optional extra
    except ImportError:
        if _strict("SCC_REQUIRE_TORCH"):
            pytest.fail("torch is not installed and SCC_REQUIRE_TORCH=1")
        pytest.skip("torch is not installed (pip install 'sccompiler[torch]')")
    return torch


def require_onnxscript():
    """Import and return onnxscript (what torch's dynamo ONNX exporter needs; the torch extra
    installs it), or skip (fail under SCC_REQUIRE_TORCH=1)."""
    import pytest  # noqa: PLC0415 - pytest is a dev extra, not a runtime dependency

    try:
        import onnxscript  # noqa: PLC0415 - part of the optional torch extra
    except ImportError:
        if _strict("SCC_REQUIRE_TORCH"):
            pytest.fail("onnxscript (torch's dynamo ONNX exporter) is not installed and SCC_REQUIRE_TORCH=1")
        pytest.skip("onnxscript is not installed (pip install 'sccompiler[torch]')")
    return onnxscript
