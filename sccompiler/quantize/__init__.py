"""Weight quantizers (binary, ternary, pow2-ternary, exponential, k-bit), level detection and
batch-norm folding."""

from .detect import MAX_DETECTED_LEVELS, detect_quant
from .schemes import (
    SCHEMES,
    Scheme,
    binary,
    exponential,
    iclr_scale,
    ott_scale,
    ott_ternary,
    parse_scheme,
    pow2_ternary,
    quantization_summary,
    quantize_model,
    scheme_names,
    ternary,
    uniform_int,
)

__all__ = [
    "MAX_DETECTED_LEVELS", "SCHEMES", "Scheme", "binary", "detect_quant", "exponential",
    "iclr_scale", "ott_scale", "ott_ternary", "parse_scheme", "pow2_ternary",
    "quantization_summary", "quantize_model", "scheme_names", "ternary", "uniform_int",
]
