"""Bidirectional LSTM/GRU imports: real torch models exported by both exporters (legacy opset 17,
dynamo opsets 18 and 23), torch modules and state_dicts, for every head pattern -- a per-step
Linear on ``y``, ``fc(y[:, -1])``, ``fc(h_n[-1])`` (the backward final state), ``fc(h_n[-2])``,
``torch.cat((h_n[-2], h_n[-1]), 1)`` and ``h_n[-2:].transpose(0, 1).reshape(B, -1)`` -- one and two
layers, batch-first or not: imported, the float64 reference equal to torch's output (<= 1e-5),
quantized; and the patterns that would mix the directions, refused (never imported wrongly)."""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from sccompiler.errors import InvalidWeightsError, ModelFormatError, UnsupportedOpError
from sccompiler.frontends import load_model
from sccompiler.frontends.native import load_native, save_model
from sccompiler.frontends.torch_frontend import load_torch
from sccompiler.ir.model import LSTM, InputSpec, LastStep, Linear, Model, Tensor
from sccompiler.reference import forward
from sccompiler.testing import require_onnxscript

#: the reference forward must reproduce torch's output to this (float64 vs float32)
TOL = 1e-5
T, B, F, H, OUT = 6, 3, 4, 5, 2
#: name -> (dynamo, opset, optimize); "raw": dynamo without its graph optimizer (weights assembled in the graph)
EXPORTERS = {"legacy17": (False, 17, True), "dynamo18": (True, 18, True), "dynamo23": (True, 23, True),
             "dynamo18-raw": (True, 18, False)}
HEADS = ("seq", "last", "hn", "hn_fwd", "cat", "flat")
#: what the import makes of each head: the LastStep's select (None: no LastStep, a per-step head)
SELECT = {"seq": None, "last": "last", "hn": "backward", "hn_fwd": "forward", "cat": "final", "flat": "final"}


def bi_net(torch, kind: str, layers: int, batch_first: bool, head: str, hidden: int = H, inputs: int = F,
           seed: int = 0):
    class BiNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(inputs, hidden, num_layers=layers, batch_first=batch_first,
                                               bidirectional=True)
            self.fc = torch.nn.Linear(hidden if head in ("hn", "hn_fwd") else 2 * hidden, OUT)

        def forward(self, x):
            y, state = self.rnn(x)
            h_n = state[0] if kind == "LSTM" else state
            if head == "seq":
                return self.fc(y)
            if head == "last":
                return self.fc(y[:, -1] if batch_first else y[-1])
            if head == "hn":
                return self.fc(h_n[-1])
            if head == "hn_fwd":
                return self.fc(h_n[-2])
            if head == "cat":
                return self.fc(torch.cat((h_n[-2], h_n[-1]), 1))
            return self.fc(h_n[-2:].transpose(0, 1).reshape(x.shape[0 if batch_first else 1], -1))

    torch.manual_seed(seed)
    return BiNet().eval()


def features(torch, batch_first: bool, steps: int = T, batch: int = B, width: int = F, seed: int = 1):
    x = torch.randn(batch, steps, width, generator=torch.Generator().manual_seed(seed))
    return x if batch_first else x.transpose(0, 1).contiguous()


def export(torch, module, x, path, exporter: str, dynamic: bool = False):
    dynamo, opset, optimize = EXPORTERS[exporter]
    if dynamo:
        require_onnxscript()
    kw: dict = {"opset_version": opset, "input_names": ["x"], "output_names": ["y"]}
    if dynamo:
        kw["optimize"] = optimize
    if dynamic and dynamo:
        kw["dynamic_shapes"] = ({0: torch.export.Dim("d0"), 1: torch.export.Dim("d1")},)
    elif dynamic:
        kw["dynamic_axes"] = {"x": {0: "d0", 1: "d1"}}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=dynamo, **kw)
    return path


def batch_major(torch, module, x, batch_first: bool, head: str) -> tuple[np.ndarray, np.ndarray]:
    """(the input as the IR's (B, T, F) float64, torch's output as the IR's (B, T', OUT))."""
    with torch.no_grad():
        want = module(x).numpy().astype(np.float64)
    xi = x.numpy() if batch_first else x.numpy().transpose(1, 0, 2)
    if head == "seq":
        want = want if batch_first else want.transpose(1, 0, 2)
    else:
        want = want[:, None]                      # (B, OUT): the IR's one-step sequence
    return xi.astype(np.float64), want


def check_import(torch, model, module, x, batch_first: bool, head: str, layers: int, kind: str):
    assert [lay.kind for lay in model.layers] == [kind.lower()] * layers + \
        ([] if SELECT[head] is None else ["last_step"]) + ["linear"]
    assert all(lay.direction == "bidirectional" for lay in model.layers[:layers])
    if SELECT[head] is not None:
        assert model.layers[layers].select == SELECT[head]
    xi, want = batch_major(torch, module, x, batch_first, head)
    got = forward(model, xi)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= TOL


CASES = list(itertools.product(EXPORTERS, ("LSTM", "GRU"), (1, 2), (True, False), HEADS))
#: the default subset: every head and exporter, both kinds and layouts, one and two layers
DEFAULT = [("legacy17", "LSTM", 1, True, "seq"), ("legacy17", "GRU", 2, False, "last"),
           ("legacy17", "LSTM", 2, True, "hn"), ("legacy17", "GRU", 1, False, "hn_fwd"),
           ("legacy17", "LSTM", 1, False, "cat"), ("legacy17", "GRU", 2, True, "flat"),
           ("dynamo18", "GRU", 2, True, "seq"), ("dynamo18", "LSTM", 1, False, "last"),
           ("dynamo18", "GRU", 1, True, "hn"), ("dynamo18", "LSTM", 2, False, "cat"),
           ("dynamo23", "LSTM", 2, True, "flat"), ("dynamo23", "GRU", 1, False, "hn_fwd"),
           ("dynamo23", "LSTM", 1, True, "seq"), ("dynamo18-raw", "GRU", 2, False, "cat"),
           ("dynamo18-raw", "LSTM", 1, True, "hn")]


@pytest.mark.parametrize("exporter, kind, layers, batch_first, head", DEFAULT)
def test_bidirectional_export_imports_and_matches_torch(torch, tmp_path, exporter, kind, layers, batch_first, head):
    module = bi_net(torch, kind, layers, batch_first, head, seed=layers)
    x = features(torch, batch_first)
    model = load_model(export(torch, module, x, tmp_path / "m.onnx", exporter))
    check_import(torch, model, module, x, batch_first, head, layers, kind)


@pytest.mark.slow
@pytest.mark.parametrize("exporter, kind, layers, batch_first, head", [c for c in CASES if c not in DEFAULT])
def test_bidirectional_export_grid(torch, tmp_path, exporter, kind, layers, batch_first, head):
    module = bi_net(torch, kind, layers, batch_first, head, seed=layers)
    x = features(torch, batch_first)
    model = load_model(export(torch, module, x, tmp_path / "m.onnx", exporter))
    check_import(torch, model, module, x, batch_first, head, layers, kind)


@pytest.mark.parametrize("exporter, head", [("legacy17", "seq"), ("dynamo18", "seq"),
                                            pytest.param("legacy17", "cat", marks=pytest.mark.slow),
                                            pytest.param("dynamo18", "last", marks=pytest.mark.slow)])
def test_dynamic_axes_match_torch_at_another_length(torch, tmp_path, exporter, head):
    """With dynamic axes the reshape's target is computed from Shape (dynamo: ``s[2] * s[3]`` = 2 * H);
    the import must then be right at every length, checked at a second one."""
    module = bi_net(torch, "LSTM", 1, True, head)
    model = load_model(export(torch, module, features(torch, True), tmp_path / "m.onnx", exporter, dynamic=True))
    for steps, batch in ((T, B), (T + 3, B + 1)):
        check_import(torch, model, module, features(torch, True, steps, batch), True, head, 1, "LSTM")


@pytest.mark.parametrize("exporter", ["legacy17", "dynamo18"])
def test_both_exporters_give_the_same_ir(torch, tmp_path, exporter):
    module = bi_net(torch, "GRU", 2, False, "cat")
    x = features(torch, False)
    model = load_model(export(torch, module, x, tmp_path / "m.onnx", exporter))
    ref = load_model(module)        # the torch frontend (its own internal legacy export)
    for a, b in zip(model.layers, ref.layers):
        assert a.kind == b.kind and a.attrs() == b.attrs()
        for (fa, ta), (fb, tb) in zip(a.tensors(), b.tensors()):
            assert fa == fb and np.array_equal(ta.data, tb.data)


# ------------------------------------------------------------------ torch modules and state_dicts


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("head", HEADS)
def test_torch_module_imports_through_its_export(torch, kind, layers, batch_first, head):
    module = bi_net(torch, kind, layers, batch_first, head, seed=3)
    model = load_model(module)
    assert model.metadata["torch"]["max_error_vs_torch"] <= 1e-9
    check_import(torch, model, module, features(torch, batch_first, seed=5), batch_first, head, layers, kind)


def test_bare_bidirectional_module_is_its_output_sequence(torch):
    torch.manual_seed(4)
    rnn = torch.nn.GRU(F, H, batch_first=True, bidirectional=True)
    model = load_model(rnn)
    x = features(torch, True)
    with torch.no_grad():
        want = rnn(x)[0].double().numpy()
    assert model.layers[0].out_features == 2 * H
    assert np.max(np.abs(forward(model, x.double().numpy()) - want)) <= TOL


def test_bidirectional_then_forward_layer_modules(torch):
    """A bidirectional LSTM feeding a forward one (two modules): the second reads 2H features; its
    h_n[-1] is its own final state."""
    class Mixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bi = torch.nn.LSTM(F, H, batch_first=True, bidirectional=True)
            self.uni = torch.nn.GRU(2 * H, H, batch_first=True)
            self.fc = torch.nn.Linear(H, OUT)

        def forward(self, x):
            return self.fc(self.uni(self.bi(x)[0])[1][-1])

    torch.manual_seed(6)
    module = Mixed().eval()
    model = load_model(module)
    assert [lay.kind for lay in model.layers] == ["lstm", "gru", "last_step", "linear"]
    assert model.layers[2].select == "last" and model.layers[1].input_size == 2 * H
    xi, want = batch_major(torch, module, features(torch, True), True, "last")
    assert np.max(np.abs(forward(model, xi) - want)) <= TOL


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("layers", [1, 2])
def test_state_dict_with_reverse_keys(torch, kind, layers):
    torch.manual_seed(layers)
    rnn = getattr(torch.nn, kind)(F, H, num_layers=layers, batch_first=True, bidirectional=True)
    fc = torch.nn.Linear(2 * H, OUT)
    state = {**{f"rnn.{k}": v for k, v in rnn.state_dict().items()},
             **{f"fc.{k}": v for k, v in fc.state_dict().items()}}
    model = load_model(state)
    assert [lay.direction for lay in model.layers[:layers]] == ["bidirectional"] * layers
    assert [lay.input_size for lay in model.layers[:layers]] == [F] + [2 * H] * (layers - 1)
    x = features(torch, True)
    with torch.no_grad():
        want = fc(rnn(x)[0]).double().numpy()
    assert np.max(np.abs(forward(model, x.double().numpy()) - want)) <= TOL
    with pytest.raises(ModelFormatError, match=r"bias|weight_ih_l0_reverse is missing"):
        load_model({k: v for k, v in state.items() if k != "rnn.weight_ih_l0_reverse"})


def test_imported_model_quantizes_both_directions_and_compiles(torch, tmp_path):
    from sccompiler.design import compile_model  # noqa: PLC0415
    from sccompiler.quantize.schemes import quantize_model  # noqa: PLC0415

    module = bi_net(torch, "LSTM", 1, True, "cat")
    model = load_model(export(torch, module, features(torch, True), tmp_path / "m.onnx", "legacy17"))
    q = quantize_model(model, "binary")
    lstm = q.layers[0]
    for f in ("w_ih", "w_hh", "w_ih_reverse", "w_hh_reverse"):
        assert getattr(lstm, f).quant.scheme == "binary"
        assert len(np.unique(getattr(lstm, f).data)) <= 2
    assert not np.array_equal(lstm.w_hh.data, lstm.w_hh_reverse.data)
    out = forward(q, features(torch, True).double().numpy())
    assert out.shape == (B, 1, OUT) and np.all(np.isfinite(out))
    # its cat(h_n[-2], h_n[-1]) head compiles (select="final"; end to end in
    # tests/compiler/test_bidirectional_select.py)
    x = features(torch, True).double().numpy()
    design = compile_model(q, {"length": 32, "disable": ["correlation_report", "cost", "accuracy_report"]},
                           calibration=x)
    assert design.simulate(x).shape == out.shape


# ------------------------------------------------------------------ IR: LastStep.select


def _bi_lstm(seed: int = 0) -> LSTM:
    rng = np.random.default_rng(seed)
    t = {f: Tensor(rng.normal(size=(4 * H, F if f.startswith("w_ih") else H)))
         for f in ("w_ih", "w_hh", "w_ih_reverse", "w_hh_reverse")}
    return LSTM("bi", input_size=F, hidden_size=H, direction="bidirectional", **t)


def test_last_step_select_semantics_and_validation():
    x = np.random.default_rng(1).normal(size=(2, T, F))
    seq = forward(Model((_bi_lstm(),), InputSpec("features", F)), x)
    expect = {"last": seq[:, -1:], "final": np.concatenate([seq[:, -1:, :H], seq[:, :1, H:]], axis=-1),
              "forward": seq[:, -1:, :H], "backward": seq[:, :1, H:]}
    for select, want in expect.items():
        width = H if select in ("forward", "backward") else 2 * H
        model = Model((_bi_lstm(), LastStep("sel", select=select),
                       Linear("fc", in_size=width, out_size=OUT, weight=Tensor(np.eye(OUT, width)))),
                      InputSpec("features", F)).validate()
        assert np.array_equal(forward(model, x), want[..., :OUT])
    fwd = LSTM("uni", input_size=F, hidden_size=H, w_ih=Tensor(np.zeros((4 * H, F))), w_hh=Tensor(np.zeros((4 * H, H))))
    with pytest.raises(InvalidWeightsError, match="needs a bidirectional LSTM/GRU right before it"):
        Model((fwd, LastStep("sel", select="final")), InputSpec("features", F)).validate()
    with pytest.raises(InvalidWeightsError, match="select must be one of"):
        Model((_bi_lstm(), LastStep("sel", select="middle")), InputSpec("features", F)).validate()
    with pytest.raises(InvalidWeightsError, match="expects 10 input features but receives 5"):
        Model((_bi_lstm(), LastStep("sel", select="backward"),
               Linear("fc", in_size=2 * H, out_size=OUT, weight=Tensor(np.zeros((OUT, 2 * H))))),
              InputSpec("features", F)).validate()


def test_native_round_trip_keeps_select(tmp_path):
    model = Model((_bi_lstm(), LastStep("sel", select="backward")), InputSpec("features", F)).validate()
    save_model(model, tmp_path / "m")
    back = load_native(tmp_path / "m")
    assert back.layers[1].select == "backward"
    x = np.random.default_rng(2).normal(size=(2, T, F))
    assert np.array_equal(forward(back, x), forward(model, x))


# ------------------------------------------------------------------ refusals: real torch models


def _refuses(torch, tmp_path, module, x, exporter, match):
    path = export(torch, module, x, tmp_path / f"r_{exporter}.onnx", exporter)
    with pytest.raises(UnsupportedOpError, match=match):
        load_model(path)
    with pytest.raises(UnsupportedOpError):      # the module too: through the same ONNX frontend
        load_model(module)


def _head_module(torch, head):
    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(F, H, num_layers=2, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(2 * H if head != "lower" else H, OUT)

        def forward(self, x):
            h_n = self.rnn(x)[1][0]
            if head == "swapped":          # backward before forward: not the IR's order
                return self.fc(torch.cat((h_n[-1], h_n[-2]), 1))
            if head == "mixed":            # h_n.reshape(B, -1) without the transpose mixes batch and direction
                return self.fc(h_n[-2:].reshape(x.shape[0], -1))
            return self.fc(h_n[0])         # the lower layer's forward state

    torch.manual_seed(8)
    return Head().eval()


@pytest.mark.parametrize("exporter", ["legacy17", "dynamo18"])
@pytest.mark.parametrize("head, match", [
    ("swapped", r"selects rows \[3, 2\] of h_n's 4 rows"),
    ("mixed", "mix the two directions|cannot be shown to merge"),
    ("lower", r"selects rows \[0\] of h_n's 4 rows; only the last layer's final states"),
])
def test_h_n_patterns_the_ir_cannot_express_are_refused(torch, tmp_path, exporter, head, match):
    # B == 2 == num_directions: a reshape mixing batch and direction would even fit the shapes
    _refuses(torch, tmp_path, _head_module(torch, head), features(torch, True, batch=2), exporter, match)


def test_h_n_output_with_its_direction_axis_is_refused(torch, tmp_path):
    class Raw(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(F, H, batch_first=True, bidirectional=True)

        def forward(self, x):
            return self.rnn(x)[1]          # (2, B, H)

    torch.manual_seed(9)
    _refuses(torch, tmp_path, Raw().eval(), features(torch, True), "legacy17",
             "keeps a bidirectional layer's direction")


def test_bidirectional_proj_size_is_refused(torch, tmp_path):
    rnn = torch.nn.LSTM(F, H, batch_first=True, bidirectional=True, proj_size=2)
    with pytest.raises(UnsupportedOpError, match="proj_size"):
        load_model(rnn)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]

    path = export(torch, Net().eval(), features(torch, True), tmp_path / "p.onnx", "dynamo18")
    with pytest.raises(UnsupportedOpError, match="initial_c.*proj_size"):
        load_model(path)
    with pytest.raises(UnsupportedOpError, match="proj"):
        load_model(rnn.state_dict())


# ------------------------------------------------------------------ refusals: hand-built graphs

TS, BS = 5, 2          # static sizes; B == 2 == num_directions, so wrong reshapes fit the shapes


def _graph(nodes, out_shape, extra=None):
    rng = np.random.default_rng(0)
    inits = {"W": rng.normal(size=(2, 4 * H, F)), "R": rng.normal(size=(2, 4 * H, H)),
             "shape3": np.array([TS, BS, 2 * H], dtype=np.int64), "merge": np.array([0, 0, -1], dtype=np.int64),
             **(extra or {})}
    tensors = [numpy_helper.from_array(v.astype(np.float32) if v.dtype.kind == "f" else v, k) for k, v in inits.items()]
    lstm = helper.make_node("LSTM", ["x", "W", "R"], ["Y"], name="rnn", hidden_size=H, direction="bidirectional")
    graph = helper.make_graph([lstm, *nodes], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [TS, BS, F])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name=outs[0], **attrs)


def test_hand_built_exact_merge_imports_and_matches_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    model = _graph([_node("Transpose", ["Y"], ["t"], perm=[0, 2, 1, 3]), _node("Reshape", ["t", "merge"], ["y"])],
                   [TS, BS, 2 * H])
    imported = load_model(model)
    x = np.random.default_rng(3).normal(size=(TS, BS, F)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = forward(imported, x.transpose(1, 0, 2).astype(np.float64))
    assert np.max(np.abs(got - want.transpose(1, 0, 2))) <= TOL


@pytest.mark.parametrize("nodes, match", [
    # (T, 2, B, H) -> (T, B, 2H) without the transpose: mixes the batch with the direction
    ([_node("Reshape", ["Y", "shape3"], ["y"])], "mix the two directions"),
    # the features before the direction axis: interleaves forward and backward
    ([_node("Transpose", ["Y"], ["t"], perm=[0, 2, 3, 1]), _node("Reshape", ["t", "merge"], ["y"])],
     "mix the two directions"),
    # one direction of the sequence y (not of h_n)
    ([_node("Gather", ["Y", "zero"], ["g"], axis=1), _node("Transpose", ["g"], ["y"], perm=[0, 1, 2])],
     "only supported on its final states h_n"),
    # an activation before the directions are merged
    ([_node("Tanh", ["Y"], ["a"]), _node("Transpose", ["a"], ["t"], perm=[0, 2, 1, 3]),
      _node("Reshape", ["t", "merge"], ["y"])], "still has a bidirectional layer's direction axis"),
])
def test_hand_built_direction_mixing_is_refused(nodes, match):
    out = [TS, BS, 2 * H] if nodes[-1].op_type == "Reshape" else [TS, BS, H]
    with pytest.raises(UnsupportedOpError, match=match):
        load_model(_graph(nodes, out, {"zero": np.array(0, dtype=np.int64)}))


# ------------------------------------------------------------------ property test


@settings(max_examples=12, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["LSTM", "GRU"]), hidden=st.integers(1, 6), inputs=st.integers(1, 5),
       steps=st.integers(1, 6), batch=st.integers(1, 4), batch_first=st.booleans(), head=st.sampled_from(HEADS),
       layers=st.integers(1, 2))
def test_random_sizes_import_exactly(kind, hidden, inputs, steps, batch, batch_first, head, layers):
    from sccompiler.testing import require_torch  # noqa: PLC0415

    torch = require_torch()
    module = bi_net(torch, kind, layers, batch_first, head, hidden=hidden, inputs=inputs, seed=hidden * 7 + steps)
    x = features(torch, batch_first, steps, batch, inputs, seed=batch)
    model = load_torch(module, example_input=x)
    check_import(torch, model, module, x, batch_first, head, layers, kind)
