"""Real torch exports through both exporters -- legacy (``dynamo=False``, opset 17) and the default
dynamo exporter (opsets 18 and 23) -- imported and checked against torch's own output, and the
exports that must be refused (proj_size, runtime initial states, ...) refused with a
message naming the cause.  The full grid is ``slow``; a representative subset runs by default."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from sccompiler.errors import UnsupportedOpError
from sccompiler.frontends import load_model
from sccompiler.testing import require_onnxscript

#: the reference forward must reproduce torch's output to this (float64 vs float32)
TOL = 1e-5
T, B, F, H, VOCAB = 7, 2, 3, 5, 9
#: name -> (dynamo, opset, optimize); "raw": dynamo without its graph optimizer (weights assembled by
#: Slice/Mul/Concat, zero states by Expand -- folded exactly by frontends/onnx_constants.py)
EXPORTERS = {"legacy17": (False, 17, True), "dynamo18": (True, 18, True), "dynamo23": (True, 23, True),
             "dynamo18-raw": (True, 18, False)}


def ref_forward(model, x):
    from sccompiler.reference import forward  # noqa: PLC0415

    x = np.asarray(x)
    return forward(model, x if x.dtype.kind in "iu" else x.astype(np.float64))


def _model(torch, kind: str, num_layers: int, batch_first: bool, embedding: bool, head: bool = True,
           state: str = "none", seed: int = 0):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(VOCAB, F) if embedding else None
            self.rnn = getattr(torch.nn, kind)(F, H, num_layers=num_layers, batch_first=batch_first)
            self.fc = torch.nn.Linear(H, 4) if head else None

        def forward(self, x):
            if self.emb is not None:
                x = self.emb(x)
            if state == "zeros":
                h = torch.zeros(num_layers, x.shape[0 if batch_first else 1], H)
                y = self.rnn(x, (h, torch.zeros_like(h)) if kind == "LSTM" else h)[0]
            elif state == "ones":
                h = torch.ones(num_layers, x.shape[0 if batch_first else 1], H)
                y = self.rnn(x, (h, h) if kind == "LSTM" else h)[0]
            else:
                y = self.rnn(x)[0]
            return self.fc(y) if self.fc is not None else y

    torch.manual_seed(seed)
    return Net().eval()


def _inputs(torch, embedding: bool, batch_first: bool, steps: int = T):
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, VOCAB, (B, steps), generator=gen) if embedding else torch.randn(B, steps, F, generator=gen)
    return x if batch_first else x.transpose(0, 1).contiguous()


def _export(torch, module, args, path, exporter: str, dynamic: bool = False, names=("x",)):
    if EXPORTERS[exporter][0]:
        require_onnxscript()
    dynamo, opset, optimize = EXPORTERS[exporter]
    kw: dict = {"opset_version": opset, "input_names": list(names), "output_names": ["y"]}
    if dynamo:
        kw["optimize"] = optimize
    if dynamic and dynamo:
        kw["dynamic_shapes"] = ({0: torch.export.Dim("d0"), 1: torch.export.Dim("d1")},)
    elif dynamic:
        kw["dynamic_axes"] = {"x": {0: "d0", 1: "d1"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=dynamo, **kw)
    return path


def _batch_major(out: np.ndarray, batch_first: bool) -> np.ndarray:
    return out if batch_first else out.transpose(1, 0, 2)


def check_export(torch, tmp_path, exporter, kind, num_layers, batch_first, embedding, dynamic=False,
                 state="none"):
    """Export, import, compare with torch (max error <= TOL); with dynamic axes also at another length."""
    module = _model(torch, kind, num_layers, batch_first, embedding, state=state, seed=num_layers)
    x = _inputs(torch, embedding, batch_first)
    path = _export(torch, module, (x,), tmp_path / "m.onnx", exporter, dynamic)
    model = load_model(path)
    assert [lay.kind for lay in model.layers] == (["embedding"] if embedding else []) + \
        [kind.lower()] * num_layers + ["linear"]
    assert model.metadata["onnx"]["input_layout"] == ("BT" if embedding else "BTF") if batch_first else \
        ("TB" if embedding else "TBF")
    with torch.no_grad():
        for steps in ((T, T + 3) if dynamic else (T,)):
            xs = _inputs(torch, embedding, batch_first, steps)
            expected = _batch_major(module(xs).numpy(), batch_first)
            got = ref_forward(model, xs.numpy() if batch_first else xs.transpose(0, 1).numpy())
            assert np.max(np.abs(got - expected)) <= TOL
    return model


CASES = list(itertools.product(EXPORTERS, ("LSTM", "GRU"), (1, 2, 3), (True, False), (False, True)))
#: the default subset: every exporter, both kinds, 1-3 layers, both layouts, both front ends
DEFAULT = [("legacy17", "LSTM", 2, False, False), ("legacy17", "GRU", 1, True, True),
           ("dynamo18", "LSTM", 1, True, False), ("dynamo18", "GRU", 2, False, False),
           ("dynamo18", "LSTM", 3, True, True), ("dynamo23", "GRU", 3, True, False),
           ("dynamo23", "LSTM", 2, False, True), ("dynamo18-raw", "GRU", 2, True, True),
           ("dynamo18-raw", "LSTM", 1, False, False)]


@pytest.mark.parametrize("exporter, kind, num_layers, batch_first, embedding", DEFAULT)
def test_export_imports_and_matches_torch(torch, tmp_path, exporter, kind, num_layers, batch_first, embedding):
    check_export(torch, tmp_path, exporter, kind, num_layers, batch_first, embedding)


@pytest.mark.slow
@pytest.mark.parametrize("exporter, kind, num_layers, batch_first, embedding",
                         [c for c in CASES if c not in DEFAULT])
def test_export_grid_imports_and_matches_torch(torch, tmp_path, exporter, kind, num_layers, batch_first,
                                               embedding):
    check_export(torch, tmp_path, exporter, kind, num_layers, batch_first, embedding)


def test_dynamo_writes_external_data_and_it_is_read(torch, tmp_path):
    """The dynamo exporter stores the weights in ``m.onnx.data``; the checked reader loads them."""
    check_export(torch, tmp_path, "dynamo18", "LSTM", 1, True, False)
    assert (tmp_path / "m.onnx.data").is_file()
    (tmp_path / "m.onnx.data").unlink()
    with pytest.raises(Exception, match="m.onnx.data: cannot read"):
        load_model(tmp_path / "m.onnx")


@pytest.mark.parametrize("exporter, dynamic", [
    ("legacy17", False), ("dynamo18", False), ("dynamo18-raw", False), ("dynamo18-raw", True),
    pytest.param("legacy17", True, marks=pytest.mark.slow), pytest.param("dynamo18", True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_zero_initial_state_inside_forward_is_accepted(torch, tmp_path, exporter, dynamic, kind):
    """torch.zeros / zeros_like states; with dynamic axes the raw dynamo graph slices the weights at
    offsets read from the zero state's Shape, proven constant although its batch size is dynamic."""
    check_export(torch, tmp_path, exporter, kind, 2, True, False, dynamic=dynamic, state="zeros")


@pytest.mark.parametrize("exporter, kind", [
    ("dynamo18", "LSTM"), pytest.param("dynamo18", "GRU", marks=pytest.mark.slow),
    pytest.param("legacy17", "LSTM", marks=pytest.mark.slow), pytest.param("legacy17", "GRU", marks=pytest.mark.slow)])
def test_dynamic_axes_import_or_refuse_exactly(torch, tmp_path, exporter, kind):
    """With dynamic batch/time axes the import must match torch at *another* length too -- or be
    refused, and then only where onnxruntime shows the exported graph itself is bound to one length."""
    import onnxruntime as ort  # noqa: PLC0415

    outcomes = []
    for num_layers, batch_first, embedding in ((1, True, False), (3, False, False), (1, False, True)):
        path = tmp_path / f"m{num_layers}{batch_first}{embedding}"
        path.mkdir()
        try:
            check_export(torch, path, exporter, kind, num_layers, batch_first, embedding, dynamic=True)
            outcomes.append("imported")
        except UnsupportedOpError as exc:
            outcomes.append("refused")
            assert "only fits one length" in str(exc)
            sess = ort.InferenceSession(str(path / "m.onnx"), providers=["CPUExecutionProvider"])
            longer = _inputs(torch, embedding, batch_first, T + 3).numpy()
            with pytest.raises(Exception, match="Reshape"):
                sess.run(None, {"x": longer})
    assert outcomes[:2] == ["imported", "imported"]  # feature inputs: the dynamic reshape is exact


# ------------------------------------------------------------------------ refusals of real exports


def _refused(torch, tmp_path, module, args, exporter, match, names=("x",)):
    path = _export(torch, module, args, tmp_path / "r.onnx", exporter, names=names)
    with pytest.raises(UnsupportedOpError, match=match):
        load_model(path)


# bidirectional exports (imported, and the refusals around them): tests/test_frontends_bidirectional.py


def test_dynamo_proj_size_lstm_is_refused_not_read_as_plain_lstm(torch, tmp_path):
    """dynamo writes an LSTM with proj_size as a plain LSTM of hidden_size=proj_size and loses the
    projection weights; the inconsistent initial_c shape exposes it."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(F, H, batch_first=True, proj_size=2)

        def forward(self, x):
            return self.rnn(x)[0]

    _refused(torch, tmp_path, Net().eval(), (_inputs(torch, False, True),), "dynamo18", "initial_c.*proj_size")


@pytest.mark.parametrize("exporter", ["legacy17", "dynamo18"])
def test_initial_state_input_is_refused_naming_the_input(torch, tmp_path, exporter):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(F, H, batch_first=True)

        def forward(self, x, h0):
            return self.rnn(x, h0)[0]

    args = (_inputs(torch, False, True), torch.zeros(1, B, H))
    _refused(torch, tmp_path, Net().eval(), args, exporter,
             "initial_h comes from 'h0'; .*cannot be shown to be zero", names=("x", "h0"))


@pytest.mark.parametrize("exporter", ["legacy17", "dynamo18"])
def test_nonzero_constant_initial_state_is_refused(torch, tmp_path, exporter):
    module = _model(torch, "LSTM", 1, True, False, state="ones")
    _refused(torch, tmp_path, module, (_inputs(torch, False, True),), exporter, "initial_h is not all zero")


def test_plain_rnn_is_refused(torch, tmp_path):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(F, H, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0]

    _refused(torch, tmp_path, Net().eval(), (_inputs(torch, False, True),), "legacy17", "'RNN'")


def _both_exporters(torch, tmp_path, module, x):
    """The same module through both exporters: the same IR, bit for bit."""
    models = []
    for exporter in ("legacy17", "dynamo18"):
        (tmp_path / exporter).mkdir()
        models.append(load_model(_export(torch, module, (x,), tmp_path / exporter / "m.onnx", exporter)))
    legacy, dynamo = models
    assert [lay.kind for lay in legacy.layers] == [lay.kind for lay in dynamo.layers]
    for a, b in zip(legacy.layers, dynamo.layers):
        for (fa, ta), (fb, tb) in zip(a.tensors(), b.tensors()):
            assert fa == fb
            np.testing.assert_array_equal(ta.data, tb.data)
    return dynamo


def test_dynamo_and_legacy_imports_are_identical(torch, tmp_path):
    module = _model(torch, "LSTM", 2, False, False, seed=6)
    _both_exporters(torch, tmp_path, module, _inputs(torch, False, False))


@pytest.mark.slow
def test_dynamo_import_compiles_and_simulates(torch, tmp_path):
    """Quantized, a dynamo import compiles; the packed runtime equals the reference runtime exactly."""
    from sccompiler import compile_model, quantize_model  # noqa: PLC0415

    module = _model(torch, "GRU", 2, True, True, seed=5)
    x = _inputs(torch, True, True)
    q = quantize_model(_both_exporters(torch, tmp_path, module, x), "ternary")
    design = compile_model(q, {"length": 64, "disable": ["correlation_report", "cost", "accuracy_report"]},
                           calibration=x.numpy())
    ids = x.numpy()[:1]
    packed = design.simulate(ids)
    assert packed.shape == (1, T, 4) and np.all(np.isfinite(packed))
    np.testing.assert_array_equal(packed, design.simulate(ids, engine="reference"))


@pytest.mark.parametrize("kind, head, batch_first", [
    ("LSTM", "last", True), ("GRU", "h_n", False),
    *[pytest.param(k, h, bf, marks=pytest.mark.slow) for k in ("LSTM", "GRU") for h in ("last", "h_n")
      for bf in (True, False) if (k, h, bf) not in (("LSTM", "last", True), ("GRU", "h_n", False))]])
def test_dynamo_sequence_heads_import_and_match(torch, tmp_path, kind, head, batch_first):
    """``fc(y[:, -1])`` and ``fc(h_n[-1])`` through the dynamo exporter (its direction-axis
    reshapes in front of the last-step selection)."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(F, H, num_layers=2, batch_first=batch_first)
            self.fc = torch.nn.Linear(H, 4)

        def forward(self, x):
            y, h = self.rnn(x)
            h = h[0] if kind == "LSTM" else h
            last = (y[:, -1] if batch_first else y[-1]) if head == "last" else h[-1]
            return self.fc(last)

    torch.manual_seed(2)
    module = Net().eval()
    x = _inputs(torch, False, batch_first)
    model = load_model(_export(torch, module, (x,), tmp_path / "m.onnx", "dynamo18"))
    assert [lay.kind for lay in model.layers][-1] == "linear"
    with torch.no_grad():
        expected = module(x).numpy()
    got = ref_forward(model, x.numpy() if batch_first else x.transpose(0, 1).numpy())
    assert got.shape == (B, 1, 4)
    assert np.max(np.abs(got[:, 0] - expected)) <= TOL
