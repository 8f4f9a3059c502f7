"""Random-source allocation: which comparators' streams meet (:mod:`.conflicts`), and the source
registers and bits each comparator reads, private or shared (:mod:`.allocate`)."""

from .allocation import MIN_SHARED_WIDTH, SOURCE_MODES, allocate, colour, register_width
from .conflicts import Comparator, LayerStreams, conflict_graph, layer_streams

__all__ = ["MIN_SHARED_WIDTH", "SOURCE_MODES", "Comparator", "LayerStreams", "allocate", "colour",
           "conflict_graph", "layer_streams", "register_width"]
