"""Evaluate the committed Shakespeare character models: bits per character (bpc) on the test split
for the float, binary and ternary variants (the exported IR run by
:func:`sccompiler.reference.forward`), the SC-simulated ternary model at each stream length L
(when the compiler is available), and the cost model's hardware estimate at each L.

    python examples/shakespeare_char/evaluate.py             # whole test split
    python examples/shakespeare_char/evaluate.py --reduced   # 8 chunks (CI)

Each test chunk of ``--steps`` characters starts from a zero state; bpc is the mean of -log2 p
over every predicted character.  The trivial baseline is the uniform distribution, log2(vocab).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # data.py, examples/_shared.py

import data  # noqa: E402
from _shared import TaskData, bits_per_character, evaluation_main, example_metadata, load_variant  # noqa: E402

TASK = "shakespeare_char"
MODEL_DIR = HERE / "model"
REDUCED_CHUNKS = 8


def load_data(reduced: bool, args) -> TaskData:
    vocab = example_metadata(load_variant(args.model_dir, "ternary"))["vocab"]
    parts = data.split_corpus(data.load_corpus())
    if data.build_vocab(parts["train"]) != vocab:
        raise SystemExit("error: the installed corpus gives another vocabulary than the committed models'")
    test = data.encode(parts["test"], vocab)
    chunks = REDUCED_CHUNKS if reduced else args.max_chunks
    x_ids, y_ids = data.contiguous_chunks(test, args.steps, chunks)
    calib_ids, _ = data.random_windows(data.encode(parts["train"], vocab), args.steps, 16, seed=123)
    v = len(vocab)
    return TaskData(x=data.one_hot(x_ids, v), targets=y_ids, calibration=data.one_hot(calib_ids, v, dtype=float),
                    metric=bits_per_character, metric_name="bpc", lower_is_better=True,
                    baseline=math.log2(v), baseline_name=f"uniform over {v} symbols",
                    description=f"{x_ids.shape[0]} test chunks of {args.steps} characters")


def _args(ap) -> None:
    ap.add_argument("--steps", type=int, default=100, help="characters per test chunk")
    ap.add_argument("--max-chunks", type=int, default=None, help="limit the full-mode test chunks")


def main(argv: list[str] | None = None) -> dict:
    # 512 chunks x 100 characters: the packed runtime simulates them in about a minute per L at L = 256
    return evaluation_main(TASK, __doc__, MODEL_DIR, load_data, argv, extra_args=_args, full_sc_samples=512)


if __name__ == "__main__":
    main()
