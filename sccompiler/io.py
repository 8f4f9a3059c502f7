"""Atomic output helpers: a failure never leaves a half-written file or directory behind, and an
existing output is only replaced when the caller says ``force=True``."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputExistsError


def check_writable(path: str | os.PathLike, force: bool) -> Path:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``force`` is false."""
    p = Path(path)
    if p.exists() and not force:
        raise OutputExistsError(f"{p} already exists; use --force (force=True) to overwrite it")
    return p


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; on success it is renamed to ``path``.

    If the body raises, the temporary directory is removed and ``path`` is untouched.
    """
    target = check_writable(path, force).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, force: bool = False, mode: str = "w") -> Iterator:
    """Open a temporary file next to ``path`` for writing; rename it over ``path`` on success."""
    target = check_writable(path, force).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
