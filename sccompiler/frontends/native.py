"""The native model format: a directory holding ``model.json`` (a versioned manifest) and
``weights.npz`` (float64 arrays).  It round-trips a :class:`~sccompiler.ir.Model` exactly, so a model
converted once needs neither torch nor onnx again.  The layout is specified in docs/native-format.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ModelFormatError, SCValueError
from ..io import SafeNpz, atomic_dir, read_json
from ..ir.model import HIDDEN_THRESHOLD, LAYER_TYPES, BatchNormParams, InputSpec, Layer, Model, QuantSpec, Tensor

FORMAT_NAME = "sccompiler-model"
FORMAT_VERSION = 1
MANIFEST_NAME = "model.json"
WEIGHTS_NAME = "weights.npz"
_BN_ARRAYS = ("gamma", "beta", "mean", "var")
_QUANT_KEYS = frozenset(f.name for f in dataclasses.fields(QuantSpec))
#: quantization schemes a tensor may name (docs/native-format.md)
QUANT_SCHEMES = ("float", "binary", "ternary", "ott-ternary", "pow2-ternary", "exp", "int")
MAX_QUANT_BITS = 32
#: a layer name: a letter, digit or _, then letters, digits, _ . - (at most 128 characters; torch
#: names such as "0" or "rnn.l0" fit); names reach file names, reports and (mapped by
#: verilog_text.ident) Verilog identifiers
LAYER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


def check_layer_name(name: object, where: str = "layer") -> str:
    """``name`` if it is a valid layer name, else :class:`ModelFormatError` (empty names, path
    separators, ``..``, spaces, quotes, control characters are refused)."""
    if not isinstance(name, str) or not LAYER_NAME.fullmatch(name) or ".." in name:
        raise ModelFormatError(f"{where}: invalid layer name {name!r} (expected a letter, digit or _, then "
                               "letters, digits, _ . -; at most 128 characters; no '..')")
    return name


#: attributes added after format version 1 shipped: written only when not at their default, so
#: models that do not use them keep their files, and files without them load
OPTIONAL_ATTRS = {"hidden_activation": "identity", "hidden_threshold": HIDDEN_THRESHOLD, "direction": "forward",
                  "select": "last"}


def _array_key(index: int, field: str, part: str | None = None) -> str:
    # keys depend on the layer index, not its name, so any layer name is safe inside the zip
    return f"layer{index}.{field}" + (f".{part}" if part else "")


def _layer_manifest(index: int, layer: Layer, arrays: dict[str, np.ndarray]) -> dict:
    entry: dict[str, Any] = {"name": layer.name, "kind": layer.kind}
    entry.update({k: v for k, v in layer.attrs().items() if OPTIONAL_ATTRS.get(k, object()) != v})
    tensors = {}
    for field, tensor in layer.tensors():
        key = _array_key(index, field)
        arrays[key] = np.asarray(tensor.data, dtype=np.float64)
        tensors[field] = {"key": key, "shape": list(tensor.shape), "quant": tensor.quant.to_json()}
    bns = {}
    for field, bn in layer.batchnorms():
        keys = {}
        for part, arr in bn.arrays().items():
            key = _array_key(index, field, part)
            arrays[key] = np.asarray(arr, dtype=np.float64)
            keys[part] = key
        bns[field] = {**keys, "shape": list(bn.mean.shape), "eps": float(bn.eps)}
    entry["tensors"] = tensors
    entry["batchnorms"] = bns
    return entry


def model_manifest(model: Model) -> tuple[dict, dict[str, np.ndarray]]:
    """Return the manifest dict and the arrays (key -> float64 array) that represent ``model``."""
    arrays: dict[str, np.ndarray] = {}
    layers = [_layer_manifest(k, lay, arrays) for k, lay in enumerate(model.layers)]
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": model.name,
        "input": {"kind": model.input.kind, "size": int(model.input.size)},
        "layers": layers,
        "metadata": model.metadata,
        "written_by": f"sccompiler {__version__}",
    }
    return manifest, arrays


def save_model(model: Model, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``model`` in the native format to the directory ``path`` (atomically).

    Raises :class:`~sccompiler.errors.OutputExistsError` if ``path`` exists and ``force`` is false,
    :class:`~sccompiler.errors.InvalidWeightsError` for an invalid model (it is validated first) and
    :class:`~sccompiler.errors.SCValueError` if ``model.metadata`` is not JSON-serializable.
    """
    model.validate()
    manifest, arrays = model_manifest(model)
    try:
        text = json.dumps(manifest, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SCValueError("metadata", f"must hold only finite JSON values (str, number, bool, list, dict), "
                                       f"as must quant specs: {exc}") from None
    with atomic_dir(path, force=force) as tmp:
        (tmp / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")
        np.savez_compressed(tmp / WEIGHTS_NAME, **arrays)
    return Path(path)


# ----------------------------------------------------------------------------------- loading


def _resolve(path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(path)
    if p.is_dir():
        manifest = p / MANIFEST_NAME
    elif p.suffix == ".json":
        manifest = p
    else:
        raise ModelFormatError(f"{p}: not a native model (expected a directory or its {MANIFEST_NAME})")
    if not manifest.exists():
        raise ModelFormatError(f"{manifest}: manifest not found")
    return manifest, manifest.with_name(WEIGHTS_NAME)


def _read_manifest(manifest: Path) -> dict:
    data = read_json(manifest, "manifest", ModelFormatError)
    if not isinstance(data, dict):
        raise ModelFormatError(f"{manifest}: top level must be a JSON object")
    if data.get("format") != FORMAT_NAME:
        raise ModelFormatError(f"{manifest}: format is {data.get('format')!r}, expected {FORMAT_NAME!r}")
    if data.get("version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{manifest}: format version {data.get('version')!r} is not supported "
            f"(this sccompiler reads {FORMAT_VERSION})")
    return data


def _read_weights(weights: Path) -> SafeNpz:
    """The weights as a lazy mapping: a member is decompressed only when the manifest names it."""
    if not weights.exists():
        raise ModelFormatError(f"{weights}: weights file not found")
    return SafeNpz(weights, "weights", ModelFormatError)


class _Reader:
    """Fetches manifest entries with one-line errors naming the file and the entry."""

    def __init__(self, manifest: Path, weights: Path, arrays: dict[str, np.ndarray]) -> None:
        self.manifest, self.weights, self.arrays = manifest, weights, arrays

    def fail(self, where: str, problem: str) -> ModelFormatError:
        return ModelFormatError(f"{self.manifest}: {where}: {problem}")

    def get(self, d: Any, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        if not isinstance(d, dict) or key not in d:
            raise self.fail(where, f"missing key {key!r}")
        value = d[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.fail(where, f"{key!r} must be {_type_names(kind)}, got {type(value).__name__}")
        return value

    def array(self, key: Any, where: str, shape: tuple[int, ...] | None) -> np.ndarray:
        if not isinstance(key, str):
            raise self.fail(where, "array key must be a string")
        if key not in self.arrays:
            raise ModelFormatError(f"{self.weights}: array {key!r} ({where}) is missing")
        arr = self.arrays[key]
        if arr.dtype.kind not in "fiu":   # complex, bool, strings: refused, never silently cast
            raise ModelFormatError(f"{self.weights}: array {key!r} has dtype {arr.dtype}, expected float64")
        if shape is not None and tuple(arr.shape) != shape:
            raise ModelFormatError(
                f"{self.weights}: array {key!r} has shape {tuple(arr.shape)} but {self.manifest.name} says {shape}")
        return np.asarray(arr, dtype=np.float64)

    def shape(self, d: dict, where: str) -> tuple[int, ...]:
        s = self.get(d, "shape", where, list)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in s):
            raise self.fail(where, f"shape {s} must be a list of non-negative integers")
        return tuple(s)

    def quant(self, d: Any, where: str) -> QuantSpec:
        if not isinstance(d, dict) or not set(d) <= _QUANT_KEYS or "scheme" not in d:
            raise self.fail(where, f"quant must be an object with keys among {sorted(_QUANT_KEYS)}")
        try:
            q = QuantSpec.from_json(d)
        except (TypeError, ValueError) as exc:
            raise self.fail(where, f"bad quant spec: {exc}") from None
        if not isinstance(q.scheme, str) or not isinstance(q.bits, int) or isinstance(q.bits, bool):
            raise self.fail(where, "quant scheme must be a string and bits an integer")
        if q.scheme not in QUANT_SCHEMES:
            raise self.fail(where, f"unknown quant scheme {q.scheme!r} (known: {', '.join(QUANT_SCHEMES)})")
        if not 1 <= q.bits <= MAX_QUANT_BITS:
            raise self.fail(where, f"quant bits must be in [1, {MAX_QUANT_BITS}], got {q.bits}")
        if q.levels is not None and (not all(math.isfinite(v) for v in q.levels)
                                     or list(q.levels) != sorted(set(q.levels))):
            raise self.fail(where, "quant levels must be finite, distinct and sorted")
        if q.scale is not None and (isinstance(q.scale, bool) or not isinstance(q.scale, (int, float))
                                    or not math.isfinite(q.scale) or q.scale <= 0):
            raise self.fail(where, f"quant scale must be a finite positive number or null, got {q.scale!r}")
        if not isinstance(q.stochastic, bool) or not (q.seed is None or (isinstance(q.seed, int)
                                                                         and not isinstance(q.seed, bool))):
            raise self.fail(where, "quant stochastic must be a boolean and seed an integer or null")
        return q

    def layer(self, index: int, entry: Any) -> Layer:
        where = f"layers[{index}]"
        name = check_layer_name(self.get(entry, "name", where, str), f"{self.manifest}: {where}")
        where = f"layer {name!r}"
        kind = self.get(entry, "kind", where, str)
        cls = LAYER_TYPES.get(kind)
        if cls is None:
            raise self.fail(where, f"unknown layer kind {kind!r} (known: {', '.join(LAYER_TYPES)})")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {"name": name}
        for key, value in entry.items():
            if key in ("name", "kind", "tensors", "batchnorms"):
                continue
            f = fields.get(key)
            if f is None or key in cls.tensor_fields or key in cls.bn_fields:
                raise self.fail(where, f"unknown attribute {key!r} for a {kind} layer")
            expected = type(f.default)
            self.get(entry, key, where, (float, int) if expected is float else expected)
            kwargs[key] = value
        for key in fields:
            if key != "name" and key not in cls.tensor_fields and key not in cls.bn_fields and key not in entry \
                    and key not in OPTIONAL_ATTRS:
                raise self.fail(where, f"missing key {key!r}")
        tensors = self.get(entry, "tensors", where, dict)
        for field, t in tensors.items():
            if field not in cls.tensor_fields:
                raise self.fail(where, f"unknown tensor {field!r} for a {kind} layer")
            tw = f"{where} tensor {field}"
            data = self.array(self.get(t, "key", tw, str), tw, self.shape(t, tw))
            kwargs[field] = Tensor(data, self.quant(self.get(t, "quant", tw, dict), tw))
        bns = self.get(entry, "batchnorms", where, dict)
        for field, b in bns.items():
            if field not in cls.bn_fields:
                raise self.fail(where, f"unknown batch norm {field!r} for a {kind} layer")
            bw = f"{where} batch norm {field}"
            shape = self.shape(b, bw)
            parts = {p: self.array(self.get(b, p, bw, str), f"{bw}.{p}", shape) for p in _BN_ARRAYS}
            eps = self.get(b, "eps", bw, (float, int))
            kwargs[field] = BatchNormParams(**parts, eps=float(eps))
        return cls(**kwargs)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_names(kind: type | tuple[type, ...]) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def load_native(path: str | os.PathLike) -> Model:
    """Load a model saved by :func:`save_model` (a directory, or the path of its ``model.json``).

    Raises :class:`~sccompiler.errors.ModelFormatError` (naming the file and the problem) for a
    missing, malformed or truncated manifest or weights file, a wrong format/version, missing keys
    or arrays whose shape differs from the manifest, and
    :class:`~sccompiler.errors.InvalidWeightsError` for NaN/inf weights or inconsistent layers.
    """
    manifest_path, weights_path = _resolve(path)
    data = _read_manifest(manifest_path)
    with _read_weights(weights_path) as npz:
        reader = _Reader(manifest_path, weights_path, npz)
        inp = reader.get(data, "input", "manifest", dict)
        input_spec = InputSpec(kind=reader.get(inp, "kind", "input", str),
                               size=reader.get(inp, "size", "input", int))
        if input_spec.size < 1:
            raise reader.fail("input", f"size must be >= 1, got {input_spec.size}")
        entries = reader.get(data, "layers", "manifest", list)
        if not entries:
            raise reader.fail("manifest", "the model has no layers")
        layers = [reader.layer(k, e) for k, e in enumerate(entries)]
    model = Model(
        layers=tuple(layers),
        input=input_spec,
        name=reader.get(data, "name", "manifest", str),
        metadata=reader.get(data, "metadata", "manifest", dict) if "metadata" in data else {},
    )
    return model.validate()
