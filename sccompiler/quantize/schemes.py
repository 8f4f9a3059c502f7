"""Exact weight quantizers (docs/background.md §4) and model-level quantization.

Every quantizer is a pure numpy function ``f(w, ...) -> (q, spec)``: ``q`` is a float64 array of
the same shape holding the quantized *values* (real units), ``spec`` the :class:`QuantSpec`
describing the level set.  Definitions follow the authors' code where it is public:

* **ICLR 2019 (Ardakani et al.)**, ``W0 = 0.5*sqrt(6/(fan_in+fan_out))``:

  - deterministic binary ``W0*sign(W)`` with ``sign(0) = +1``;
  - stochastic binary ``+W0`` with ``p = clip((W/W0 + 1)/2, 0, 1)``, else ``-W0``;
  - deterministic ternary with thresholds ``±W0/3`` exactly as in the authors' code
    (``arashardakani/Learning-Recurrent-Binary-Ternary-Weights``, ``layer.py``:
    ``W0*([W > -W0/3] + [W > W0/3] - 1)``): ``+W0`` if ``W > W0/3``, ``-W0`` if ``W <= -W0/3``,
    else 0 -- asymmetric at the thresholds, kept;
  - stochastic ternary ``W0*sign(W)*Bernoulli(clip(|W|/W0, 0, 1))``;
  - an LSTM's stacked ``(4H, I)`` matrix is one tensor with ``fan_out = 4H`` (their
    ``sqrt(6/(n_inputs + 4*n_units))``), a GRU's ``3H`` likewise.

* **Ott et al. 2016** (``ottj/QuantizedRNN``, ``regularization.py``),
  ``W0 = sqrt(6/(fan_in+fan_out))``:

  - deterministic ternary ``W0*([W > -W0/2] + [W > W0/2] - 1)``: ``+W0`` if ``W > W0/2``,
    ``-W0`` if ``W <= -W0/2``, else 0 (their comparison is asymmetric at the thresholds; kept);
  - every gate matrix ``(I, H)`` has its own fan (``rounding_rnn.py``: ``sqrt(6/(inputs + H))``
    for input weights, ``sqrt(6/(2H))`` for recurrent ones), so a stacked matrix uses
    ``fan_out = H``, not the stack's rows (:func:`recurrent_fan_out`);
  - stochastic ternary: the same formula as ICLR's, with Ott's ``W0``;
  - pow2-ternary ("dual copy rounding"): ``clip(round(W*2^f), -(2^(f+i)-1), 2^(f+i)-1) / 2^f``
    with round half away from zero, defaults ``f = 1`` fractional and ``i = 0`` integer bits,
    giving the levels {-0.5, 0, 0.5} (no fan-based scale);
  - exponential: ``s*2^k``, ``s = sign(W)``, ``k = clip(floor(log2|W|), -22, 9)``;
    ``p = clip(|W|/2^k - 1, 0, 1)``; stochastic: exponent ``k+1`` with probability ``p``
    (unbiased inside the range); deterministic: ``k+1`` iff ``p > 0.5`` (their strict ``>``, so a
    tie rounds down).  Zeros stay 0 (*ours*: their code maps 0 to ``-2^-22``).  Magnitudes below
    ``2^-22`` become ``2^-22``; above ``2^10`` become ``2^10``.

* **int:K** (plain symmetric uniform, *ours*): ``scale = max|W| / (2^(K-1) - 1)``,
  ``q = round(W/scale)*scale`` with round half away from zero (stochastic: ``floor`` plus
  Bernoulli of the fraction, unbiased).  An all-zero tensor gets ``scale = 1``.

Both authors compare in float32 (Theano ``floatX``, their ``W0`` a ``np.float32``): the ternary
rules decide each weight's level on ``float32(W)`` against float32 thresholds computed as theirs
(:func:`float32_thresholds`), so a port of their code assigns the same level to every weight; the
levels themselves are the float64 ``±W0``.  Binary's ``W >= 0`` is kept in float64 (it differs
from float32 only for negative weights below 1.4e-45, which float32 flushes to -0.0 and so to +W0).

``QuantSpec.levels`` is the scheme's whole codebook when it has at most
:data:`~sccompiler.quantize.detect.MAX_DETECTED_LEVELS` entries, otherwise the values that occur.

Stochastic variants need ``seed`` (an int or a ``numpy.random.Generator``); the same seed gives the
same result.  :func:`quantize_model` derives one independent stream per tensor from the model seed
with ``SeedSequence(seed, spawn_key=(layer_index, tensor_index))``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..errors import ConfigError, InvalidWeightsError, SCValueError
from ..ir.model import GRU, LSTM, Embedding, Linear, Model, QuantSpec, Tensor
from ..sim.rules import is_int
from .detect import MAX_DETECTED_LEVELS

SeedLike = int | np.random.Generator | None
QuantResult = tuple[np.ndarray, QuantSpec]

#: Ott et al.'s exponent range for exponential quantization
EXP_MIN_EXPONENT = -22
EXP_MAX_EXPONENT = 9
#: pow2-ternary defaults (fractional, integer bits) giving {-0.5, 0, 0.5}
POW2_FRACTIONAL_BITS = 1
POW2_INTEGER_BITS = 0
#: allowed K for int:K
INT_MIN_BITS, INT_MAX_BITS = 2, 16


# ----------------------------------------------------------------------------------------- helpers
def _as_weights(w) -> np.ndarray:
    try:
        arr = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidWeightsError(f"weights to quantize are not a numeric array: {exc}") from None
    if not np.all(np.isfinite(arr)):
        raise InvalidWeightsError("weights to quantize contain NaN/inf values")
    return arr


def _rng(seed: SeedLike, stochastic: bool) -> np.random.Generator | None:
    if not stochastic:
        return None
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise SCValueError("seed", "stochastic quantization needs an int seed or a numpy Generator")
    if not is_int(seed) or seed < 0:
        raise SCValueError("seed", f"must be a non-negative int or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _seed_record(seed: SeedLike, stochastic: bool) -> int | None:
    return int(seed) if stochastic and is_int(seed) else None


def _bernoulli(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """1.0 with probability p (p = 0 never, p = 1 always, since random() lies in [0, 1))."""
    return (rng.random(p.shape) < p).astype(np.float64)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (C ``round``, the authors' rounding), exactly:
    ``floor(x + 0.5)`` would round 0.49999999999999994 up."""
    x = np.asarray(x, dtype=np.float64)
    whole = np.trunc(x)
    return whole + np.sign(x) * (np.abs(x - whole) >= 0.5)


def _check_fan(fan_in, fan_out) -> None:
    for name, v in (("fan_in", fan_in), ("fan_out", fan_out)):
        if not is_int(v) or v < 1:
            raise SCValueError(name, f"must be a positive int, got {v!r}")


def iclr_scale(fan_in: int, fan_out: int) -> float:
    """ICLR 2019 weight scale ``W0 = 0.5*sqrt(6/(fan_in+fan_out))``."""
    _check_fan(fan_in, fan_out)
    return 0.5 * math.sqrt(6.0 / (fan_in + fan_out))


def ott_scale(fan_in: int, fan_out: int) -> float:
    """Ott et al. 2016 weight scale ``W0 = sqrt(6/(fan_in+fan_out))`` (Glorot uniform bound)."""
    _check_fan(fan_in, fan_out)
    return math.sqrt(6.0 / (fan_in + fan_out))


def recurrent_fan_out(scheme: str, gates: int, hidden_size: int) -> int:
    """The ``fan_out`` of a recurrent layer's stacked ``(gates*H, fan_in)`` weight matrix under
    ``scheme``: Ott et al. scale each gate matrix by its own fan (``H``); ICLR 2019 (and the
    other schemes, which take no fan) the stack (``gates*H``)."""
    return hidden_size if scheme == "ott-ternary" else gates * hidden_size


def float32_thresholds(scale: float, divisor: int) -> tuple[np.float32, np.float32]:
    """(-W0/d, W0/d) as the authors' Theano code computes them: ``W0`` a float32, divided in float32."""
    w0 = np.float32(scale)
    return np.float32(-w0 / np.float32(divisor)), np.float32(w0 / np.float32(divisor))


def _resolve_w0(w0: float | None, fan_in, fan_out, scale_fn: Callable[[int, int], float]) -> float:
    if w0 is not None:
        if isinstance(w0, bool) or not (isinstance(w0, (int, float, np.floating))
                                        and math.isfinite(w0) and w0 > 0):
            raise SCValueError("w0", f"must be a positive finite number, got {w0!r}")
        return float(w0)
    if fan_in is None or fan_out is None:
        raise SCValueError("fan_in", "give fan_in and fan_out (or w0) for a fan-scaled quantizer")
    return scale_fn(fan_in, fan_out)


# -------------------------------------------------------------------------------- quantizers
def binary(w, fan_in: int | None = None, fan_out: int | None = None, *, stochastic: bool = False,
           seed: SeedLike = None, w0: float | None = None) -> QuantResult:
    """ICLR 2019 binarization to {-W0, +W0} (module docstring has the exact rule)."""
    arr = _as_weights(w)
    scale = _resolve_w0(w0, fan_in, fan_out, iclr_scale)
    rng = _rng(seed, stochastic)
    if rng is None:
        q = np.where(arr >= 0, scale, -scale)
    else:
        p = np.clip((arr / scale + 1.0) / 2.0, 0.0, 1.0)
        q = np.where(_bernoulli(rng, p) > 0, scale, -scale)
    spec = QuantSpec("binary", (-scale, scale), scale, 1, stochastic, _seed_record(seed, stochastic))
    return q.astype(np.float64), spec


def _ternarize(w, fan_in, fan_out, stochastic: bool, seed: SeedLike, w0: float | None,
               scheme: str, scale_fn: Callable[[int, int], float],
               deterministic: Callable[[np.ndarray, float], np.ndarray]) -> QuantResult:
    """Shared body of the two ternary schemes: they differ in W0 and the deterministic rule;
    the stochastic rule is ``W0*sign(W)*Bernoulli(clip(|W|/W0, 0, 1))`` for both."""
    arr = _as_weights(w)
    scale = _resolve_w0(w0, fan_in, fan_out, scale_fn)
    rng = _rng(seed, stochastic)
    if rng is None:
        q = scale * deterministic(arr, scale)
    else:
        q = scale * np.sign(arr) * _bernoulli(rng, np.clip(np.abs(arr) / scale, 0.0, 1.0))
    spec = QuantSpec(scheme, (-scale, 0.0, scale), scale, 2, stochastic,
                     _seed_record(seed, stochastic))
    return q + 0.0, spec  # + 0.0 turns -0.0 into 0.0


def _threshold_rule(arr: np.ndarray, scale: float, divisor: int) -> np.ndarray:
    # both authors' code: [W > -W0/d] + [W > W0/d] - 1, in float32
    lo, hi = float32_thresholds(scale, divisor)
    w = arr.astype(np.float32)
    return (w > lo).astype(np.float64) + (w > hi) - 1.0


def _iclr_ternary_rule(arr: np.ndarray, scale: float) -> np.ndarray:
    return _threshold_rule(arr, scale, 3)


def _ott_ternary_rule(arr: np.ndarray, scale: float) -> np.ndarray:
    return _threshold_rule(arr, scale, 2)


def ternary(w, fan_in: int | None = None, fan_out: int | None = None, *, stochastic: bool = False,
            seed: SeedLike = None, w0: float | None = None) -> QuantResult:
    """ICLR 2019 ternarization to {-W0, 0, W0}, thresholds ±W0/3 exactly as in the authors' code
    (``-W0/3`` itself maps to ``-W0``, ``+W0/3`` to 0; compared in float32: module docstring)."""
    return _ternarize(w, fan_in, fan_out, stochastic, seed, w0, "ternary", iclr_scale,
                      _iclr_ternary_rule)


def ott_ternary(w, fan_in: int | None = None, fan_out: int | None = None, *,
                stochastic: bool = False, seed: SeedLike = None,
                w0: float | None = None) -> QuantResult:
    """Ott et al. ternarization to {-W0, 0, W0}, W0 = sqrt(6/(fan_in+fan_out)), thresholds
    ±W0/2 exactly as in their code (``-W0/2`` itself maps to ``-W0``, ``+W0/2`` to 0)."""
    return _ternarize(w, fan_in, fan_out, stochastic, seed, w0, "ott-ternary", ott_scale,
                      _ott_ternary_rule)


def pow2_ternary(w, *, fractional_bits: int = POW2_FRACTIONAL_BITS,
                 integer_bits: int = POW2_INTEGER_BITS) -> QuantResult:
    """Ott et al. pow2-ternarization (fixed point, round half away from zero, saturating)."""
    for name, v in (("fractional_bits", fractional_bits), ("integer_bits", integer_bits)):
        if not is_int(v) or v < 0:
            raise SCValueError(name, f"must be a non-negative int, got {v!r}")
    if fractional_bits + integer_bits < 1 or fractional_bits + integer_bits > 30:
        raise SCValueError("fractional_bits", "fractional_bits + integer_bits must be in 1..30")
    arr = _as_weights(w)
    power = 2.0 ** fractional_bits
    max_code = 2.0 ** (fractional_bits + integer_bits) - 1
    q = np.clip(round_half_away(arr * power), -max_code, max_code) / power
    codes = np.arange(-max_code, max_code + 1)
    spec = QuantSpec("pow2-ternary", _levels(codes / power, q), 1.0 / power,
                     fractional_bits + integer_bits + 1, False, None)
    return q + 0.0, spec


def exponential(w, *, stochastic: bool = False, seed: SeedLike = None,
                min_exponent: int = EXP_MIN_EXPONENT,
                max_exponent: int = EXP_MAX_EXPONENT) -> QuantResult:
    """Ott et al. exponential quantization to signed powers of two (module docstring)."""
    if not (is_int(min_exponent) and is_int(max_exponent)
            and -1000 < min_exponent <= max_exponent < 1000):
        raise SCValueError("min_exponent", "need ints with -1000 < min_exponent <= max_exponent < 1000")
    arr = _as_weights(w)
    rng = _rng(seed, stochastic)
    mag = np.abs(arr)
    # frexp gives floor(log2|W|) exactly (np.log2 may round 2^k*(1-eps) up to k)
    _, e = np.frexp(mag)
    k = np.clip(e.astype(np.int64) - 1, min_exponent, max_exponent)
    low = np.ldexp(1.0, k)
    p = np.clip(mag / low - 1.0, 0.0, 1.0)
    up = (p > 0.5).astype(np.float64) if rng is None else _bernoulli(rng, p)
    q = np.where(arr == 0, 0.0, np.sign(arr) * np.ldexp(1.0, k + up.astype(np.int64)))
    exps = np.arange(min_exponent, max_exponent + 2)
    mags = np.ldexp(1.0, exps)
    codebook = np.concatenate([-mags[::-1], [0.0], mags])
    n_codes = exps.size + 1  # exponents plus the zero code
    spec = QuantSpec("exp", _levels(codebook, q), float(2.0 ** min_exponent),
                     1 + math.ceil(math.log2(n_codes)), stochastic, _seed_record(seed, stochastic))
    return q, spec


def uniform_int(w, bits: int, *, stochastic: bool = False, seed: SeedLike = None) -> QuantResult:
    """Symmetric k-bit uniform quantization, ``scale = max|W|/(2^(k-1)-1)`` (module docstring)."""
    if not is_int(bits) or not (
            INT_MIN_BITS <= bits <= INT_MAX_BITS):
        raise ConfigError(f"int:K needs K in {INT_MIN_BITS}..{INT_MAX_BITS}, got {bits!r}")
    arr = _as_weights(w)
    rng = _rng(seed, stochastic)
    max_code = 2 ** (bits - 1) - 1
    amax = float(np.max(np.abs(arr))) if arr.size else 0.0
    scale = amax / max_code if amax > 0 else 1.0
    x = arr / scale
    if rng is None:
        codes = round_half_away(x)
    else:
        low = np.floor(x)
        codes = low + _bernoulli(rng, x - low)
    codes = np.clip(codes, -max_code, max_code)  # only guards round-off at |x| == max_code
    q = codes * scale
    spec = QuantSpec("int", _levels(np.arange(-max_code, max_code + 1) * scale, q), scale, int(bits),
                     stochastic, _seed_record(seed, stochastic))
    return q + 0.0, spec


def head_codes(t: Tensor, bits: int) -> tuple[np.ndarray, float, int]:
    """A fixed-point head's weights: (codes Wq as int64, scale s, K) with W ~ s Wq, |Wq| <= 2^(K-1)-1.

    An int:K tensor whose values are already s times such integers keeps its own scale and K;
    anything else (float, exp, pow2, int with another grid) is quantized by :func:`uniform_int`
    with ``bits`` (per-tensor symmetric, round half away from zero)."""
    q = t.quant
    if q.scheme == "int" and q.scale and INT_MIN_BITS <= q.bits <= INT_MAX_BITS:
        codes = np.rint(t.data / q.scale)
        if np.all(np.abs(codes) <= 2 ** (q.bits - 1) - 1) and np.allclose(codes * q.scale, t.data,
                                                                             rtol=1e-9, atol=1e-12 * q.scale):
            return codes.astype(np.int64), float(q.scale), int(q.bits)
    values, spec = uniform_int(t.data, bits)
    return np.rint(values / spec.scale).astype(np.int64), float(spec.scale), int(bits)


def _levels(codebook: np.ndarray, q: np.ndarray) -> tuple[float, ...]:
    values = codebook if codebook.size <= MAX_DETECTED_LEVELS else np.unique(q)
    return tuple(float(v) + 0.0 for v in np.sort(values))


# --------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Scheme:
    """A named quantization scheme as the API and CLI expose it."""

    name: str
    description: str
    #: the scale needs fan_in/fan_out (weight matrices only)
    uses_fan: bool
    has_stochastic: bool
    #: (w, fan_in, fan_out, stochastic, seed, param) -> (q, spec)
    apply: Callable[..., QuantResult]


def _apply_binary(w, fan_in, fan_out, stochastic, seed, param, w0=None):
    return binary(w, fan_in, fan_out, stochastic=stochastic, seed=seed, w0=w0)


def _apply_ternary(w, fan_in, fan_out, stochastic, seed, param, w0=None):
    return ternary(w, fan_in, fan_out, stochastic=stochastic, seed=seed, w0=w0)


def _apply_ott_ternary(w, fan_in, fan_out, stochastic, seed, param, w0=None):
    return ott_ternary(w, fan_in, fan_out, stochastic=stochastic, seed=seed, w0=w0)


#: the fan-based scale of each fan-scaled scheme (what ``scale_factor`` multiplies)
FAN_SCALE = {"binary": iclr_scale, "ternary": iclr_scale, "ott-ternary": ott_scale}


def _apply_pow2(w, fan_in, fan_out, stochastic, seed, param):
    return pow2_ternary(w)


def _apply_exp(w, fan_in, fan_out, stochastic, seed, param):
    return exponential(w, stochastic=stochastic, seed=seed)


def _apply_int(w, fan_in, fan_out, stochastic, seed, param):
    return uniform_int(w, param, stochastic=stochastic, seed=seed)


#: scheme name -> :class:`Scheme` (``int`` is written ``int:K``)
SCHEMES: dict[str, Scheme] = {s.name: s for s in (
    Scheme("binary", "ICLR'19 binary {-W0,+W0}, W0 = 0.5*sqrt(6/(fan_in+fan_out))", True, True,
           _apply_binary),
    Scheme("ternary", "ICLR'19 ternary {-W0,0,W0}, thresholds ±W0/3", True, True, _apply_ternary),
    Scheme("ott-ternary", "Ott'16 ternary {-W0,0,W0}, W0 = sqrt(6/(fan_in+fan_out)), "
           "thresholds ±W0/2", True, True, _apply_ott_ternary),
    Scheme("pow2-ternary", "Ott'16 pow2-ternary {-0.5,0,0.5} (f=1, i=0)", False, False, _apply_pow2),
    Scheme("exp", "Ott'16 exponential s*2^k, k in [-22, 10]", False, True, _apply_exp),
    Scheme("int", "symmetric K-bit uniform, scale = max|W|/(2^(K-1)-1) (write int:K)", False, True,
           _apply_int),
)}


def scheme_names() -> list[str]:
    """Names as the CLI accepts them (``int:K`` for the parametrized one)."""
    return [("int:K" if name == "int" else name) for name in SCHEMES]


def parse_scheme(text: str) -> tuple[Scheme, int | None]:
    """``"binary"`` -> (Scheme, None); ``"int:8"`` -> (Scheme, 8).  Unknown -> ConfigError."""
    if not isinstance(text, str):
        raise ConfigError(f"scheme must be a string, got {text!r}")
    m = re.fullmatch(r"int:(\d+)", text.strip())
    if m:
        bits = int(m.group(1))
        if not INT_MIN_BITS <= bits <= INT_MAX_BITS:
            raise ConfigError(f"int:K needs K in {INT_MIN_BITS}..{INT_MAX_BITS}, got {text!r}")
        return SCHEMES["int"], bits
    name = text.strip()
    if name == "int" or name.startswith("int:"):
        raise ConfigError(f"bad integer scheme {text!r}: write int:K with K in "
                          f"{INT_MIN_BITS}..{INT_MAX_BITS}, e.g. int:8")
    if name not in SCHEMES:
        raise ConfigError(f"unknown quantization scheme {text!r}; choose one of "
                          f"{', '.join(scheme_names())}")
    return SCHEMES[name], None


# ----------------------------------------------------------------------------- model level
#: tensor categories quantize_model understands
TENSOR_CATEGORIES = ("weights", "embeddings", "biases")


def _tensor_plan(layer, scheme: str = "binary") -> list[tuple[str, str, int | None, int | None]]:
    """(field, category, fan_in, fan_out) for each tensor of a layer under ``scheme``."""
    if isinstance(layer, (LSTM, GRU)):
        fan_out = recurrent_fan_out(scheme, 4 if isinstance(layer, LSTM) else 3, layer.hidden_size)
        plan = [("w_ih", "weights", layer.input_size, fan_out),
                ("w_hh", "weights", layer.hidden_size, fan_out),
                ("b_ih", "biases", None, None), ("b_hh", "biases", None, None)]
        if layer.direction == "bidirectional":  # the backward direction: the same fans, its own tensors
            plan += [(f"{fname}_reverse", cat, fi, fo) for fname, cat, fi, fo in plan]
        return plan
    if isinstance(layer, Linear):
        return [("weight", "weights", layer.in_size, layer.out_size), ("bias", "biases", None, None)]
    if isinstance(layer, Embedding):
        # Glorot's bound depends only on fan_in + fan_out = vocabulary + dimension
        return [("weight", "embeddings", layer.num_embeddings, layer.embedding_dim)]
    return []


def quantize_model(model: Model, scheme: str, *, stochastic: bool = False, seed: int | None = None,
                   which: Iterable[str] = ("weights",), requantize: bool = False,
                   layers: Iterable[str] | None = None, scale_factor: float = 1.0) -> Model:
    """Quantize a model's tensors; return a new :class:`Model` (the input is not modified).

    ``scheme``: one of :data:`SCHEMES` (``int:K`` for K-bit).  ``which``: tensor categories among
    ``"weights"`` (LSTM/GRU ``w_ih``/``w_hh``, Linear ``weight``), ``"embeddings"`` and
    ``"biases"`` (only for schemes whose scale does not come from fan_in/fan_out).  Batch norms stay
    float.  Each weight matrix is one tensor with one scale: for an LSTM ``w_ih`` fan_in is the
    input size and fan_out ``4*hidden`` (``3*hidden`` for a GRU; ``hidden`` for ott-ternary, whose
    authors scale each gate matrix: :func:`recurrent_fan_out`), ``w_hh`` fan_in is ``hidden``.
    A stochastic run without ``seed`` draws one and records it in every ``QuantSpec.seed`` and in
    ``metadata["quantization"]``, so the result is reproducible.  A selected tensor that is already
    quantized (e.g. detected on import) is kept as it is -- only what is still float is quantized,
    e.g. the float head next to a binary recurrent core -- unless ``requantize=True`` (quantizing
    again changes its values, which must not happen silently); when nothing selected is still
    float, :class:`ConfigError`.  ``layers``: the names of the layers to quantize (default: all).
    The kept and the quantized tensors are listed in ``metadata["quantization"]``.
    ``scale_factor``: a fan-scaled scheme's ``W0`` times this (a post-training scale, e.g. from
    :func:`sccompiler.evaluation.search_scale`; 1 = the authors' rule), recorded in the metadata.
    """
    spec_scheme, param = parse_scheme(scheme)
    which = tuple(which)
    bad = [w for w in which if w not in TENSOR_CATEGORIES]
    if bad or not which:
        raise ConfigError(f"which must be a non-empty subset of {TENSOR_CATEGORIES}, got {which!r}")
    if stochastic and not spec_scheme.has_stochastic:
        raise ConfigError(f"scheme {scheme!r} has no stochastic variant")
    if "biases" in which and spec_scheme.uses_fan:
        raise ConfigError(f"scheme {scheme!r} takes its scale from fan_in/fan_out, which biases "
                          "do not have; quantize biases with pow2-ternary, exp or int:K")
    if seed is not None and (not is_int(seed)
                             or seed < 0):
        raise SCValueError("seed", f"must be a non-negative int, got {seed!r}")
    if isinstance(scale_factor, bool) or not isinstance(scale_factor, (int, float)) \
            or not math.isfinite(scale_factor) or scale_factor <= 0:
        raise SCValueError("scale_factor", f"must be a positive finite number, got {scale_factor!r}")
    if scale_factor != 1.0 and not spec_scheme.uses_fan:
        raise ConfigError(f"scheme {scheme!r} has no fan-based scale to multiply (scale_factor applies to "
                          f"{', '.join(FAN_SCALE)})")
    model.validate()
    names = [layer.name for layer in model.layers]
    chosen = set(names) if layers is None else set(layers)
    unknown = sorted(chosen - set(names))
    if unknown or not chosen:
        raise ConfigError(f"layers: unknown layer(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                          f"the model's layers are {', '.join(names)}")
    selected = [(layer, fname) for layer in model.layers if layer.name in chosen
                for fname, category, _, _ in _tensor_plan(layer)
                if category in which and getattr(layer, fname) is not None]
    kept = [] if requantize else [f"{layer.name}.{fname}" for layer, fname in selected
                                  if getattr(layer, fname).quant.is_quantized]
    if selected and len(kept) == len(selected):
        done = [f"{layer.name}.{fname} ({getattr(layer, fname).quant.scheme})" for layer, fname in selected]
        raise ConfigError(f"nothing to quantize: every selected tensor is already quantized ({', '.join(done)}); "
                          "pass requantize=True (--requantize) to quantize again")
    if stochastic and seed is None:
        seed = secrets.randbits(63)
    layers = []
    for k, layer in enumerate(model.layers):
        changes = {}
        for fname, category, fan_in, fan_out in _tensor_plan(layer, spec_scheme.name):
            tensor = getattr(layer, fname)
            if tensor is None or category not in which or layer.name not in chosen \
                    or f"{layer.name}.{fname}" in kept:
                continue
            rng = None
            if stochastic:
                j = layer.tensor_fields.index(fname)
                rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(k, j)))
            if scale_factor != 1.0 and fan_in is not None:
                w0 = scale_factor * FAN_SCALE[spec_scheme.name](fan_in, fan_out)
                q, qspec = spec_scheme.apply(tensor.data, fan_in, fan_out, stochastic, rng, param, w0=w0)
            else:
                q, qspec = spec_scheme.apply(tensor.data, fan_in, fan_out, stochastic, rng, param)
            if stochastic:
                qspec = dataclasses.replace(qspec, seed=int(seed))
            changes[fname] = Tensor(q, qspec)
        layers.append(layer.replace(**changes) if changes else layer)
    record = {"scheme": scheme.strip(), "stochastic": bool(stochastic),
              "seed": int(seed) if stochastic else None, "which": list(which),
              "layers": sorted(chosen) if layers is not None else None, "kept": kept,
              "scale_factor": float(scale_factor)}
    return dataclasses.replace(model, layers=tuple(layers),
                               metadata={**model.metadata, "quantization": record})


def quantization_summary(model: Model) -> list[dict]:
    """One row per tensor: layer, tensor, shape, scheme, number of levels, levels (when at most
    8), number of distinct values used, scale, bits, stochastic, seed, and the fraction of zeros."""
    rows = []
    for layer in model.layers:
        for fname, t in layer.tensors():
            q = t.quant
            n_levels = len(q.levels) if q.levels is not None else None
            rows.append({
                "layer": layer.name, "tensor": fname, "shape": list(t.shape), "scheme": q.scheme,
                "n_levels": n_levels,
                "levels": list(q.levels) if q.levels is not None and len(q.levels) <= 8 else None,
                "n_used": int(np.unique(t.data).size),
                "scale": q.scale, "bits": q.bits, "stochastic": q.stochastic, "seed": q.seed,
                "zero_fraction": float(np.mean(t.data == 0)) if t.data.size else 0.0,
            })
    return rows
