"""Train the row-by-row sequential image classifiers (float, binary, ternary and binary-h 1-layer
LSTM, one image row per time step, prediction at the last step) with :mod:`sccompiler.train`;
export them in the native format under ``model/<variant>`` (``binary-h``: binary weights and
binary hidden states, the XNOR-LSTM; its first layer's gates see real pixels, so they are
integral WFSM gates, not tables: a variant trained on binarized pixels sign(x) reached 0.74
quantized accuracy against 0.76, and 0.64 against 0.73 in SC at L = 256, measured with the
earlier 3-epoch training).

Full mode (regenerates the committed models, 2-7 minutes per variant on one core: the float
models 12 epochs with a cosine learning-rate schedule, then every quantized variant fine-tuned 8
epochs from its cell's float model, ``finetune_epochs``; Fashion-MNIST if installed)::

    python examples/seq_mnist/train.py --force --variants float ternary binary binary-h gru-float gru-ternary
    python examples/seq_mnist/train.py --source digits     # scikit-learn's 8x8 digits

``--quick`` trains one small batch into a temporary directory (a smoke test).  Data: Debian's
``dataset-fashion-mnist`` or, as a fallback, scikit-learn's bundled ``load_digits``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # data.py, examples/_shared.py

import data  # noqa: E402
import numpy as np  # noqa: E402
from _shared import ModelSpec, training_main  # noqa: E402

TASK = "seq_mnist"
FULL = dict(hidden=64, sequences=60000, epochs=12, finetune_epochs=8, batch_size=128, lr=3e-3, lr_schedule="cosine")
QUICK = dict(hidden=8, sequences=128, epochs=1, finetune_epochs=1, batch_size=128, lr=3e-3,
             lr_schedule="cosine")


def prepare(hp: dict, args) -> tuple:
    import torch  # noqa: PLC0415

    source = args.source or data.default_source()
    x, y = data.load(source)["train"]
    order = np.random.default_rng(args.seed).permutation(len(y))[:hp["sequences"]]
    x, y = x[order], y[order]
    steps, features = x.shape[1], x.shape[2]
    spec = ModelSpec("lstm", features, hp["hidden"], 10)
    meta = {"metric": "accuracy", "source": source, "input": f"{steps} rows x {features} bipolar pixels",
            "classes": list(data.FASHION_CLASSES) if source == "fashion-mnist" else [str(k) for k in range(10)]}
    print(f"data source: {source}")
    return torch.from_numpy(x), torch.from_numpy(data.last_step_targets(y, steps)), spec, meta


def _args(ap) -> None:
    ap.add_argument("--source", choices=data.SOURCES, default=None,
                    help="data source (default: fashion-mnist when installed, else digits)")


def main(argv: list[str] | None = None) -> int:
    return training_main(TASK, HERE, __doc__, FULL, QUICK, prepare, argv, extra_args=_args)


if __name__ == "__main__":
    raise SystemExit(main())
