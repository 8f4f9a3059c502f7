"""ONNX external data (weights stored next to the model, e.g. ``model.onnx.data`` written by the
dynamo exporter or ``onnx.save(..., save_as_external_data=True)``) read through the project's
checked reader :func:`sccompiler.io.read_range_inside`.

The model is parsed with ``load_external_data=False``; every tensor whose ``data_location`` is
EXTERNAL (initializers, ``Constant`` attributes, sparse initializers, subgraphs) is then filled in
place: its ``location`` must be a relative path inside the model's directory (no ``..``, not
absolute, symlinks resolved inside), a regular file; ``offset``/``length`` must be integers with the
range inside the file; the byte count must equal what the tensor's dims and dtype declare; each
tensor is bounded by the array limit (``SCC_MAX_ARRAY_BYTES``).  onnx's own loader is never asked to
follow a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import ModelFormatError
from ..io import max_array_bytes, read_range_inside

#: ``external_data`` keys defined by the ONNX spec
KNOWN_KEYS = ("location", "offset", "length", "checksum", "basepath")


def _tensors(graph: Any, onnx: Any) -> Iterator[Any]:
    """Every TensorProto of ``graph``: initializers, sparse initializers, node attributes, subgraphs."""
    yield from graph.initializer
    for sp in graph.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == onnx.AttributeProto.SPARSE_TENSOR:
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices
            elif attr.type == onnx.AttributeProto.GRAPH:
                yield from _tensors(attr.g, onnx)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _tensors(sub, onnx)


def _int(value: str, key: str, what: str) -> int:
    if not value.isdigit():
        raise ModelFormatError(f"{what}: external data {key}={value!r} is not a non-negative integer")
    return int(value)


def load_external_data(proto: Any, model_path: Path, onnx: Any) -> int:
    """Fill every external tensor of ``proto`` from files beside ``model_path``; the bytes read."""
    base = model_path.resolve().parent
    total = 0
    for tensor in _tensors(proto.graph, onnx):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        what = f"{model_path}: external data of tensor {tensor.name!r}"
        entries = {e.key: e.value for e in tensor.external_data}
        unknown = sorted(set(entries) - set(KNOWN_KEYS))
        if unknown:
            raise ModelFormatError(f"{what}: unknown external_data key(s) {unknown}")
        if "location" not in entries:
            raise ModelFormatError(f"{what}: no location")
        if entries.get("basepath"):
            raise ModelFormatError(f"{what}: basepath {entries['basepath']!r} is not supported (locations are "
                                   f"relative to the model's directory)")
        offset = _int(entries.get("offset", "0"), "offset", what)
        length = _int(entries["length"], "length", what) if "length" in entries else None
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type))
        except Exception:  # noqa: BLE001 - onnx raises KeyError/TypeError for unknown or undefined types
            raise ModelFormatError(f"{what}: data type {tensor.data_type} cannot be stored externally") from None
        if dtype.kind in "OSUV":
            raise ModelFormatError(f"{what}: {dtype} tensors cannot be read from external data")
        if any(d < 0 for d in tensor.dims):
            raise ModelFormatError(f"{what}: negative dimension in {list(tensor.dims)}")
        expected = int(np.prod([int(d) for d in tensor.dims], dtype=object)) * dtype.itemsize
        if expected > max_array_bytes():
            raise ModelFormatError(f"{what}: {expected:,} bytes exceeds the limit of {max_array_bytes():,} bytes")
        if length is not None and length != expected:
            raise ModelFormatError(f"{what}: length {length:,} bytes but dims {list(tensor.dims)} of {dtype} "
                                   f"need {expected:,}")
        data = read_range_inside(base, entries["location"], offset, expected, what, ModelFormatError)
        tensor.raw_data = data
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]
        total += len(data)
    return total


def has_external_data(proto: Any, onnx: Any) -> bool:
    """True if some tensor of ``proto`` still points at an external file."""
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in _tensors(proto.graph, onnx))
