"""Quantization-aware training of LSTM/GRU networks (optional extra: ``pip install 'sccompiler[torch]'``).

Implements the training recipes the compiler's input models come from (docs/background.md §4):

* Ardakani et al., ICLR 2019 — binary/ternary weights (deterministic or stochastic) with the
  ``W0 = ½·sqrt(6/(fan_in+fan_out))`` scale, straight-through gradients to the real weights,
  Adam steps clipped to ±W0 (:class:`PaperAdam`), recurrent batch norm with per-time-step
  statistics and γ initialized to 0.1;
* Ott et al. 2016 — ternary with ``W0 = sqrt(6/(fan_in+fan_out))``, pow2-ternary, exponential;
* Ardakani et al., NeurIPS 2019 (XNOR-LSTM) — binary hidden states ``sign(h)`` with a clipped
  straight-through gradient (:class:`BinaryActivation`), exported as ``hidden_activation: sign``;
* Deng et al. (GXNOR) — ternary activations with a windowed gradient;
* Ardakani et al., DATE 2019 — learned thresholding of the hidden/cell state (state pruning);
* hardware-aware fine-tuning with pluggable activation curves (:class:`TabulatedActivation`), built
  from a compiled design's WFSM tables by :func:`wfsm_curves` (:mod:`.hardware`);
* noise-aware fine-tuning: the design's stream noise at its L (:func:`design_noise`) injected into
  the forward pass (:func:`finetune_noise_aware`, :mod:`.noise`).

Trained modules map to the model IR (:func:`to_ir`) and are written with :func:`export_native`
and :func:`export_onnx`.  The numpy quantizers in :mod:`sccompiler.quantize.schemes` are the
definition of truth: the torch forward values equal them (tests check it).

``import sccompiler.train`` without torch raises :class:`~sccompiler.errors.MissingDependencyError`.
"""

from __future__ import annotations

from ..errors import MissingDependencyError

try:
    import torch  # noqa: F401
except ImportError:  # pragma: no cover - exercised in a subprocess test
    raise MissingDependencyError("torch", "torch", "training") from None

from .activations import (  # noqa: E402
    BinaryActivation,
    StatePruning,
    TabulatedActivation,
    TernaryActivation,
    binary_activation,
    ternary_activation,
)
from .export import export_native, export_onnx, to_ir  # noqa: E402
from .hardware import (  # noqa: E402
    WFSMCurve,
    design_curves,
    finetune_hardware_aware,
    gate_activations,
    install_curves,
    load_design_curves,
    nominal_activations,
    wfsm_curves,
    wfsm_transfer,
)
from .layers import (  # noqa: E402
    BatchNormConfig,
    GateActivations,
    PruningConfig,
    QuantGRU,
    QuantGRULayer,
    QuantLSTM,
    QuantLSTMLayer,
    QuantSequenceModel,
    RecurrentBatchNorm,
    recalibrate_batchnorm,
    state_sparsity,
)
from .noise import (  # noqa: E402
    LayerNoise,
    StreamNoise,
    design_noise,
    finetune_noise_aware,
    install_noise,
    model_noise,
    remove_noise,
    wfsm_average_variance,
)
from .optim import PaperAdam, clip_weights, make_optimizer  # noqa: E402
from .quantizers import (  # noqa: E402
    TRAIN_SCHEMES,
    QuantConfig,
    quantize_weight,
    weight_bound,
    weight_scale,
)
from .trainer import (  # noqa: E402
    LR_SCHEDULES,
    TrainConfig,
    Trainer,
    TrainResult,
    fit,
    init_from_model,
    synthetic_task,
)

__all__ = [
    "BatchNormConfig", "BinaryActivation", "binary_activation",
    "GateActivations", "PaperAdam", "PruningConfig", "QuantConfig", "QuantGRU", "QuantGRULayer",
    "QuantLSTM", "QuantLSTMLayer", "QuantSequenceModel", "RecurrentBatchNorm", "StatePruning",
    "TRAIN_SCHEMES", "TabulatedActivation", "TernaryActivation", "TrainConfig", "TrainResult",
    "Trainer", "clip_weights", "export_native", "export_onnx", "fit", "init_from_model", "LR_SCHEDULES",
    "make_optimizer",
    "quantize_weight", "recalibrate_batchnorm", "state_sparsity", "synthetic_task",
    "ternary_activation", "to_ir", "weight_bound", "weight_scale",
    # hardware-aware fine-tuning (sccompiler.train.hardware)
    "WFSMCurve", "design_curves", "finetune_hardware_aware", "gate_activations", "install_curves",
    "load_design_curves", "nominal_activations", "wfsm_curves", "wfsm_transfer",
    # noise-aware fine-tuning (sccompiler.train.noise)
    "LayerNoise", "StreamNoise", "design_noise", "finetune_noise_aware", "install_noise", "model_noise",
    "remove_noise",
    "wfsm_average_variance",
]
