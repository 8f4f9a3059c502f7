"""Model-level IR: a typed, ordered graph of recurrent-network layers with quantization metadata.

Conventions (every frontend maps to these explicitly, every later stage relies on them):

* Tensors are float64 numpy arrays.  A :class:`Tensor` carries a :class:`QuantSpec` saying which
  values it takes (``levels``) and how they were produced (``scheme``).
* ``LSTM`` gate rows are stacked in PyTorch order **i, f, g, o** (``LSTM_GATE_ORDER``); ONNX's
  i, o, f, c order is permuted by the ONNX frontend.
* ``GRU`` gate rows are stacked in PyTorch order **r, z, n** (``GRU_GATE_ORDER``);
  ``linear_before_reset=True`` is PyTorch's form n = tanh(W_in x + b_in + r*(W_hn h + b_hn)),
  ``False`` is ONNX's default n = tanh(W_in x + b_in + W_hn (r*h) + b_hn).
* A multi-layer recurrent stack is one IR layer per recurrent layer.
* Data are batch-major: inputs ``(batch, time, features)`` or token ids ``(batch, time)``.
* The model is a chain: layer k consumes layer k-1's output (``Model.graph()`` gives a networkx
  view of it).  Recurrent layers output the whole hidden sequence ``(batch, time, hidden)``.
* A :class:`LastStep` layer keeps only the last time step: its output is ``(batch, 1, features)``
  (the time axis is kept, of length 1), so every layer after it (a sequence-level head) runs once
  per sequence.  PyTorch's ``fc(y[:, -1])`` and ``fc(h_n[-1])`` are ``LastStep`` then ``Linear``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Iterator

import numpy as np

from ..errors import InvalidWeightsError, UnsupportedOpError
from ..sim.rules import LAST_STEP_SELECTS, stats_row

LSTM_GATE_ORDER = ("i", "f", "g", "o")
GRU_GATE_ORDER = ("r", "z", "n")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "softmax", "identity", "sign")
#: what a recurrent layer applies to h_t before it is fed back and passed on: ``identity`` (the
#: usual real-valued h) or ``sign`` (binary h_t = sign(h_t), sign(0) = +1: the XNOR-LSTM)
HIDDEN_ACTIVATIONS = ("identity", "sign", "ternary")
#: the default threshold r of ternary hidden states (``hidden_activation="ternary"``)
HIDDEN_THRESHOLD = 0.5


@dataclass(frozen=True)
class QuantSpec:
    """How a tensor is quantized.

    ``scheme``: the scheme that produced the values: ``"float"`` (unquantized), ``"binary"``,
    ``"ternary"``, ``"ott-ternary"``, ``"pow2-ternary"``, ``"exp"``, ``"int"`` (k-bit uniform), or for
    a loaded tensor that already takes few values the kind :func:`detect_quant` recognized.
    Later stages decide binary/ternary datapaths from ``levels``, not from the scheme name.
    ``levels``: the sorted distinct values the tensor may take, in real units (``None`` for float).
    ``scale``: the scale such that ``values / scale`` are small integers (or powers of two for
    ``exp``); ``None`` when meaningless.  ``bits``: storage bits per element.
    """

    scheme: str = "float"
    levels: tuple[float, ...] | None = None
    scale: float | None = None
    bits: int = 32
    stochastic: bool = False
    seed: int | None = None

    @property
    def is_quantized(self) -> bool:
        return self.scheme != "float"

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"levels": None if self.levels is None else list(self.levels)}

    @classmethod
    def from_json(cls, d: dict) -> "QuantSpec":
        d = dict(d)
        if d.get("levels") is not None:
            d["levels"] = tuple(float(v) for v in d["levels"])
        return cls(**d)


FLOAT = QuantSpec()


@dataclass(frozen=True, eq=False)
class Tensor:
    """A named weight tensor with its quantization."""

    data: np.ndarray
    quant: QuantSpec = FLOAT

    def __post_init__(self) -> None:
        arr = np.asarray(self.data, dtype=np.float64)
        object.__setattr__(self, "data", arr)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


@dataclass(frozen=True, eq=False)
class BatchNormParams:
    """Inference-time batch norm: y = gamma * (x - mean) / sqrt(var + eps) + beta.

    Arrays are ``(features,)`` or, for recurrent batch norm with per-time-step statistics,
    ``(steps, features)``; time steps beyond the last use the last row.
    """

    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("gamma", "beta", "mean", "var"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))

    @property
    def per_step(self) -> bool:
        return self.mean.ndim == 2

    @property
    def features(self) -> int:
        return int(self.mean.shape[-1])

    def at(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scale, shift) so that y = scale * x + shift at time step ``t``."""
        def row(a: np.ndarray) -> np.ndarray:
            return a[stats_row(t, a.shape[0])] if a.ndim == 2 else a
        scale = row(self.gamma) / np.sqrt(row(self.var) + self.eps)
        return scale, row(self.beta) - scale * row(self.mean)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"gamma": self.gamma, "beta": self.beta, "mean": self.mean, "var": self.var}


@dataclass(frozen=True, eq=False)
class Layer:
    """Base class of IR layers.  Subclasses declare ``kind`` and their tensor fields."""

    kind: ClassVar[str] = "layer"
    #: names of the fields holding :class:`Tensor` objects (``None`` allowed when optional)
    tensor_fields: ClassVar[tuple[str, ...]] = ()
    #: names of the fields holding optional :class:`BatchNormParams`
    bn_fields: ClassVar[tuple[str, ...]] = ()

    name: str

    def tensors(self) -> Iterator[tuple[str, Tensor]]:
        for f in self.tensor_fields:
            t = getattr(self, f)
            if t is not None:
                yield f, t

    def batchnorms(self) -> Iterator[tuple[str, BatchNormParams]]:
        for f in self.bn_fields:
            b = getattr(self, f)
            if b is not None:
                yield f, b

    def attrs(self) -> dict:
        """Scalar attributes (everything but tensors, batch norms and the name)."""
        skip = {"name", *self.tensor_fields, *self.bn_fields}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}

    @property
    def in_features(self) -> int | None:
        return None

    @property
    def out_features(self) -> int | None:
        return None

    def param_count(self) -> int:
        return sum(t.data.size for _, t in self.tensors())

    def replace(self, **changes) -> "Layer":
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Check shapes and finiteness; raise :class:`InvalidWeightsError` naming the tensor."""
        for fname, t in self.tensors():
            if not np.all(np.isfinite(t.data)):
                bad = int(np.size(t.data) - np.count_nonzero(np.isfinite(t.data)))
                raise InvalidWeightsError(
                    f"layer {self.name!r}: tensor {fname} has {bad} NaN/inf value(s)")
        for fname, b in self.batchnorms():
            for aname, arr in b.arrays().items():
                if not np.all(np.isfinite(arr)):
                    raise InvalidWeightsError(
                        f"layer {self.name!r}: batch norm {fname}.{aname} has NaN/inf values")
                if arr.shape != b.mean.shape:
                    raise InvalidWeightsError(
                        f"layer {self.name!r}: batch norm {fname}.{aname} shape {arr.shape} "
                        f"!= {b.mean.shape}")
            if np.any(b.var < 0):
                raise InvalidWeightsError(f"layer {self.name!r}: batch norm {fname} has negative variance")
        self._check_shapes()

    def _check_shapes(self) -> None:
        pass

    def _expect(self, fname: str, shape: tuple[int, ...]) -> None:
        t = getattr(self, fname)
        if t is not None and t.shape != shape:
            raise InvalidWeightsError(
                f"layer {self.name!r}: tensor {fname} has shape {t.shape}, expected {shape}")

    def _expect_bn(self, fname: str, features: int) -> None:
        b = getattr(self, fname)
        if b is not None and b.features != features:
            raise InvalidWeightsError(
                f"layer {self.name!r}: batch norm {fname} has {b.features} features, expected {features}")


def _check_hidden_activation(layer: "LSTM | GRU") -> None:
    if layer.hidden_activation not in HIDDEN_ACTIVATIONS:
        raise InvalidWeightsError(f"layer {layer.name!r}: hidden_activation must be one of "
                                  f"{', '.join(HIDDEN_ACTIVATIONS)}, got {layer.hidden_activation!r}")
    r = layer.hidden_threshold
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not np.isfinite(r) or r <= 0:
        raise InvalidWeightsError(f"layer {layer.name!r}: hidden_threshold must be a positive finite number, "
                                  f"got {r!r}")


#: the backward direction's weights of a bidirectional LSTM/GRU (set only when bidirectional)
REVERSE_FIELDS = ("w_ih_reverse", "w_hh_reverse", "b_ih_reverse", "b_hh_reverse")
DIRECTIONS = ("forward", "bidirectional")


def _check_direction(layer: "LSTM | GRU", gates: int) -> None:
    """``direction``: "forward", or "bidirectional" with the backward direction's weights in the
    ``*_reverse`` fields (same shapes as the forward ones); no batch norm on a bidirectional layer."""
    if layer.direction not in DIRECTIONS:
        raise InvalidWeightsError(f"layer {layer.name!r}: direction must be one of {', '.join(DIRECTIONS)}, "
                                  f"got {layer.direction!r}")
    h, i = layer.hidden_size, layer.input_size
    if layer.direction == "forward":
        extra = [f for f in REVERSE_FIELDS if getattr(layer, f) is not None]
        if extra:
            raise InvalidWeightsError(f"layer {layer.name!r}: {', '.join(extra)} set on a forward "
                                      f"(unidirectional) layer; set direction='bidirectional'")
        return
    if layer.w_ih_reverse is None or layer.w_hh_reverse is None:
        raise InvalidWeightsError(f"layer {layer.name!r}: a bidirectional layer needs w_ih_reverse and w_hh_reverse")
    layer._expect("w_ih_reverse", (gates * h, i))
    layer._expect("w_hh_reverse", (gates * h, h))
    layer._expect("b_ih_reverse", (gates * h,))
    layer._expect("b_hh_reverse", (gates * h,))
    bns = [f for f in layer.bn_fields if getattr(layer, f) is not None]
    if bns:
        raise InvalidWeightsError(f"layer {layer.name!r}: batch norm ({', '.join(bns)}) on a bidirectional "
                                  f"layer is not supported")


def direction_layers(layer: "LSTM | GRU") -> tuple["LSTM | GRU", ...]:
    """The unidirectional layers a layer runs: itself, or for a bidirectional one (forward, backward):
    the backward one (named ``NAME.reverse``, the ``*_reverse`` weights) runs on the sequence reversed
    in time and its outputs are reversed back; the layer's output at step t is
    ``concat(forward h_t, backward h_t)`` (torch's / ONNX's order)."""
    if layer.direction != "bidirectional":
        return (layer,)
    plain = {f: None for f in REVERSE_FIELDS} | {"direction": "forward"}
    fwd = dataclasses.replace(layer, **plain)
    bwd = dataclasses.replace(layer, name=f"{layer.name}.reverse", w_ih=layer.w_ih_reverse, w_hh=layer.w_hh_reverse,
                              b_ih=layer.b_ih_reverse, b_hh=layer.b_hh_reverse, **plain)
    return fwd, bwd


@dataclass(frozen=True, eq=False)
class LSTM(Layer):
    """One LSTM layer (gate order i, f, g, o).

    c_t = f*c_{t-1} + i*g,  h_t = o*tanh(c_t) with
    [i f g o] = act(BNx(W_ih x_t) + BNh(W_hh h_{t-1}) + b_ih + b_hh) and, when ``bn_c`` is set,
    h_t = o*tanh(BNc(c_t)) (recurrent batch norm, Cooijmans et al. / Ardakani et al. ICLR 2019).
    ``hidden_activation="sign"``: h_t = sign(o*tanh(...)) is what the next step and the next
    layer see (binary hidden states); ``"ternary"``: h_t = ternary_state(o*tanh(...), r) in
    {-1, 0, +1} with r = ``hidden_threshold`` (GXNOR ternary states, ``sim.rules.ternary_state``).
    """

    kind: ClassVar[str] = "lstm"
    tensor_fields: ClassVar[tuple[str, ...]] = ("w_ih", "w_hh", "b_ih", "b_hh", *REVERSE_FIELDS)
    bn_fields: ClassVar[tuple[str, ...]] = ("bn_x", "bn_h", "bn_c")

    input_size: int = 0
    hidden_size: int = 0
    w_ih: Tensor | None = None
    w_hh: Tensor | None = None
    b_ih: Tensor | None = None
    b_hh: Tensor | None = None
    bn_x: BatchNormParams | None = None
    bn_h: BatchNormParams | None = None
    bn_c: BatchNormParams | None = None
    hidden_activation: str = "identity"
    hidden_threshold: float = HIDDEN_THRESHOLD
    direction: str = "forward"
    w_ih_reverse: Tensor | None = None
    w_hh_reverse: Tensor | None = None
    b_ih_reverse: Tensor | None = None
    b_hh_reverse: Tensor | None = None

    @property
    def in_features(self) -> int:
        return self.input_size

    @property
    def out_features(self) -> int:
        return self.hidden_size * (2 if self.direction == "bidirectional" else 1)

    def _check_shapes(self) -> None:
        h, i = self.hidden_size, self.input_size
        _check_hidden_activation(self)
        if self.w_ih is None or self.w_hh is None:
            raise InvalidWeightsError(f"layer {self.name!r}: LSTM needs w_ih and w_hh")
        self._expect("w_ih", (4 * h, i))
        self._expect("w_hh", (4 * h, h))
        self._expect("b_ih", (4 * h,))
        self._expect("b_hh", (4 * h,))
        _check_direction(self, 4)
        self._expect_bn("bn_x", 4 * h)
        self._expect_bn("bn_h", 4 * h)
        self._expect_bn("bn_c", h)


@dataclass(frozen=True, eq=False)
class GRU(Layer):
    """One GRU layer (gate order r, z, n); h_t = (1-z)*n + z*h_{t-1} (``hidden_activation="sign"``:
    h_t = sign of that, ``"ternary"``: its ternary state, as for :class:`LSTM`)."""

    kind: ClassVar[str] = "gru"
    tensor_fields: ClassVar[tuple[str, ...]] = ("w_ih", "w_hh", "b_ih", "b_hh", *REVERSE_FIELDS)
    bn_fields: ClassVar[tuple[str, ...]] = ("bn_x", "bn_h")

    input_size: int = 0
    hidden_size: int = 0
    linear_before_reset: bool = True
    w_ih: Tensor | None = None
    w_hh: Tensor | None = None
    b_ih: Tensor | None = None
    b_hh: Tensor | None = None
    bn_x: BatchNormParams | None = None
    bn_h: BatchNormParams | None = None
    hidden_activation: str = "identity"
    hidden_threshold: float = HIDDEN_THRESHOLD
    direction: str = "forward"
    w_ih_reverse: Tensor | None = None
    w_hh_reverse: Tensor | None = None
    b_ih_reverse: Tensor | None = None
    b_hh_reverse: Tensor | None = None

    @property
    def in_features(self) -> int:
        return self.input_size

    @property
    def out_features(self) -> int:
        return self.hidden_size * (2 if self.direction == "bidirectional" else 1)

    def _check_shapes(self) -> None:
        h, i = self.hidden_size, self.input_size
        _check_hidden_activation(self)
        if self.w_ih is None or self.w_hh is None:
            raise InvalidWeightsError(f"layer {self.name!r}: GRU needs w_ih and w_hh")
        self._expect("w_ih", (3 * h, i))
        self._expect("w_hh", (3 * h, h))
        self._expect("b_ih", (3 * h,))
        self._expect("b_hh", (3 * h,))
        _check_direction(self, 3)
        self._expect_bn("bn_x", 3 * h)
        self._expect_bn("bn_h", 3 * h)


@dataclass(frozen=True, eq=False)
class Linear(Layer):
    """Dense layer y = W x + b, applied at every time step."""

    kind: ClassVar[str] = "linear"
    tensor_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")

    in_size: int = 0
    out_size: int = 0
    weight: Tensor | None = None
    bias: Tensor | None = None

    @property
    def in_features(self) -> int:
        return self.in_size

    @property
    def out_features(self) -> int:
        return self.out_size

    def _check_shapes(self) -> None:
        if self.weight is None:
            raise InvalidWeightsError(f"layer {self.name!r}: Linear needs a weight")
        self._expect("weight", (self.out_size, self.in_size))
        self._expect("bias", (self.out_size,))


@dataclass(frozen=True, eq=False)
class Embedding(Layer):
    """Token-id lookup: (batch, time) int ids -> (batch, time, dim)."""

    kind: ClassVar[str] = "embedding"
    tensor_fields: ClassVar[tuple[str, ...]] = ("weight",)

    num_embeddings: int = 0
    embedding_dim: int = 0
    weight: Tensor | None = None

    @property
    def out_features(self) -> int:
        return self.embedding_dim

    def _check_shapes(self) -> None:
        if self.weight is None:
            raise InvalidWeightsError(f"layer {self.name!r}: Embedding needs a weight")
        self._expect("weight", (self.num_embeddings, self.embedding_dim))


@dataclass(frozen=True, eq=False)
class BatchNorm(Layer):
    """Standalone batch norm over the feature axis (per-time-step statistics allowed)."""

    kind: ClassVar[str] = "batchnorm"
    bn_fields: ClassVar[tuple[str, ...]] = ("params",)

    params: BatchNormParams | None = None

    @property
    def in_features(self) -> int | None:
        return self.params.features if self.params is not None else None

    @property
    def out_features(self) -> int | None:
        return self.in_features

    def param_count(self) -> int:
        return 0 if self.params is None else int(4 * self.params.mean.size)

    def _check_shapes(self) -> None:
        if self.params is None:
            raise InvalidWeightsError(f"layer {self.name!r}: BatchNorm needs parameters")


@dataclass(frozen=True, eq=False)
class Activation(Layer):
    """Element-wise activation (``function`` in ACTIVATIONS); softmax is over the last axis."""

    kind: ClassVar[str] = "activation"

    function: str = "identity"

    def _check_shapes(self) -> None:
        if self.function not in ACTIVATIONS:
            raise UnsupportedOpError(self.function, self.name, f"supported: {', '.join(ACTIVATIONS)}")


# what a LastStep keeps: sim.rules.LAST_STEP_SELECTS (the one rule, sim.rules.last_step_select)


@dataclass(frozen=True, eq=False)
class LastStep(Layer):
    """Keep the last time step: ``(batch, time, F) -> (batch, 1, F)``.  The layers after it see a
    sequence of one step (a sequence-level head runs once per sequence); no recurrent layer may
    follow it.

    ``select`` (only other than ``"last"`` directly after a bidirectional LSTM/GRU, whose output at
    step t is ``concat(forward h_t, backward h_t)``, H features each): ``"final"`` keeps each
    direction's final state, ``concat(forward h_{T-1}, backward h_0)`` (width 2H; torch's
    ``cat((h_n[-2], h_n[-1]), 1)``), ``"forward"`` the forward one (width H, ``h_n[-2]``), and
    ``"backward"`` the backward one (width H, ``h_n[-1]``: the backward direction's state after the
    whole sequence, i.e. its output at step 0).  ``"last"`` keeps the output at step T-1, whose
    backward half is the backward state after one step (``y[:, -1]``)."""

    kind: ClassVar[str] = "last_step"

    select: str = "last"

    def _check_shapes(self) -> None:
        if self.select not in LAST_STEP_SELECTS:
            raise InvalidWeightsError(f"layer {self.name!r}: select must be one of {', '.join(LAST_STEP_SELECTS)}, "
                                      f"got {self.select!r}")


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (LSTM, GRU, Linear, Embedding, BatchNorm, Activation, LastStep)
}


@dataclass(frozen=True)
class InputSpec:
    """What the model consumes: ``"features"`` (batch, time, size) floats, or ``"tokens"``
    (batch, time) integer ids below ``size``."""

    kind: str = "features"
    size: int = 0


@dataclass(frozen=True, eq=False)
class Model:
    """An ordered chain of layers plus the input description."""

    layers: tuple[Layer, ...]
    input: InputSpec
    name: str = "model"
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)

    def replace_layer(self, name: str, new: Layer) -> "Model":
        return dataclasses.replace(
            self, layers=tuple(new if lay.name == name else lay for lay in self.layers))

    def with_layers(self, layers) -> "Model":
        return dataclasses.replace(self, layers=tuple(layers))

    def param_count(self) -> int:
        return sum(lay.param_count() for lay in self.layers)

    def validate(self) -> "Model":
        """Check every layer and that consecutive layers fit; return self for chaining."""
        names = [lay.name for lay in self.layers]
        if len(set(names)) != len(names):
            raise InvalidWeightsError(f"duplicate layer names in {names}")
        if self.input.kind not in ("features", "tokens"):
            raise InvalidWeightsError(f"input kind must be 'features' or 'tokens', got {self.input.kind!r}")
        width: int | None = self.input.size if self.input.kind == "features" else None
        last_step: Layer | None = None
        for k, lay in enumerate(self.layers):
            lay.validate()
            if isinstance(lay, LastStep):
                if last_step is not None:
                    raise InvalidWeightsError(f"layer {lay.name!r}: a second LastStep (after {last_step.name!r}); "
                                              "the sequence has one step left")
                last_step = lay
                prev = self.layers[k - 1] if k else None
                if lay.select != "last" and not (isinstance(prev, (LSTM, GRU)) and prev.direction == "bidirectional"):
                    raise InvalidWeightsError(f"layer {lay.name!r}: select={lay.select!r} (a direction's final "
                                              "state) needs a bidirectional LSTM/GRU right before it")
                if lay.select in ("forward", "backward") and width is not None:
                    width //= 2
            elif isinstance(lay, (LSTM, GRU)) and last_step is not None:
                raise InvalidWeightsError(f"layer {lay.name!r}: a recurrent layer after LastStep "
                                          f"{last_step.name!r} is not supported (it would see one time step)")
            if isinstance(lay, Embedding):
                if k != 0 or self.input.kind != "tokens":
                    raise InvalidWeightsError(
                        f"layer {lay.name!r}: an Embedding must be the first layer of a token model")
                if lay.num_embeddings != self.input.size:
                    raise InvalidWeightsError(
                        f"layer {lay.name!r}: {lay.num_embeddings} embeddings but vocabulary is {self.input.size}")
            elif k == 0 and self.input.kind == "tokens":
                raise InvalidWeightsError("a token-input model must start with an Embedding layer")
            fin = lay.in_features
            if fin is not None and width is not None and fin != width:
                raise InvalidWeightsError(
                    f"layer {lay.name!r} expects {fin} input features but receives {width}")
            out = lay.out_features
            if out is not None:
                width = out
        return self

    def graph(self):
        """A networkx DiGraph view: nodes are layer names (attribute ``layer``), plus ``"input"``."""
        import networkx as nx  # noqa: PLC0415 - networkx is slow to import (~0.3 s) and only graph() needs it

        g = nx.DiGraph()
        g.add_node("input", layer=None, spec=self.input)
        prev = "input"
        for lay in self.layers:
            g.add_node(lay.name, layer=lay, kind=lay.kind)
            g.add_edge(prev, lay.name)
            prev = lay.name
        return g
