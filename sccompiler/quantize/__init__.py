"""Weight quantizers (binary, ternary, pow2-ternary, exponential, k-bit) and level detection."""

from .detect import MAX_DETECTED_LEVELS, detect_quant

__all__ = ["MAX_DETECTED_LEVELS", "detect_quant"]
