"""Helpers shared by the example scripts: building and training the float/binary/ternary variants
of one task with :mod:`sccompiler.train`, loading the committed models, the two metrics (bits per
character, accuracy) and the optional SC-simulation hook.

The examples are scripts, not an installed package: each script puts ``examples/`` on
``sys.path`` and imports this module.  Every variant is exported in the native format with its
task metadata (vocabulary, split, training record) in ``Model.metadata["example"]``, so that an
evaluation needs nothing but the committed model directory and the installed data package.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from sccompiler.errors import SCCError, SCValueError
from sccompiler.frontends import load_model, save_model
from sccompiler.ir.model import Model
from sccompiler.reference import forward

#: the variants the results table compares, in column order (``binary-h``: binary weights and
#: binary hidden states sign(h), the XNOR-LSTM of Ardakani et al., NeurIPS 2019)
VARIANTS = ("float", "binary", "ternary", "binary-h")
#: the same variants with the recurrent cell replaced by a GRU (``gru-ternary``, ...): trained with
#: ``train.py --variants gru-float gru-ternary``, evaluated when committed
GRU_VARIANTS = tuple(f"gru-{v}" for v in VARIANTS)
#: variants trained only where a task asks for them (not columns of the results table):
#: ``ternary-h`` = ternary weights and GXNOR ternary hidden states h in {-1, 0, +1}
#: (``TernaryActivation(TERNARY_H_THRESHOLD)``; zero states skip their XNORs in hardware)
EXTRA_VARIANTS = ("ternary-h",)
ALL_VARIANTS = VARIANTS + GRU_VARIANTS + EXTRA_VARIANTS
#: the ternary-h threshold r: |h| < r becomes 0 (h = o tanh(c) lies in (-1, 1))
TERNARY_H_THRESHOLD = 0.3


def variant_parts(variant: str, cell: str) -> tuple[str, str]:
    """(cell, weight variant) of a variant name: ``gru-ternary`` -> ("gru", "ternary"); a plain
    name keeps the task's own cell."""
    if variant not in ALL_VARIANTS:
        raise SCValueError("variant", f"must be one of {', '.join(ALL_VARIANTS)}, got {variant!r}")
    return ("gru", variant[4:]) if variant.startswith("gru-") else (cell, variant)
#: stream lengths the SC columns are simulated at
SC_LENGTHS = (16, 32, 64, 128, 256, 512, 1024)


def set_threads(n: int = 1) -> None:
    """Keep torch (and BLAS through the environment) on ``n`` threads: the examples must run on
    small shared CI machines."""
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------- training
@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The architecture of one example: cell and sizes.

    The committed models use no batch norm but one learned scalar gain per quantized matrix (the
    levels stay {-a, 0, +a}): the compiler lowers recurrent batch norm too, but per-step statistics
    cost one WFSM table per step and gate row, i.e. compile time and ROM."""

    cell: str
    input_size: int
    hidden_size: int
    output_size: int
    num_layers: int = 1


def _gain(module, name: str):
    import torch  # noqa: PLC0415

    return torch.exp(getattr(module, name))


def _add_gains(model) -> None:
    """Give every quantized weight matrix a learned scalar gain ``g = exp(log_gain)`` (init 1):
    the matrix is ``g * Q(W)``, still ``{-a, 0, +a}`` (``a = g W0``), so the hardware stays an
    XNOR network and the compiler folds ``a`` like any other level.  Why: without batch norm (which
    the SC compiler cannot lower per step) the ICLR scale ``W0 = ½·sqrt(6/(fan_in+fan_out))``
    bounds the pre-activations far below what saturating gates need; the paper's batch-norm γ
    plays this role, a per-matrix gain is the part of it a single-level XNOR datapath keeps."""
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    from sccompiler.train.layers import recurrent_layers  # noqa: PLC0415

    for layer in recurrent_layers(model):
        layer.log_gain_ih = nn.Parameter(torch.zeros(()))
        layer.log_gain_hh = nn.Parameter(torch.zeros(()))
        layer.__class__ = _gained_class(type(layer))
    model.log_gain_head = nn.Parameter(torch.zeros(()))
    model.__class__ = _gained_class(type(model))


_GAINED: dict[type, type] = {}


def _gained_class(base: type) -> type:
    """A subclass of a recurrent layer / sequence model whose quantized weights carry the gains."""
    if base in _GAINED or getattr(base, "_gained", False):
        return _GAINED.get(base, base)
    from sccompiler.train import QuantSequenceModel  # noqa: PLC0415

    if issubclass(base, QuantSequenceModel):
        def head_weight(self):
            return base.head_weight(self) * _gain(self, "log_gain_head")
        cls = type(f"Gained{base.__name__}", (base,), {"head_weight": head_weight, "_gained": True})
    else:
        def quantized_weights(self):
            wx, wh = base.quantized_weights(self)
            return wx * _gain(self, "log_gain_ih"), wh * _gain(self, "log_gain_hh")
        cls = type(f"Gained{base.__name__}", (base,), {"quantized_weights": quantized_weights, "_gained": True})
    _GAINED[base] = cls
    return cls


def _scaled(tensor, gain: float):
    """An IR weight tensor times a positive scalar gain (levels and scale follow)."""
    from sccompiler.ir.model import Tensor  # noqa: PLC0415

    q = tensor.quant
    spec = dataclasses.replace(q, levels=None if q.levels is None else tuple(v * gain for v in q.levels),
                               scale=None if q.scale is None else q.scale * gain)
    return Tensor(tensor.data * gain, spec)


def export_ir(model, name: str) -> Model:
    """:func:`sccompiler.train.to_ir` with the learned gains folded into the weight tensors."""
    from sccompiler.ir.model import GRU, LSTM, Linear  # noqa: PLC0415
    from sccompiler.train import to_ir  # noqa: PLC0415
    from sccompiler.train.layers import recurrent_layers  # noqa: PLC0415

    ir = to_ir(model, name=name)
    if not getattr(model, "_gained", False):
        return ir
    gains = iter(recurrent_layers(model))
    layers = []
    for lay in ir.layers:
        if isinstance(lay, (LSTM, GRU)):
            src = next(gains)
            lay = dataclasses.replace(lay, w_ih=_scaled(lay.w_ih, float(_gain(src, "log_gain_ih").detach())),
                                      w_hh=_scaled(lay.w_hh, float(_gain(src, "log_gain_hh").detach())))
        elif isinstance(lay, Linear) and lay.name == "head":
            lay = dataclasses.replace(lay, weight=_scaled(lay.weight, float(_gain(model, "log_gain_head").detach())))
        layers.append(lay)
    return ir.with_layers(layers).validate()


def build_model(spec: ModelSpec, variant: str, seed: int, batch_norm: bool = False):
    """A fresh :class:`~sccompiler.train.QuantSequenceModel` for ``variant`` (float / binary /
    ternary recurrent weights; the head is quantized with the same scheme so that the whole
    network is an XNOR network; quantized matrices carry a learned scalar gain, :func:`_add_gains`)."""
    from sccompiler.train import (  # noqa: PLC0415
        BatchNormConfig,
        BinaryActivation,
        QuantConfig,
        QuantSequenceModel,
        TernaryActivation,
    )

    cell, variant = variant_parts(variant, spec.cell)
    hidden_quant = {"binary-h": BinaryActivation, "ternary-h": lambda: TernaryActivation(TERNARY_H_THRESHOLD)}
    quant = QuantConfig(scheme={"binary-h": "binary", "ternary-h": "ternary"}.get(variant, variant))
    model = QuantSequenceModel(cell, spec.input_size, spec.hidden_size, spec.output_size,
                               num_layers=spec.num_layers, quant=quant,
                               head_quant=None if variant == "float" else quant,
                               hidden_quant=hidden_quant[variant]() if variant in hidden_quant else None,
                               batch_norm=BatchNormConfig() if batch_norm else None, seed=seed)
    if variant != "float":
        _add_gains(model)
    return model


def _fit_gain(param, quant, scale: float | None, bound: float | None):
    """The scalar gain ``g`` minimising ``||g·Q(W/g) - W||²`` (a log grid over 1/16..64) for the
    real matrix ``W`` copied into ``param``; ``param`` becomes ``W/g`` clamped to its clip range.
    Returns ``log g``."""
    import torch  # noqa: PLC0415

    from sccompiler.train.quantizers import quantize_values  # noqa: PLC0415

    w = param.detach().to(torch.float64)
    best = (float("inf"), 0.0)
    for log_g in np.linspace(math.log(1 / 16), math.log(64), 241):
        g = math.exp(log_g)
        err = float(((g * quantize_values(w / g, quant, scale) - w) ** 2).sum())
        best = min(best, (err, float(log_g)))
    g = math.exp(best[1])
    scaled = w / g
    if bound is not None:
        scaled = scaled.clamp(-bound, bound)
    param.copy_(scaled.to(param.dtype))
    return best[1]


def init_variant(model, source: Model) -> None:
    """Initialise a fresh variant from a trained model (:func:`sccompiler.train.init_from_model`,
    ``train.py --init``): the real weights are copied; in a quantized variant with gains each
    matrix's gain is fitted so that ``g·Q(W/g)`` is the least-squares quantization of the source's
    ``W`` (:func:`_fit_gain`), so fine-tuning starts from the float model's quantized network."""
    import torch  # noqa: PLC0415

    from sccompiler.train import init_from_model  # noqa: PLC0415
    from sccompiler.train.layers import recurrent_layers  # noqa: PLC0415
    from sccompiler.train.quantizers import weight_bound  # noqa: PLC0415

    init_from_model(model, source)
    if not getattr(model, "_gained", False):
        return
    with torch.no_grad():
        for layer in recurrent_layers(model):
            bounds = layer.clip_bounds()
            layer.log_gain_ih.fill_(_fit_gain(layer.weight_ih, layer.quant, layer.scale_ih, bounds["w_ih"]))
            layer.log_gain_hh.fill_(_fit_gain(layer.weight_hh, layer.quant, layer.scale_hh, bounds["w_hh"]))
        if model.head_quant is not None:
            model.log_gain_head.fill_(_fit_gain(model.head.weight, model.head_quant, model.head_scale,
                                                weight_bound(model.head_quant, model.head_scale)))


def train_variant(spec: ModelSpec, variant: str, inputs, targets, *, epochs: int, batch_size: int,
                  lr: float, seed: int, out_dir: Path | None, metadata: dict, force: bool,
                  log: Callable[[str], None] | None = print, batch_norm: bool = False,
                  lr_schedule: str = "constant", init: Path | None = None,
                  grad_clip: float | None = None) -> tuple[Model, dict]:
    """Train one variant with :func:`sccompiler.train.fit`, export it (when ``out_dir`` is given)
    to ``out_dir/<variant>`` with ``metadata`` plus the training record; return the IR model and
    the record."""
    from sccompiler.train import TrainConfig, fit  # noqa: PLC0415

    model = build_model(spec, variant, seed, batch_norm)
    if init is not None:
        init_variant(model, load_model(init))
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                         clip_steps="quantized", log_every=1, lr_schedule=lr_schedule,
                         grad_clip=grad_clip)
    prefix = f"[{variant}] "
    result = fit(model, inputs, targets, config, log=(lambda s: log(prefix + s)) if log else None)
    record = {"variant": variant, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
              "train_sequences": int(inputs.shape[0]), "train_steps": int(inputs.shape[1]),
              "final_loss": result.losses[-1], "seconds": round(result.seconds, 1), "batch_norm": batch_norm,
              "lr_schedule": lr_schedule, "grad_clip": grad_clip,
              "init": None if init is None else Path(init).name,
              "architecture": {**dataclasses.asdict(spec), "cell": variant_parts(variant, spec.cell)[0]}}
    ir = export_ir(model, f"{metadata.get('task', 'example')}-{variant}")
    meta = dict(ir.metadata)
    meta["example"] = {**metadata, "training_record": record}
    ir = dataclasses.replace(ir, metadata=meta).validate()
    if out_dir is not None:
        save_model(ir, Path(out_dir) / variant, force=force)
    return ir, record


def load_variant(model_dir: Path, variant: str) -> Model:
    """The committed model ``model_dir/<variant>`` (native format, validated)."""
    return load_model(Path(model_dir) / variant)


def example_metadata(model: Model) -> dict:
    """The task metadata a training script stored with the model."""
    meta = model.metadata.get("example")
    if not isinstance(meta, dict):
        raise SCValueError("model", f"{model.name!r} carries no example metadata (not written by an example train.py)")
    return meta


# ------------------------------------------------------------------------------- metrics
def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def bits_per_character(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy in bits of ``targets`` (batch, time) under ``logits`` (batch, time, V)."""
    lp = log_softmax(np.asarray(logits, dtype=np.float64))
    picked = np.take_along_axis(lp, np.asarray(targets)[..., None], axis=-1)[..., 0]
    return float(-picked.mean() / math.log(2.0))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of sequences whose last-step argmax equals the label."""
    return float(np.mean(np.argmax(np.asarray(logits)[:, -1, :], axis=-1) == np.asarray(labels)))


def reference_logits(model: Model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """:func:`sccompiler.reference.forward` on ``x`` in chunks of ``batch`` sequences."""
    return np.concatenate([forward(model, x[s:s + batch]) for s in range(0, x.shape[0], batch)], axis=0)


# ------------------------------------------------------------------------------- SC hook
#: TaskData.metric_name -> the CompiledDesign.evaluate metric
SC_METRICS = {"bpc": "bpc", "accuracy": "accuracy", "step accuracy": "step_accuracy"}


def sc_simulator(workers: int = 1, base: dict | None = None) -> tuple[Callable | None, str]:
    """``(simulate, note)``: ``simulate(model, x, targets, metric, lengths, calibration) ->
    {L: (result, logits)}`` (``result``: :meth:`CompiledDesign.evaluate`'s metric with its
    confidence interval) when the compiler's Python API is importable, else ``None`` and the
    reason (printed by the scripts)."""
    try:
        from sccompiler.config import config_from_dict  # noqa: PLC0415
        from sccompiler.design import compile_model  # noqa: PLC0415
    except ImportError as exc:
        return None, f"SC simulation: pending compiler ({exc})"

    def simulate(model: Model, x: np.ndarray, targets: np.ndarray, metric: str, lengths: Sequence[int],
                 calibration: np.ndarray) -> dict:
        # one design per L (sc_config)
        out = {}
        for length in lengths:
            config = config_from_dict(sc_config(length, base))
            design = compile_model(model, config, calibration=calibration)
            res = design.evaluate(x, targets, metric, workers=workers, progress=True, outputs=True)[0]
            out[int(length)] = (res, np.asarray(res.pop("outputs")))
        return out

    return simulate, (f"SC simulation: sccompiler.design.compile_model + CompiledDesign.evaluate "
                      f"(packed runtime, {workers} worker(s))")


# ------------------------------------------------------------------------------- CLI output
def dump_json(path: Path | None, payload: dict) -> None:
    if path is None:
        return
    from sccompiler.io import atomic_file  # noqa: PLC0415

    with atomic_file(path, force=True) as fh:
        fh.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


class DatasetMissingError(SCCError):
    """The installed package or Debian package an example reads its data from is missing."""

    def __init__(self, what: str, install: str) -> None:
        super().__init__(f"{what} is not installed; install it with: {install} "
                         "(the examples never download data at run time)")


def init_source(init: Path | None, variant: str) -> Path | None:
    """The model ``train.py --init FROM_DIR`` initialises ``variant`` from: ``FROM_DIR`` itself
    when it holds a model, else ``FROM_DIR/float`` (``FROM_DIR/gru-float`` for a GRU variant),
    ``None`` for that float variant itself (trained from scratch) and without ``--init``."""
    if init is None:
        return None
    init = Path(init)
    if (init / "model.json").is_file():
        return init
    base = "gru-float" if variant.startswith("gru-") else "float"
    if variant == base:
        return None
    if not (init / base / "model.json").is_file():
        raise SCValueError("--init", f"{init} holds neither a model nor a {base}/ model to initialise {variant} from")
    return init / base


def _has_base(init_dir: Path | None, variant: str) -> bool:
    """Whether the implicit ``--init`` (the output directory) holds ``variant``'s float model."""
    base = "gru-float" if variant.startswith("gru-") else "float"
    return init_dir is not None and (Path(init_dir) / base / "model.json").is_file()


def training_main(task: str, here: Path, doc: str, full: dict, quick: dict,
                  prepare: Callable[[dict, argparse.Namespace], tuple], argv: list[str] | None = None,
                  extra_args: Callable[[argparse.ArgumentParser], None] | None = None, *,
                  batch_norm: bool = False) -> int:
    """The command line every example ``train.py`` shares.

    ``full`` / ``quick``: hyper-parameter presets (``epochs``, ``batch_size``, ``lr`` plus the
    task's own keys, each overridable as ``--key``).  ``prepare(hp, args)`` returns
    ``(inputs, targets, ModelSpec, metadata)`` as torch tensors.  Full mode writes
    ``here/model/<variant>``; ``--quick`` trains a few batches into a temporary directory.
    Optional preset keys: ``lr_schedule`` (``TrainConfig.lr_schedule``) and ``finetune_epochs``
    (> 0: every variant but the float ones is fine-tuned for that many epochs from its cell's
    float model in the output directory, trained first in the same run, unless ``--init`` names
    another source or ``--from-scratch`` is given).
    ``batch_norm``: the default of ``--batch-norm/--no-batch-norm``; preset key ``grad_clip``
    (0 = off): :attr:`~sccompiler.train.TrainConfig.grad_clip`."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few batches, small model, temporary output")
    ap.add_argument("--variants", nargs="+", choices=ALL_VARIANTS, default=list(VARIANTS))
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: model/ next to the script)")
    ap.add_argument("--force", action="store_true", help="overwrite existing models")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=batch_norm,
                    help="recurrent batch norm with per-step statistics (ICLR 2019); --no-batch-norm: "
                         "per-matrix gains only")
    ap.add_argument("--init", type=Path, default=None, metavar="FROM_DIR",
                    help="initialise from a trained model: a model directory, or a directory of variants "
                         "(each variant starts from its cell's float model there, float itself from scratch); "
                         "default with a finetune_epochs preset: the output directory")
    ap.add_argument("--from-scratch", action="store_true",
                    help="train every variant from its random initialisation (no --init)")
    for key, value in full.items():
        ap.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=None, help=f"full-mode default {value}")
    if extra_args is not None:
        extra_args(ap)
    args = ap.parse_args(argv)
    set_threads(args.threads)
    preset = quick if args.quick else full
    hp = {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in preset.items()}
    inputs, targets, spec, meta = prepare(hp, args)
    meta = {"task": task, **meta, "mode": "quick" if args.quick else "full"}
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out if args.out is not None else (Path(tmp) if args.quick else here / "model")
        print(f"{task}: {tuple(inputs.shape)} inputs, {spec.cell.upper()} {spec.num_layers}x{spec.hidden_size}, "
              f"{hp['epochs']} epoch(s) -> {out}")
        init_dir = args.init if args.init is not None else out if hp.get("finetune_epochs") else None
        for variant in args.variants:
            try:
                init = None if args.from_scratch or (args.init is None and not _has_base(init_dir, variant)) \
                    else init_source(init_dir, variant)
                epochs = hp["epochs"] if init is None else hp.get("finetune_epochs") or hp["epochs"]
                if init is not None:
                    print(f"[{variant}] initialised from {init}, {epochs} epoch(s)")
                _, record = train_variant(spec, variant, inputs, targets, epochs=epochs,
                                          batch_size=hp["batch_size"], lr=hp["lr"], seed=args.seed, out_dir=out,
                                          metadata=meta, force=args.force, batch_norm=args.batch_norm,
                                          lr_schedule=hp.get("lr_schedule", "constant"), init=init,
                                          grad_clip=hp.get("grad_clip") or None)
            except SCCError as exc:          # a bad --init source, an existing output without --force
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"[{variant}] trained in {record['seconds']} s, final train loss {record['final_loss']:.4f}")
    return 0


# ------------------------------------------------------------------------------- evaluation
@dataclasses.dataclass(frozen=True)
class TaskData:
    """What one example's evaluation needs: test inputs and targets (numpy, the model's input
    format), calibration inputs for the SC compiler (training sequences), the metric, and the
    trivial baseline a trained model must beat."""

    x: np.ndarray
    targets: np.ndarray
    calibration: np.ndarray
    metric: Callable[[np.ndarray, np.ndarray], float]
    metric_name: str
    lower_is_better: bool
    baseline: float
    baseline_name: str
    description: str


def sc_config(length: int, base: dict | None = None) -> dict:
    """The compile options of the examples' SC designs at stream length ``length``: the SNG
    comparator width and the gate FSM sizes follow L (``auto`` gives wide layers the states they
    need, docs/compiler.md §3 "WFSM size"); the optional accuracy-vs-L report pass is skipped (it
    simulates the calibration set at L/4..2L, which the evaluation measures).

    ``base``: a complete compile config (:func:`load_sc_config`, ``--sc-config FILE``) used instead
    of those options, with ``length`` set to ``length`` and ``accuracy_report`` disabled."""
    if base is None:
        return {"length": int(length), "disable": ["accuracy_report"], "defaults": {"gate_fsm_states": "auto"}}
    disable = list(base.get("disable") or [])
    return {**base, "length": int(length),
            "disable": disable + [p for p in ("accuracy_report",) if p not in disable]}


def load_sc_config(path: Path) -> dict:
    """The compile config of ``--sc-config FILE`` (a ``scc compile --config`` YAML/JSON file, read
    and validated by :func:`sccompiler.config.load_config`) as a complete plain mapping; a bad
    file raises :class:`~sccompiler.errors.ConfigError` naming the file and the key."""
    from sccompiler.config import load_config  # noqa: PLC0415

    return load_config(path).to_dict()


def _cost_row(design, steps: int) -> dict:
    """Hardware cost of one compiled SC design (:func:`sccompiler.cost.netlist_cost.cost_report` on
    the netlist the SC columns simulate, one evaluation sequence of ``steps`` steps), with the
    ratios against the equal-latency 8-bit fixed-point and ternary-weight designs."""
    from sccompiler.cost.netlist_cost import cost_report  # noqa: PLC0415

    rep = cost_report(design.netlist, design.model, design.config, steps=steps)
    sc = rep["designs"][rep["sc"]]["cost"]
    p_eq = rep["equal_latency_parallelism"]
    equal = {name.split("-P")[0]: rep["ratios"][name] for name, d in rep["designs"].items()
             if name != rep["sc"] and d["params"].get("parallelism") == p_eq}
    return {"area_um2": sc["area"], "energy_per_sequence_j": sc["energy_per_inference_j"],
            "latency_s": sc["latency_s"], "flip_flops": sc["flip_flops"],
            "sources": int(design.netlist.sources["count"]),
            "cycles_per_step": int(rep["timing"]["step_period"]),
            "energy_ratio_equal_latency": {k: v["energy_per_inference_j"] for k, v in equal.items()},
            "area_ratio_equal_latency": {k: v["area"] for k, v in equal.items()},
            "equal_latency_parallelism": p_eq, "target": rep["target"], "source": "compiled netlist"}


def committed_variants(model_dir: Path) -> list[str]:
    """Every variant committed under ``model_dir`` (a directory holding a model), the known names
    in :data:`ALL_VARIANTS` order first, then any other (a later ``ternary-h``) by name."""
    found = sorted(p.name for p in Path(model_dir).iterdir() if p.is_dir() and any(p.iterdir()))
    return [v for v in ALL_VARIANTS if v in found] + [v for v in found if v not in ALL_VARIANTS]


def sc_compilable(variant: str) -> bool:
    """Whether a variant has binary/ternary weights (float weights: the compiler refuses them)."""
    return "float" not in variant


def fixed_point_metric(model: Model, data: TaskData, bits: int = 8) -> float | None:
    """The task metric of the k-bit fixed-point design's integer model
    (:class:`sccompiler.quantize.fixed_point.FixedPointModel`, the datapath `scc baseline` emits)
    on the whole evaluation set; ``None`` when it refuses the model or when a layer has binary
    hidden states (``hidden_activation="sign"``, binary-h): the integer model computes tanh-valued
    k-bit h for every layer, i.e. another network than that one."""
    from sccompiler.quantize.fixed_point import FixedPointModel  # noqa: PLC0415

    if any(getattr(lay, "hidden_activation", "identity") != "identity" for lay in model.layers):
        return None
    try:
        fp = FixedPointModel.from_model(model, bits)
        logits = np.concatenate([fp.forward_float(data.x[s:s + 256]) for s in range(0, data.x.shape[0], 256)])
    except SCCError:
        return None
    return data.metric(logits, data.targets)


def _simulate_variant(model: Model, data: TaskData, n: int, lengths: Sequence[int], workers: int,
                      log: Callable[[str], None] | None, name: str, base: dict | None = None) -> dict:
    """SC columns and compiled cost of one variant: one design per L, evaluated on the first
    ``n`` test sequences, its netlist costed."""
    from sccompiler.config import config_from_dict  # noqa: PLC0415
    from sccompiler.design import compile_model  # noqa: PLC0415

    x, t = data.x[:n], data.targets[:n]
    quantized = reference_logits(model, x)
    sc: dict = {"status": "SC simulation: sccompiler.design.compile_model + CompiledDesign.evaluate "
                          f"(packed runtime, {workers} worker(s))", "variant": name, "samples": n,
                "lengths": {}, "ci": {}, "seconds": {}, "logit_mean_abs_error": {},
                "quantized_same_samples": data.metric(quantized, t),
                "config": "examples default (sc_config)" if base is None else base}
    cost = {}
    for length in lengths:
        cfg = sc_config(length, base)
        cfg["disable"] = sorted(set(cfg["disable"]) | {"accuracy_report", "correlation_report", "cost"})
        try:
            design = compile_model(model, config_from_dict(cfg), calibration=data.calibration)
        except SCCError as exc:
            sc["status"] = f"SC simulation: compiler refused the model: {exc}"
            if log:
                log(f"[{name}] {sc['status']}")
            break
        if length == lengths[0]:
            sc["options"] = sorted({f"{k}={v}" for p in design.netlist.layers for k, v in
                                    _plan_options(p).items()})
        res = design.evaluate(x, t, SC_METRICS[data.metric_name], workers=workers, progress=False,
                              outputs=True)[0]
        logits = np.asarray(res.pop("outputs"))
        sc["lengths"][length] = res["value"]
        sc["ci"][length] = {"low": res["ci"][0], "high": res["ci"][1], "confidence": res["confidence"],
                            "interval": res["interval"]}
        sc["seconds"][length] = round(res["seconds"], 2)
        sc["logit_mean_abs_error"][length] = float(np.mean(np.abs(logits - quantized)))
        cost[int(length)] = _cost_row(design, int(data.x.shape[1]))
        if log:
            log(f"[{name}] SC L={length:5d} {data.metric_name} {res['value']:.4f} "
                f"[{res['ci'][0]:.4f}, {res['ci'][1]:.4f}] ({res['confidence']:.0%} CI, {n} sequences, "
                f"{res['seconds']:.1f} s; quantized on the same {n}: {sc['quantized_same_samples']:.4f}); "
                f"mean |logit - quantized logit| {sc['logit_mean_abs_error'][length]:.4f}")
    return {"sc": sc, "cost": cost}


def _plan_options(plan) -> dict:
    """The gate-input and hidden-state choices a compiled layer plan carries (for the report)."""
    opts = getattr(plan, "options", None)
    return {k: getattr(opts, k) for k in ("gate_input", "hidden")
            if opts is not None and getattr(opts, k, None) is not None}


def evaluate_task(model_dir: Path, data: TaskData, *, variants: Sequence[str] | None = None,
                  sc_lengths: Sequence[int] = SC_LENGTHS, sc_samples: int = 8,
                  sc_variants: Sequence[str] | None = None, sc_variant: str = "ternary",
                  log: Callable[[str], None] | None = print, workers: int = 1,
                  sc_base: dict | None = None) -> dict:
    """Evaluate the committed variants (default: every one, :func:`committed_variants`) on
    ``data`` with the reference forward pass and the 8-bit fixed-point integer model; for each of
    ``sc_variants`` (default: ``[sc_variant]``) the SC columns (compiled and simulated at each L
    on the first ``sc_samples`` test sequences) and the compiled design's cost at each L.
    ``result["sc"]`` / ``result["cost"]`` are ``sc_variant``'s (or the first one's),
    ``result["sc_all"]`` / ``result["cost_all"]`` every simulated variant's. ``sc_base``: a
    ``--sc-config`` file's compile config the SC designs are compiled from (:func:`sc_config`)."""
    clock = timer()
    variants = list(variants) if variants is not None else committed_variants(model_dir)
    result: dict = {"metric": data.metric_name, "lower_is_better": data.lower_is_better,
                    "baseline": {"name": data.baseline_name, "value": data.baseline},
                    "test_sequences": int(data.x.shape[0]), "steps": int(data.x.shape[1]),
                    "description": data.description, "variants": {}}
    models = {}
    for variant in variants:
        model = load_variant(model_dir, variant)
        models[variant] = model
        value = data.metric(reference_logits(model, data.x), data.targets)
        meta = example_metadata(model)
        rec = meta.get("training_record", {})
        result["variants"][variant] = {"value": value, "parameters": model.param_count(),
                                       "train_seconds": rec.get("seconds"), "epochs": rec.get("epochs"),
                                       "architecture": rec.get("architecture"),
                                       "fixed8": fixed_point_metric(model, data) if sc_compilable(variant) else None,
                                       "metadata_metrics": meta.get("metrics") or rec.get("metrics")}
        if log:
            log(f"{variant:12s} {data.metric_name} {value:.4f}  ({model.param_count()} parameters)")
    simulate, note = sc_simulator(workers, sc_base)
    sc_list = list(sc_variants) if sc_variants is not None else [sc_variant]
    result["sc_all"], result["cost_all"] = {}, {}
    if log:
        log(note)
    if simulate is not None and sc_lengths:
        n = min(sc_samples, data.x.shape[0])
        for variant in sc_list:
            if variant in models and sc_compilable(variant):
                out = _simulate_variant(models[variant], data, n, list(sc_lengths), workers, log, variant,
                                        sc_base)
                result["sc_all"][variant], result["cost_all"][variant] = out["sc"], out["cost"]
    primary = sc_variant if sc_variant in result["sc_all"] else next(iter(result["sc_all"]), None)
    result["sc"] = result["sc_all"].get(primary, {"status": note, "variant": sc_variant, "samples": 0,
                                                  "lengths": {}, "ci": {}, "seconds": {}})
    result["cost"] = result["cost_all"].get(primary, {})
    result["seconds"] = round(clock(), 2)
    return result


def evaluation_main(task: str, doc: str, model_dir: Path, load_data: Callable[[bool, argparse.Namespace], TaskData],
                    argv: list[str] | None = None,
                    extra_args: Callable[[argparse.ArgumentParser], None] | None = None,
                    full_sc_samples: int = 16, reduced_sc_samples: int = 2) -> dict:
    """The command line every example ``evaluate.py`` shares: ``--reduced`` (few sequences, the CI
    mode), ``--model-dir``, ``--sc-samples`` (default ``reduced_sc_samples`` reduced,
    ``full_sc_samples`` full: the bit-level simulation costs ~L cycles per step; every SC line
    prints its sequence count and confidence interval), ``--lengths``, ``--workers``, ``--json PATH``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--reduced", action="store_true", help="few test sequences (CI mode)")
    ap.add_argument("--model-dir", type=Path, default=model_dir)
    ap.add_argument("--variants", nargs="+", default=None, help="default: every committed variant")
    ap.add_argument("--lengths", nargs="*", type=int, default=None,
                    help="SC stream lengths (none: skip the SC simulation; default: the --sc-config file's "
                         f"length, else {' '.join(map(str, SC_LENGTHS))})")
    ap.add_argument("--sc-config", type=Path, default=None, metavar="FILE",
                    help="compile the SC design with this `scc compile --config` file (e.g. sc_best.yaml "
                         "next to the script) instead of the examples' default options")
    ap.add_argument("--sc-samples", type=int, default=None, help="test sequences simulated in SC")
    ap.add_argument("--sc-variant", default="ternary", help="the variant compiled and simulated")
    ap.add_argument("--sc-variants", nargs="*", default=None,
                    help="simulate each of these (all: every committed binary/ternary variant)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="threads of the SC simulation (packed runtime)")
    if extra_args is not None:
        extra_args(ap)
    args = ap.parse_args(argv)
    set_threads(args.threads)
    sc_base = None
    if args.sc_config is not None:
        try:
            sc_base = load_sc_config(args.sc_config)
        except SCCError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    lengths = args.lengths if args.lengths is not None else \
        list(SC_LENGTHS) if sc_base is None else [int(sc_base["length"])]
    data = load_data(args.reduced, args)
    sc_samples = (args.sc_samples if args.sc_samples is not None
                  else reduced_sc_samples if args.reduced else full_sc_samples)
    print(f"{task}: {data.description}; trivial baseline ({data.baseline_name}) {data.baseline:.4f}")
    committed = committed_variants(args.model_dir)
    variants = args.variants if args.variants is not None else committed
    sc_variants = args.sc_variants
    if sc_variants is not None and sc_variants in ([], ["all"]):
        sc_variants = [v for v in committed if sc_compilable(v)]
    for v in [args.sc_variant, *(sc_variants or [])]:
        if v not in committed:
            raise SystemExit(f"error: no committed variant {v!r} in {args.model_dir} ({', '.join(committed)})")
    result = evaluate_task(args.model_dir, data, variants=variants, sc_lengths=lengths,
                           sc_samples=sc_samples, workers=args.workers, sc_variant=args.sc_variant,
                           sc_variants=sc_variants, sc_base=sc_base)
    result["task"] = task
    result["mode"] = "reduced" if args.reduced else "full"
    dump_json(args.json, result)
    return result
