"""Row-by-row sequential image classification data from installed packages (nothing is downloaded).

Primary source: Fashion-MNIST from Debian's ``dataset-fashion-mnist``
(``apt-get install dataset-fashion-mnist``; IDX files under ``/usr/share/datasets/fashion-mnist``):
60,000 training and 10,000 test images, 28 x 28, 10 classes.  Each image is a sequence of 28 rows
of 28 pixels; a pixel p in [0, 255] becomes the bipolar value 2p/255 - 1 in [-1, 1] (the SC
datapath's input range).

Fallback (when the Debian package is absent): scikit-learn's bundled ``load_digits`` (1,797
images, 8 x 8, 16 grey levels, 10 classes), 8 rows of 8 pixels, the same bipolar scaling, a seeded
80/20 train/test split.  Which source a model was trained on is stored in its metadata and printed.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from _shared import DatasetMissingError

from sccompiler.errors import SCValueError

FASHION_DIR = Path(os.environ.get("SCC_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
SOURCES = ("fashion-mnist", "digits")


def _idx(path: Path) -> np.ndarray:
    """Read one gzipped IDX file (the MNIST container: magic, dims, uint8 payload)."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_available() -> bool:
    return all((FASHION_DIR / f"{p}-{k}-idx{d}-ubyte.gz").is_file()
               for p in ("train", "t10k") for k, d in (("images", 3), ("labels", 1)))


def digits_available() -> bool:
    try:
        import sklearn.datasets  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def default_source() -> str:
    """'fashion-mnist' when the Debian package is installed, else 'digits' when scikit-learn is."""
    if fashion_available():
        return "fashion-mnist"
    if digits_available():
        return "digits"
    raise DatasetMissingError("neither Fashion-MNIST (Debian dataset-fashion-mnist) nor scikit-learn",
                              "apt-get install dataset-fashion-mnist, or pip install 'sccompiler[examples]'")


def to_bipolar(pixels: np.ndarray, max_value: float) -> np.ndarray:
    return (2.0 * pixels.astype(np.float32) / np.float32(max_value) - 1.0).astype(np.float32)


def load(source: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (x, y), "test": (x, y)}`` with x ``(n, rows, cols)`` bipolar float32, y int64."""
    if source == "fashion-mnist":
        if not fashion_available():
            raise DatasetMissingError(f"Fashion-MNIST ({FASHION_DIR})", "apt-get install dataset-fashion-mnist")
        out = {}
        for split, prefix in (("train", "train"), ("test", "t10k")):
            x = _idx(FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz")
            y = _idx(FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz")
            out[split] = (to_bipolar(x, 255.0), y.astype(np.int64))
        return out
    if source == "digits":
        if not digits_available():
            raise DatasetMissingError("scikit-learn (for load_digits)", "pip install 'sccompiler[examples]'")
        from sklearn.datasets import load_digits  # noqa: PLC0415

        d = load_digits()
        x = to_bipolar(d.images, 16.0)
        y = d.target.astype(np.int64)
        order = np.random.default_rng(0).permutation(len(y))
        cut = int(0.8 * len(y))
        return {"train": (x[order[:cut]], y[order[:cut]]), "test": (x[order[cut:]], y[order[cut:]])}
    raise SCValueError("source", f"must be one of {', '.join(SOURCES)}, got {source!r}")


def last_step_targets(labels: np.ndarray, steps: int) -> np.ndarray:
    """Per-step targets for :func:`sccompiler.train.fit`: the label at the last step, -100 (the
    cross-entropy's ignore index) before it, so that only the final prediction is trained."""
    y = np.full((labels.shape[0], steps), -100, dtype=np.int64)
    y[:, -1] = labels
    return y
