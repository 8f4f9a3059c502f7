"""Evaluate the quickstart's committed models on held-out ``delay`` sequences: per-step accuracy
for the float, binary and ternary variants (:func:`sccompiler.reference.forward` on the exported
IR), the SC-simulated ternary model at each stream length L (when the compiler is available),
and the cost model's estimate.  The trivial baseline is chance (1/2).

    python examples/quickstart/evaluate.py [--reduced]
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # make_model.py, examples/_shared.py

import make_model  # noqa: E402
import numpy as np  # noqa: E402
from _shared import TaskData, evaluation_main  # noqa: E402

TASK = "quickstart"
MODEL_DIR = HERE / "model"


def step_accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of (sequence, step) pairs whose argmax is the target."""
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == targets))


def load_data(reduced: bool, args) -> TaskData:
    x, y = make_model.task_data(32 if reduced else 512)
    calib, _ = make_model.task_data(16, held_out=False)
    return TaskData(x=x, targets=y, calibration=calib, metric=step_accuracy, metric_name="step accuracy",
                    lower_is_better=False, baseline=0.5, baseline_name="chance, 2 classes",
                    description=f"delay task: {x.shape[0]} held-out sequences of {x.shape[1]} +-1 bits")


def main(argv: list[str] | None = None) -> dict:
    return evaluation_main(TASK, __doc__, MODEL_DIR, load_data, argv, full_sc_samples=512)


if __name__ == "__main__":
    main()
