"""Intermediate representations: the model-level IR (layers with quantized tensors)."""

from .model import (
    ACTIVATIONS,
    FLOAT,
    GRU,
    GRU_GATE_ORDER,
    LAYER_TYPES,
    LSTM,
    LSTM_GATE_ORDER,
    Activation,
    BatchNorm,
    BatchNormParams,
    Embedding,
    InputSpec,
    LastStep,
    Layer,
    Linear,
    Model,
    QuantSpec,
    Tensor,
)

__all__ = [
    "ACTIVATIONS", "FLOAT", "GRU", "GRU_GATE_ORDER", "LAYER_TYPES", "LSTM", "LSTM_GATE_ORDER",
    "Activation", "BatchNorm", "BatchNormParams", "Embedding", "InputSpec", "LastStep", "Layer", "Linear",
    "Model", "QuantSpec", "Tensor",
]
