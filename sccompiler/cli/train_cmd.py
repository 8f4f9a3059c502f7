"""``scc train``: quantization-aware training of a small LSTM/GRU (mirrors
:func:`sccompiler.train.fit` + :func:`~sccompiler.train.export_native` /
:func:`~sccompiler.train.export_onnx`).  Needs the torch extra."""

from __future__ import annotations

import click

from ..errors import ConfigError, ModelFormatError
from .common import echo_json

TRAIN_SCHEMES = ("float", "binary", "ternary", "ott-ternary", "pow2-ternary", "exp")


#: the most trainable parameters ``scc train`` builds (checked before anything is allocated)
MAX_TRAIN_PARAMETERS = 50_000_000


def _load_data(path: str):
    """'inputs' and 'targets' of an .npz (no pickles, headers checked; only these members read)."""
    import numpy as np  # noqa: PLC0415

    from ..io import SafeNpz  # noqa: PLC0415

    with SafeNpz(path, "--data", ModelFormatError) as data:
        if "inputs" not in data or "targets" not in data:
            raise ModelFormatError(f"--data {path}: needs arrays 'inputs' and 'targets' (got {sorted(data.files)})")
        x, y = data["inputs"], data["targets"]
    for name, a, dims in (("inputs", x, (2, 3)), ("targets", y, (1, 2, 3))):
        if a.dtype.kind not in "fiu":   # complex, bool, strings: refused, never cast
            raise ModelFormatError(f"--data {path}: '{name}' has dtype {a.dtype}, expected floats or integer ids")
        if a.ndim not in dims or a.size == 0:
            raise ModelFormatError(f"--data {path}: '{name}' has shape {a.shape}, expected (batch, time[, features])")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ModelFormatError(f"--data {path}: '{name}' has NaN/inf values")
        if a.dtype.kind in "iu" and (a.ndim not in ((2,) if name == "inputs" else (1, 2)) or a.min() < 0):
            raise ModelFormatError(f"--data {path}: integer '{name}' must be (batch, time) ids >= 0"
                                   + ("" if name == "inputs" else " or (batch,) class ids per sequence"))
    if y.dtype.kind in "iu" and y.ndim == 1:
        pass                                             # one class id per sequence
    elif y.dtype.kind == "f" and y.ndim == 2 and (x.ndim == 2 or y.shape[1] != x.shape[1]):
        pass                                             # one (out,) vector per sequence
    elif x.shape[:2] != y.shape[:2]:
        raise ModelFormatError(f"--data {path}: inputs {x.shape} and targets {y.shape} differ in (batch, time); "
                               "per-sequence targets are (batch,) class ids or (batch, out) floats")
    if y.shape[0] != x.shape[0]:
        raise ModelFormatError(f"--data {path}: {x.shape[0]} input sequences but {y.shape[0]} targets")
    return x, y


def targets_at(x, y) -> str:
    """``last_step`` when ``y`` holds one target per sequence, else ``every_step``."""
    if y.ndim == 1 or (y.dtype.kind == "f" and y.ndim == 2 and (x.ndim == 2 or y.shape[1] != x.shape[1])):
        return "last_step"
    return "every_step"


def validation_metric(model, x, y, where: str) -> dict:
    """The trained (eval-mode, quantized) model's task metric on held-out sequences, with its
    confidence interval (:mod:`sccompiler.metrics`)."""
    import torch  # noqa: PLC0415

    from ..metrics import evaluate_metric  # noqa: PLC0415

    model.eval()
    with torch.no_grad():
        out = model(x).double().numpy()
    yn = y.numpy()
    if where == "last_step":
        metric = "accuracy" if yn.dtype.kind in "iu" else "mse"
        if metric == "mse":
            out = out[:, -1:]
            yn = yn[:, None, :]
    elif yn.dtype.kind in "iu":
        metric = "bpc" if x.dtype == torch.long else "step_accuracy"
    else:
        metric = "mse"
    return evaluate_metric(metric, out, yn).to_json()


def check_train_size(cell: str, in_size: int, hidden: int, layers: int, out_size: int, vocab: int | None,
                     embedding_dim: int) -> None:
    """LimitError when the model would exceed :data:`MAX_TRAIN_PARAMETERS`."""
    from ..errors import LimitError  # noqa: PLC0415

    gates = 4 if cell == "lstm" else 3
    n = gates * hidden * (in_size + hidden + 2) + (layers - 1) * gates * hidden * (2 * hidden + 2)
    n += hidden * out_size + (vocab or 0) * embedding_dim
    if n > MAX_TRAIN_PARAMETERS:
        raise LimitError("model size", n, MAX_TRAIN_PARAMETERS, "parameters")


@click.command("train")
@click.option("--task", type=click.Choice(["sine", "parity", "delay"]), default=None,
              help="synthetic task (instead of --data)")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help=".npz with 'inputs' (batch, time, features) floats or (batch, time) token ids, and "
                   "'targets' (batch, time, out) floats (regression) or (batch, time) class ids per step, or one "
                   "target per sequence -- (batch,) class ids or (batch, out) floats -- trained on the last step")
@click.option("--samples", type=click.IntRange(min=1), default=256, show_default=True,
              help="synthetic task: number of sequences")
@click.option("--steps", type=click.IntRange(min=2), default=16, show_default=True,
              help="synthetic task: sequence length")
@click.option("--cell", type=click.Choice(["lstm", "gru"]), default="lstm", show_default=True)
@click.option("--hidden", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--embedding-dim", type=click.IntRange(min=1), default=8, show_default=True,
              help="embedding size for token inputs")
@click.option("--scheme", type=click.Choice(TRAIN_SCHEMES), default="binary", show_default=True)
@click.option("--stochastic", is_flag=True, help="stochastic weight quantization during training")
@click.option("--hidden-quant", type=click.Choice(["none", "binary", "ternary"]), default="none", show_default=True,
              help="quantize the hidden state h_t: binary = sign(h) with a clipped straight-through gradient "
                   "(the XNOR-LSTM; compiles with table gates and hidden sign), ternary = GXNOR "
                   "sign(h)*[|h| >= threshold] (compiles with table gates and hidden ternary: zero states skip "
                   "their XNORs)")
@click.option("--hidden-clip", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="binary h: the straight-through gradient passes where |h| <= clip")
@click.option("--hidden-threshold", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True,
              help="ternary h: states with |h| below this become 0")
@click.option("--quantize-head/--float-head", default=True, show_default=True,
              help="quantize the output layer with the same scheme (a float head is refused by scc compile)")
@click.option("--val-fraction", type=click.FloatRange(0, 0.5), default=0.1, show_default=True,
              help="--data: fraction of the sequences held out to report the trained model's metric")
@click.option("--ste", type=click.Choice(["clipped", "identity"]), default="clipped", show_default=True)
@click.option("--batch-norm/--no-batch-norm", default=True, show_default=True,
              help="recurrent batch norm with per-step statistics (gamma init 0.1)")
@click.option("--prune", type=click.Choice(["none", "h", "c", "hc"]), default="none", show_default=True,
              help="learned state pruning of h and/or c (the IR cannot hold it: ONNX export only)")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--lr-schedule", "lr_schedule", type=click.Choice(["constant", "cosine"]), default="constant",
              show_default=True, help="cosine: the learning rate is annealed from --lr to 0 over the run")
@click.option("--grad-clip", type=click.FloatRange(min=0, min_open=True), default=None,
              help="clip the gradient's global L2 norm to this value before each step (default: off)")
@click.option("--init", "init_dir", type=click.Path(exists=True, file_okay=False), default=None, metavar="FROM_DIR",
              help="start from this trained native model's weights (same cell and sizes; e.g. fine-tune a "
                   "quantized variant from a float model)")
@click.option("--hardware-aware", "hardware_aware", type=click.Path(exists=True, file_okay=False), default=None,
              metavar="DESIGN_DIR", help="after training, fine-tune with sigma/tanh replaced by the WFSM transfer "
                                         "curves of this compiled design (scc compile -o DIR; same layer names)")
@click.option("--noise-aware", "noise_aware", is_flag=True,
              help="after training, fine-tune with the stream noise of the model's own compiled design at its "
                   "stream length injected (compiled once at the start; with --hardware-aware, on top of the curves)")
@click.option("--length", "noise_length", type=click.IntRange(min=1), default=None, metavar="L",
              help="--noise-aware: the stream length of that compile (default: the --config file's, else 256)")
@click.option("--config", "noise_config", type=click.Path(dir_okay=False), default=None,
              help="--noise-aware: the scc compile config (YAML/JSON) of that compile")
@click.option("--noise-scale", "noise_scale", type=click.FloatRange(min=0), default=None,
              help="--noise-aware: multiply the injected noise's standard deviation by this (default 1)")
@click.option("--hardware-epochs", type=click.IntRange(min=1), default=3, show_default=True,
              help="fine-tuning epochs with --hardware-aware / --noise-aware")
@click.option("-o", "--output", type=click.Path(), default=None, help="native model directory")
@click.option("--onnx", "onnx_path", type=click.Path(), default=None, help="also export ONNX here")
@click.option("--force", is_flag=True, help="overwrite outputs that exist")
@click.option("--quiet", is_flag=True, help="no per-epoch log")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def train_cmd(task, data, samples, steps, cell, hidden, layers, embedding_dim, scheme, stochastic, hidden_quant,
              hidden_clip, hidden_threshold, quantize_head, val_fraction, ste, batch_norm, prune, epochs,
              batch_size, lr, seed, lr_schedule, grad_clip, init_dir, hardware_aware, noise_aware, noise_length,
              noise_config,
              noise_scale,
              hardware_epochs,
              output, onnx_path,
              force, quiet, as_json) -> None:
    """Train a quantized LSTM/GRU and export it (native with -o, ONNX with --onnx)."""
    from ..io import check_writable  # noqa: PLC0415

    if (task is None) == (data is None):
        raise ConfigError("give exactly one of --task and --data")
    if output is None and onnx_path is None:
        raise ConfigError("give -o/--output and/or --onnx")
    if prune != "none" and output is not None:
        raise ConfigError("--prune cannot be saved in the native format (the IR has no state threshold); "
                          "use --onnx only")
    if not noise_aware and (noise_length is not None or noise_config is not None or noise_scale is not None):
        raise ConfigError("--length, --config and --noise-scale set up --noise-aware; add --noise-aware")
    if noise_aware and (hidden_quant == "ternary" or prune != "none"):
        raise ConfigError("--noise-aware compiles the trained model: it needs --hidden-quant none|binary and "
                          "--prune none")
    noise_cfg = None
    if noise_aware:
        from .common import effective_config  # noqa: PLC0415

        noise_cfg = effective_config(noise_config, (), length=noise_length)   # a bad config fails first
    for path in (output, onnx_path):
        if path is not None:
            check_writable(path, force)

    if task is None:
        xa, ya = _load_data(data)
        vocab_n = int(xa.max()) + 1 if xa.dtype.kind in "iu" else None
        out_n = int(ya.shape[-1]) if ya.dtype.kind == "f" else int(ya.max()) + 1
        in_n = embedding_dim if vocab_n is not None else int(xa.shape[-1])
    else:
        vocab_n, out_n, in_n = None, 1, 1
    check_train_size(cell, in_n, hidden, layers, out_n, vocab_n, embedding_dim)
    import torch  # noqa: PLC0415

    from .. import train as tr  # noqa: PLC0415  (raises MissingDependencyError without torch)

    torch.set_num_threads(1)
    vocab = None
    if task is not None:
        x, y = tr.synthetic_task(task, samples, steps, seed=seed)
    else:
        if xa.dtype.kind in "iu":
            x = torch.tensor(xa, dtype=torch.long)
            vocab = int(xa.max()) + 1
        else:
            x = torch.tensor(xa, dtype=torch.float32)
        y = torch.tensor(ya, dtype=torch.long if ya.dtype.kind in "iu" else torch.float32)
    if task is not None:
        check_train_size(cell, int(x.shape[-1]) if x.is_floating_point() else embedding_dim, hidden, layers,
                         int(y.shape[-1]) if y.is_floating_point() else int(y.max()) + 1, None, embedding_dim)
    where = targets_at(x.numpy(), y.numpy())
    if y.is_floating_point():
        out_size = int(y.shape[-1])
    else:
        out_size = int(y.max()) + 1
    in_size = embedding_dim if vocab is not None else int(x.shape[-1])
    quant = tr.QuantConfig(scheme, stochastic=stochastic, ste=ste)
    pruning = None if prune == "none" else tr.layers.PruningConfig(targets=tuple(prune))
    hq = {"none": None, "binary": lambda: tr.BinaryActivation(hidden_clip),
          "ternary": lambda: tr.TernaryActivation(hidden_threshold)}[hidden_quant]
    model = tr.QuantSequenceModel(cell, in_size, hidden, out_size, num_layers=layers, vocab_size=vocab,
                                  quant=quant, batch_norm=tr.BatchNormConfig() if batch_norm else None,
                                  hidden_quant=hq() if hq else None, pruning=pruning, seed=seed,
                                  head_quant=quant if quantize_head and quant.quantized else None)
    log = None if (quiet or as_json) else click.echo
    if init_dir is not None:
        from ..frontends import load_model  # noqa: PLC0415

        copied = tr.init_from_model(model, load_model(init_dir))
        if log is not None:
            log(f"initialised {len(copied)} tensors from {init_dir}")
    x_val = y_val = None
    if task is None and val_fraction > 0:
        n_val = int(round(val_fraction * x.shape[0]))
        if n_val >= 1 and x.shape[0] - n_val >= 1:
            order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
            x_val, y_val = x[order[:n_val]], y[order[:n_val]]
            x, y = x[order[n_val:]], y[order[n_val:]]
    result = tr.fit(model, x, y, tr.TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                                targets_at=where, lr_schedule=lr_schedule,
                                                grad_clip=grad_clip), log=log)
    validation = None if x_val is None else validation_metric(model, x_val, y_val, where)
    if validation is not None and log is not None:
        lo, hi = validation["ci"]
        log(f"validation ({validation['sequences']} held-out sequences): {validation['metric']} "
            f"{validation['value']:.4f} (95% CI {lo:.4f} .. {hi:.4f})")
    hardware = noise = None
    tune_cfg = tr.TrainConfig(batch_size=batch_size, lr=lr, seed=seed, targets_at=where)
    curves = None
    if hardware_aware is not None:
        # curves first: a bad design directory fails before any fine-tuning
        curves = tr.load_design_curves(hardware_aware)
    if noise_aware:
        noise_model, design = tr.model_noise(model, noise_cfg, calibration=x[:32].numpy())
        if curves is not None:
            tr.install_curves(model, curves)
        tuned = tr.finetune_noise_aware(model, x, y, noise_model, epochs=hardware_epochs, config=tune_cfg, log=log,
                                        scale=1.0 if noise_scale is None else noise_scale)
        noise = {"lengths": {k: v.length for k, v in noise_model.items()},
                 "scale": 1.0 if noise_scale is None else noise_scale,
                 "layers": [v.describe() for v in noise_model.values()], **tuned.to_json()}
        if curves is not None:
            hardware = {"design": str(hardware_aware), "with_noise": True}
    elif curves is not None:
        tuned = tr.finetune_hardware_aware(model, x, y, curves, epochs=hardware_epochs, config=tune_cfg, log=log)
        hardware = {"design": str(hardware_aware), **tuned.to_json()}
    written = {}
    if output is not None:
        written["native"] = str(tr.export_native(model, output, force=force))
    if onnx_path is not None:
        written["onnx"] = str(tr.export_onnx(model, onnx_path, steps=int(x.shape[1]), force=force))
    if as_json:
        echo_json({**result.to_json(), "outputs": written, "cell": cell, "scheme": scheme, "validation": validation,
                   "hidden_quant": hidden_quant, "targets_at": where, "head_quantized": model.head_quant is not None,
                   "stochastic": stochastic, "seed": seed, "hardware_aware": hardware,
                   "lr_schedule": lr_schedule, "grad_clip": grad_clip, "init": init_dir,
                   "noise_aware": noise})
        return
    for kind, path in written.items():
        click.echo(f"wrote {kind} model {path}")
