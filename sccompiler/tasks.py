"""Small seeded synthetic sequence tasks, in numpy (no torch needed), for smoke tests, examples
and the quickstart demo.  :func:`sccompiler.train.synthetic_task` wraps these as torch tensors."""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, SCValueError

TASKS = ("sine", "parity", "delay")


def synthetic_task_arrays(name: str, samples: int = 256, steps: int = 16, *,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(inputs, targets)`` of a seeded synthetic task as numpy arrays.

    * ``"sine"``: inputs ``(samples, steps, 1)`` sine waves of random frequency and phase, target
      the next value ``(samples, steps, 1)`` (regression);
    * ``"parity"``: inputs ``(samples, steps, 1)`` of ±1 bits, target the running parity class
      (0/1) per step, ``(samples, steps)`` int64;
    * ``"delay"``: inputs ±1 bits, target the input two steps earlier (class 0/1; 0 for the first
      two steps).
    Inputs are float64.
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise SCValueError("samples", f"must be a positive int, got {samples!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise SCValueError("steps", f"must be an int >= 2, got {steps!r}")
    if name not in TASKS:
        raise ConfigError(f"unknown synthetic task {name!r}; choose 'sine', 'parity' or 'delay'")
    rng = np.random.default_rng(seed)
    if name == "sine":
        freq = rng.uniform(0.1, 0.5, size=(samples, 1))
        phase = rng.uniform(0, 2 * np.pi, size=(samples, 1))
        t = np.arange(steps + 1)[None, :]
        wave = 0.8 * np.sin(freq * t + phase)
        return wave[:, :-1, None], wave[:, 1:, None]
    bits = rng.integers(0, 2, size=(samples, steps))
    x = 2.0 * bits[:, :, None] - 1.0
    if name == "parity":
        return x, np.cumsum(bits, axis=1) % 2
    y = np.zeros_like(bits)
    y[:, 2:] = bits[:, :-2]
    return x, y
