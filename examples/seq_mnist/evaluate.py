"""Evaluate the committed sequential (row-by-row) image classifiers: test accuracy of every
committed variant (float, binary, ternary, binary-h, the GRU ones; the exported IR run by
:func:`sccompiler.reference.forward`), the SC-simulated ternary model at each stream length L
(when the compiler is available), and the cost model's hardware estimate at each L.

    python examples/seq_mnist/evaluate.py             # the whole test set
    python examples/seq_mnist/evaluate.py --reduced   # 64 test images (CI), SC-simulated on all 64

The data source (Fashion-MNIST or scikit-learn digits) is the one the models were trained on,
read from their metadata.  The trivial baseline is chance (1/10).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # data.py, examples/_shared.py

import data  # noqa: E402
from _shared import (  # noqa: E402
    TaskData,
    accuracy,
    committed_variants,
    evaluation_main,
    example_metadata,
    load_variant,
)

TASK = "seq_mnist"
MODEL_DIR = HERE / "model"
REDUCED_IMAGES = 64


def load_data(reduced: bool, args) -> TaskData:
    # the source of the committed models (any variant: they are trained on the same data)
    source = example_metadata(load_variant(args.model_dir, committed_variants(args.model_dir)[0]))["source"]
    splits = data.load(source)
    x, y = splits["test"]
    if reduced:
        x, y = x[:REDUCED_IMAGES], y[:REDUCED_IMAGES]
    calib = splits["train"][0][:16].astype(float)
    return TaskData(x=x, targets=y, calibration=calib, metric=accuracy, metric_name="accuracy",
                    lower_is_better=False, baseline=0.1, baseline_name="chance, 10 classes",
                    description=f"{source}: {x.shape[0]} test images, {x.shape[1]} rows of {x.shape[2]} pixels")


def main(argv: list[str] | None = None) -> dict:
    # reduced: SC on all 64 images (a Wilson 95 % interval of about +-0.1 at accuracy ~0.8; 2
    # images, the other examples' reduced default, would give an interval of ~[0.2, 1])
    return evaluation_main(TASK, __doc__, MODEL_DIR, load_data, argv, full_sc_samples=2000,
                           reduced_sc_samples=REDUCED_IMAGES)


if __name__ == "__main__":
    main()
