"""Pass ``check_model``: refuse what the SC datapath cannot lower before anything is built."""

from __future__ import annotations

from ..errors import ConfigError, InvalidWeightsError, UnsupportedOpError
from ..ir.model import GRU, LSTM, Activation, Linear, direction_layers
from ..lowering.common import weight_levels
from .registry import CompileState, register_pass


@register_pass("check_model", description="reject unsupported layers, weights and config/model mismatches")
def check_model(state: CompileState) -> None:
    model = state.model.validate()
    names = {lay.name for lay in model.layers}
    unknown = sorted(n for n, _ in state.config.layers if n not in names)
    if unknown:
        raise ConfigError(f"config overrides unknown layer(s) {', '.join(map(repr, unknown))}; "
                          f"model layers: {', '.join(sorted(names))}")
    if not any(isinstance(lay, (LSTM, GRU)) for lay in model.layers):
        raise UnsupportedOpError("model", None, "the SC compiler needs at least one LSTM or GRU layer")
    for lay in model.layers:
        if isinstance(lay, (LSTM, GRU)):
            for d in direction_layers(lay):      # a bidirectional layer: both directions' weights
                weight_levels(d.w_ih, "w_ih", d.name)
                weight_levels(d.w_hh, "w_hh", d.name)
        elif isinstance(lay, Linear):
            if lay.weight is None:
                raise InvalidWeightsError(f"layer {lay.name!r}: weight is missing")
            # binary/ternary: XNOR + popcount or a counted stream head; otherwise a fixed-point head
        elif isinstance(lay, Activation) and lay.function == "softmax" and lay is not model.layers[-1]:
            raise UnsupportedOpError("softmax", lay.name, "softmax is only supported as the last layer")
