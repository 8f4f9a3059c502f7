"""Regenerate the quickstart's tiny committed models: a 1-layer LSTM with 8 hidden units that
learns the ``delay`` task of :func:`sccompiler.train.synthetic_task` (input: random +-1 bits;
target at step t: the bit of step t-2), as float, binary and ternary variants under
``model/<variant>`` (the quickstart compiles ``model/ternary``).  Seconds on one core::

    python examples/quickstart/make_model.py --variants float binary ternary --force

and the XNOR-LSTM (binary weights and binary hidden states), which needs 16 units for this task
(8 binary states reach 0.75 step accuracy)::

    python examples/quickstart/make_model.py --variants binary-h --hidden 16 --force

and the GXNOR LSTM (ternary weights, ternary hidden states, threshold 0.3; 11 s on one core)::

    python examples/quickstart/make_model.py --variants ternary-h --hidden 16 --force
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # examples/_shared.py

from _shared import ModelSpec, training_main  # noqa: E402

TASK = "quickstart"
#: the synthetic task, its sequence length, and the data seeds (training / evaluation)
SYNTHETIC_TASK, STEPS, TRAIN_SEED, TEST_SEED = "delay", 16, 0, 1
FULL = dict(hidden=8, sequences=2048, epochs=30, batch_size=64, lr=1e-2)
QUICK = dict(hidden=8, sequences=64, epochs=1, batch_size=64, lr=1e-2)


def task_data(samples: int, *, held_out: bool = True):
    """Sequences of the task as numpy (inputs, per-step targets): held-out (the test seed) or
    from the training seed (calibration).  Pure numpy: evaluating needs no torch."""
    from sccompiler.tasks import synthetic_task_arrays  # noqa: PLC0415

    return synthetic_task_arrays(SYNTHETIC_TASK, samples, STEPS, seed=TEST_SEED if held_out else TRAIN_SEED)


def prepare(hp: dict, args) -> tuple:
    from sccompiler.train import synthetic_task  # noqa: PLC0415

    x, y = synthetic_task(SYNTHETIC_TASK, hp["sequences"], STEPS, seed=TRAIN_SEED)
    meta = {"metric": "step_accuracy", "input": "+-1 bits",
            "data": f"sccompiler.train.synthetic_task({SYNTHETIC_TASK!r}, steps={STEPS}, seed={TRAIN_SEED})"}
    return x, y, ModelSpec("lstm", 1, hp["hidden"], 2), meta


def main(argv: list[str] | None = None) -> int:
    return training_main(TASK, HERE, __doc__, FULL, QUICK, prepare, argv)


if __name__ == "__main__":
    raise SystemExit(main())
