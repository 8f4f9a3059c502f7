"""Fixtures of the exploration tests: the quickstart model (1x8 ternary LSTM + head) and a small
delay-task validation set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sccompiler as scc
from sccompiler.tasks import synthetic_task_arrays

MODEL = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "model" / "ternary"


@pytest.fixture(scope="session")
def model():
    return scc.load_model(MODEL)


@pytest.fixture
def val(tmp_path):
    x, y = synthetic_task_arrays("delay", 12, 8, seed=1)
    path = tmp_path / "val.npz"
    np.savez(path, x=x, y=y)
    return path


def write_space(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p
