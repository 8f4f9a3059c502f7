"""Atomic output: failures leave nothing behind, existing outputs need force."""

from __future__ import annotations

import pytest

from sccompiler.errors import OutputExistsError
from sccompiler.io import atomic_dir, atomic_file


def test_atomic_dir_creates_on_success(tmp_path):
    out = tmp_path / "design"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("x")
        assert not out.exists()  # nothing visible before the body finishes
    assert (out / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["design"]


def test_atomic_dir_failure_leaves_nothing(tmp_path):
    out = tmp_path / "design"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_refuses_existing_without_force(tmp_path):
    out = tmp_path / "design"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(OutputExistsError, match="--force"):
        with atomic_dir(out):
            pass
    assert (out / "keep.txt").read_text() == "user data"


def test_atomic_dir_force_replaces_and_failure_keeps_old(tmp_path):
    out = tmp_path / "design"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(ValueError):
        with atomic_dir(out, force=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise ValueError
    assert (out / "old.txt").exists() and not (out / "new.txt").exists()
    with atomic_dir(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["design"]


def test_atomic_file(tmp_path):
    f = tmp_path / "r.json"
    with atomic_file(f) as fh:
        fh.write("{}")
    assert f.read_text() == "{}"
    with pytest.raises(OutputExistsError):
        with atomic_file(f):
            pass
    with pytest.raises(KeyError):
        with atomic_file(f, force=True) as fh:
            fh.write("partial")
            raise KeyError
    assert f.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
