"""Model import: ONNX, PyTorch and the native JSON+NPZ format.

:func:`load_model` picks the frontend from the source's type or file extension:

* ``.onnx`` file or ``onnx.ModelProto`` -> :func:`load_onnx`
* ``.pt`` / ``.pth`` file, ``nn.Module`` or ``dict`` (a state_dict) -> :func:`load_torch`
* a directory or a ``.json`` manifest -> :func:`load_native` (the format :func:`save_model` writes)
* an ``nn.Module`` holding ``brevitas.nn`` layers -> :func:`load_brevitas` (the ``brevitas`` extra)
* a :class:`~sccompiler.ir.Model` is returned as is (validated)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelFormatError
from ..ir.model import InputSpec, Model
from .native import load_native, save_model

FORMATS = ("onnx", "torch", "native")
_EXTENSIONS = {".onnx": "onnx", ".pt": "torch", ".pth": "torch", ".json": "native"}


def load_onnx(source: Any, **kwargs: Any) -> Model:
    """Import an ONNX model; see :mod:`sccompiler.frontends.onnx_frontend`."""
    from .onnx_frontend import load_onnx as _load  # noqa: PLC0415 - onnx loads only when needed

    return _load(source, **kwargs)


def load_torch(source: Any, **kwargs: Any) -> Model:
    """Import an ``nn.Module``/state_dict/.pt file; see :mod:`sccompiler.frontends.torch_frontend`.
    A module holding Brevitas layers goes to :func:`load_brevitas`."""
    from .brevitas_frontend import is_brevitas_module, is_brevitas_state_dict  # noqa: PLC0415

    if is_brevitas_module(source):
        return load_brevitas(source, **kwargs)
    if is_brevitas_state_dict(source):
        raise ModelFormatError("this is a Brevitas state_dict: it holds no quantizer configuration; build the "
                               "module, load_state_dict it, and import the module")
    from .torch_frontend import load_torch as _load  # noqa: PLC0415 - torch loads only when needed

    return _load(source, **kwargs)


def load_brevitas(source: Any, **kwargs: Any) -> Model:
    """Import a module holding ``brevitas.nn`` layers; see :mod:`sccompiler.frontends.brevitas_frontend`."""
    from .brevitas_frontend import load_brevitas as _load  # noqa: PLC0415 - brevitas loads only when needed

    return _load(source, **kwargs)


def detect_format(source: Any) -> str:
    """Return 'onnx', 'torch' or 'native' for ``source``; raise ModelFormatError if unknown."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return "native"
        fmt = _EXTENSIONS.get(path.suffix.lower())
        if fmt is None:
            if not path.exists():
                raise ModelFormatError(f"{path}: file not found")
            raise ModelFormatError(
                f"{path}: unknown model format (expected .onnx, .pt/.pth, a native model directory or its "
                f"model.json)")
        return fmt
    if isinstance(source, dict):
        return "torch"
    if type(source).__name__ == "ModelProto":
        return "onnx"
    if hasattr(source, "named_children") and hasattr(source, "state_dict"):
        return "torch"
    raise ModelFormatError(f"cannot load a model from a {type(source).__name__}")


def load_model(source: Any, *, format: str | None = None, input_kind: str | None = None,  # noqa: A002
               input_size: int | None = None) -> Model:
    """Load a model from any supported source into the IR (validated).

    ``format`` forces a frontend (one of :data:`FORMATS`); ``input_kind`` ('features' or 'tokens')
    and ``input_size`` override what the frontend infers about the model input.
    """
    if isinstance(source, Model):
        model = source
        if input_kind is not None or input_size is not None:
            model = Model(model.layers, InputSpec(input_kind or model.input.kind,
                                                  input_size if input_size is not None else model.input.size),
                          model.name, dict(model.metadata))
        return model.validate()
    fmt = format or detect_format(source)
    if fmt not in FORMATS:
        raise ModelFormatError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "native":
        model = load_native(source)
        if input_kind is not None or input_size is not None:
            return load_model(model, input_kind=input_kind, input_size=input_size)
        return model
    loader = load_onnx if fmt == "onnx" else load_torch
    return loader(source, input_kind=input_kind, input_size=input_size)


__all__ = ["FORMATS", "detect_format", "load_brevitas", "load_model", "load_native", "load_onnx", "load_torch",
           "save_model"]
