"""Write the validation data of ``scc explore`` for the Shakespeare model: ``x`` one-hot chunks of
the validation split (never the test split the results report), ``y`` the next characters (the
bits-per-character metric, ``--metric bpc``).

    python examples/shakespeare_char/make_val.py -o build/shakespeare_val.npz [--chunks 64 --steps 100]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import data  # noqa: E402
from _shared import example_metadata, load_variant  # noqa: E402

from sccompiler.io import atomic_file  # noqa: E402


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, required=True, help="the .npz to write")
    ap.add_argument("--chunks", type=int, default=64, help="validation chunks (sequences)")
    ap.add_argument("--steps", type=int, default=100, help="characters per chunk")
    ap.add_argument("--force", action="store_true", help="replace an existing output")
    args = ap.parse_args(argv)
    if args.chunks < 1 or args.steps < 1:
        raise SystemExit("error: --chunks and --steps must be >= 1")
    if args.output.exists() and not args.force:
        raise SystemExit(f"error: {args.output} exists (pass --force to replace it)")
    vocab = example_metadata(load_variant(HERE / "model", "ternary"))["vocab"]
    parts = data.split_corpus(data.load_corpus())
    if data.build_vocab(parts["train"]) != vocab:
        raise SystemExit("error: the installed corpus gives another vocabulary than the committed models'")
    x_ids, y_ids = data.contiguous_chunks(data.encode(parts["valid"], vocab), args.steps, args.chunks)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(args.output, force=args.force, mode="wb") as fh:
        np.savez(fh, x=data.one_hot(x_ids, len(vocab)), y=y_ids.astype(np.int64))
    print(f"wrote {args.output}: {x_ids.shape[0]} validation chunks of {args.steps} characters")
    return args.output


if __name__ == "__main__":
    main()
