"""Sequence-level heads: ``fc(y[:, -1])`` / ``fc(y[-1])`` / ``fc(h_n[-1])`` exported by torch
(legacy exporter, opset 17) for LSTM and GRU, batch-first or not, one or two layers, import as
recurrent layers + ``LastStep`` + ``Linear`` and match torch's output; what is not the last time
step is refused naming what is unsupported; the IR and the native format keep the layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from sccompiler.errors import InvalidWeightsError, UnsupportedOpError
from sccompiler.frontends.native import load_native, save_model
from sccompiler.frontends.onnx_frontend import load_onnx
from sccompiler.ir.model import LSTM, InputSpec, LastStep, Linear, Model, Tensor
from sccompiler.reference import forward

I, H, OUT, T, B = 3, 5, 2, 6, 4


def classifier(torch, kind: str, batch_first: bool, head: str, layers: int):
    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(I, H, num_layers=layers, batch_first=batch_first)
            self.fc = torch.nn.Linear(H, OUT)

        def forward(self, x):
            y, state = self.rnn(x)
            if head == "last":
                return self.fc(y[:, -1] if batch_first else y[-1])
            if head == "slice":                  # y[:, -1:] keeps a time axis of length 1
                return self.fc(y[:, -1:] if batch_first else y[-1:])
            h_n = state[0] if kind == "LSTM" else state
            return self.fc(h_n[-1])

    torch.manual_seed(7 * layers + len(head))
    return Classifier().eval()


def export_onnx(torch, module, x, path, *, dynamic: bool = False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["y"], **({"dynamic_axes": {"x": {0: "a", 1: "b"}}} if dynamic else {}))
    return path


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("head", ["last", "hn", "slice"])
@pytest.mark.parametrize("layers", [1, 2])
def test_torch_last_step_heads_import_and_match_torch(torch, tmp_path, kind, batch_first, head, layers):
    module = classifier(torch, kind, batch_first, head, layers)
    x = torch.randn(B, T, I, generator=torch.Generator().manual_seed(3))      # (batch, time, features)
    x_in = x if batch_first else x.transpose(0, 1)
    with torch.no_grad():
        want = module(x_in).numpy()
    model = load_onnx(export_onnx(torch, module, x_in, tmp_path / "m.onnx", dynamic=head == "last"))
    assert [lay.kind for lay in model.layers] == [kind.lower()] * layers + ["last_step", "linear"]
    got = forward(model, x.numpy().astype(np.float64))
    assert got.shape == (B, 1, OUT)
    if head == "slice" and not batch_first:
        want = want.transpose(1, 0, 2)           # (1, batch, out) -> (batch, 1, out)
    np.testing.assert_allclose(got.reshape(B, OUT), want.reshape(B, OUT), rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- hand-built graphs
def _graph(nodes, inits, rank=2):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, "b", I])
    y = helper.make_tensor_value_info("z", TensorProto.FLOAT, [f"d{k}" for k in range(rank)])
    rng = np.random.default_rng(0)
    inits = {"W": rng.normal(size=(1, 4 * H, I)), "R": rng.normal(size=(1, 4 * H, H)), **inits}
    g = helper.make_graph(nodes, "g", [x], [y], [numpy_helper.from_array(np.asarray(v, dtype=np.float32)
                                                                          if np.asarray(v).dtype.kind == "f"
                                                                          else np.asarray(v), k)
                                                   for k, v in inits.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


LSTM_NODE = helper.make_node("LSTM", ["x", "W", "R"], ["Y"], name="rnn", hidden_size=H)
SQUEEZE = helper.make_node("Squeeze", ["Y", "ax1"], ["y"], name="sq")
AX1 = {"ax1": np.array([1], dtype=np.int64)}


def _pick(index, axis=0):
    return helper.make_node("Gather", ["y", "idx"], ["z"], name="pick", axis=axis), \
        {"idx": np.array(index, dtype=np.int64)}


@pytest.mark.parametrize("index", [-1, T - 1])
def test_gather_of_the_last_step_by_index_minus_one_or_t_minus_one(index):
    node, init = _pick(index)
    model = load_onnx(_graph([LSTM_NODE, SQUEEZE, node], {**AX1, **init}))
    assert [lay.kind for lay in model.layers] == ["lstm", "last_step"]
    x = np.random.default_rng(1).normal(size=(2, T, I))
    full = forward(model.with_layers(model.layers[:1]), x)
    np.testing.assert_array_equal(forward(model, x), full[:, -1:])


@pytest.mark.parametrize("index, axis, match", [
    (0, 0, "selects time step 0; only the last time step"),
    (T - 2, 0, f"selects time step {T - 2}"),
    (-1, 2, "along the feature axis is not supported"),
    (0, 1, "along the batch axis is not supported"),
    ([-1, -2], 0, "only one constant integer index"),
])
def test_gather_of_anything_but_the_last_step_is_refused(index, axis, match):
    node, init = _pick(index, axis)
    with pytest.raises(UnsupportedOpError, match=rf"'Gather' \(node 'pick'\).*{match}"):
        load_onnx(_graph([LSTM_NODE, SQUEEZE, node], {**AX1, **init}))


def _slice(starts, ends, axes, steps=None):
    inputs = ["y", "st", "en", "ax"] + (["sp"] if steps is not None else [])
    init = {"st": np.array(starts, dtype=np.int64), "en": np.array(ends, dtype=np.int64),
            "ax": np.array(axes, dtype=np.int64)}
    if steps is not None:
        init["sp"] = np.array(steps, dtype=np.int64)
    return helper.make_node("Slice", inputs, ["z"], name="cut"), init


BIG = np.iinfo(np.int64).max


@pytest.mark.parametrize("starts, ends, axes", [([-1], [BIG], [0]), ([T - 1], [T], [0]),
                                                ([-1, 0], [BIG, BIG], [0, 2])])
def test_slice_of_the_last_step_keeps_a_time_axis_of_one(starts, ends, axes):
    node, init = _slice(starts, ends, axes)
    model = load_onnx(_graph([LSTM_NODE, SQUEEZE, node], {**AX1, **init}))
    assert [lay.kind for lay in model.layers] == ["lstm", "last_step"]
    assert model.metadata["onnx"]["output_layout"] == "1BF"     # (time = 1, batch, features)


@pytest.mark.parametrize("starts, ends, axes, steps, match", [
    ([0], [BIG], [0], [2], "slice step 2 on the time axis"),
    ([1], [BIG], [0], None, r"slices time steps \[1, "),
    ([-2], [-1], [0], None, r"slices time steps \[-2, -1\)"),
    ([0], [2], [2], None, r"slices \[0, 2\) of the feature axis"),
])
def test_slice_of_anything_but_the_last_step_is_refused(starts, ends, axes, steps, match):
    node, init = _slice(starts, ends, axes, steps)
    with pytest.raises(UnsupportedOpError, match=rf"'Slice' \(node 'cut'\).*{match}"):
        load_onnx(_graph([LSTM_NODE, SQUEEZE, node], {**AX1, **init}))


def test_h_n_of_a_lower_layer_is_refused(torch, tmp_path):
    class Lower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(I, H, num_layers=2)
            self.fc = torch.nn.Linear(H, OUT)

        def forward(self, x):
            return self.fc(self.rnn(x)[1][0])          # h_n of layer 0, not the last layer

    path = export_onnx(torch, Lower().eval(), torch.randn(T, B, I), tmp_path / "m.onnx")
    with pytest.raises(UnsupportedOpError, match="selects h_n of layer 0 of 2; only the last layer's final state"):
        load_onnx(path)


def test_c_n_head_is_refused(torch, tmp_path):
    class CellHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(I, H)
            self.fc = torch.nn.Linear(H, OUT)

        def forward(self, x):
            return self.fc(self.rnn(x)[1][1][-1])

    path = export_onnx(torch, CellHead().eval(), torch.randn(T, B, I), tmp_path / "m.onnx")
    with pytest.raises(UnsupportedOpError, match="final cell state Y_c"):
        load_onnx(path)


# --------------------------------------------------------------------------- IR, native format
def _lstm(name="lstm0", fin=I):
    rng = np.random.default_rng(2)
    return LSTM(name, input_size=fin, hidden_size=H, w_ih=Tensor(rng.normal(size=(4 * H, fin))),
                w_hh=Tensor(rng.normal(size=(4 * H, H))))


def test_ir_refuses_recurrent_layers_after_last_step_and_two_last_steps():
    with pytest.raises(InvalidWeightsError, match="a recurrent layer after LastStep 'last'"):
        Model((_lstm(), LastStep("last"), _lstm("lstm1", H)), InputSpec("features", I)).validate()
    with pytest.raises(InvalidWeightsError, match="a second LastStep"):
        Model((_lstm(), LastStep("last"), LastStep("again")), InputSpec("features", I)).validate()


def test_native_round_trip_keeps_last_step(tmp_path):
    head = Linear("fc", in_size=H, out_size=OUT, weight=Tensor(np.ones((OUT, H))))
    model = Model((_lstm(), LastStep("last"), head), InputSpec("features", I)).validate()
    back = load_native(save_model(model, tmp_path / "m"))
    assert [lay.kind for lay in back.layers] == ["lstm", "last_step", "linear"]
    x = np.random.default_rng(3).normal(size=(2, 4, I))
    np.testing.assert_array_equal(forward(back, x), forward(model, x))


# --------------------------------------------------------------------------- torch module import
@pytest.mark.parametrize("head", ["last", "hn"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_torch_module_with_a_last_step_head_imports_through_its_export(torch, head, batch_first):
    """Module import goes through the module's own computation (an internal ONNX export checked
    against it), so ``y[:, -1]`` and ``h_n[-1]`` become LastStep, on inputs of other shapes too."""
    from sccompiler.frontends import load_model  # noqa: PLC0415

    module = classifier(torch, "LSTM", batch_first, head, 1)
    model = load_model(module)
    assert [lay.kind for lay in model.layers] == ["lstm", "last_step", "linear"]
    x = torch.randn(4, 9, I, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        want = module.double()(x if batch_first else x.transpose(0, 1)).numpy()
    np.testing.assert_allclose(forward(model, x.numpy())[:, -1], want, atol=1e-5)
    assert [lay.kind for lay in load_model(module.state_dict()).layers] == ["lstm", "linear"]   # no forward to see


def test_torch_module_with_an_unexpressible_functional_op_is_refused(torch):
    from sccompiler.frontends import load_model  # noqa: PLC0415

    class Squashed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(I, H, batch_first=True)
            self.fc = torch.nn.Linear(H, OUT)

        def forward(self, x):
            return self.fc(torch.tanh(3 * self.rnn(x)[0]))

    with pytest.raises(UnsupportedOpError, match="'Mul'"):
        load_model(Squashed().eval())
