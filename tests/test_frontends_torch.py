"""PyTorch frontend (module, state_dict, .pt) and the ONNX frontend on real torch.onnx exports, each
checked against torch's own output and against onnxruntime."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from sccompiler.errors import MissingDependencyError, ModelFormatError, UnsupportedOpError
from sccompiler.frontends import load_model
from sccompiler.ir import LSTM, Activation, BatchNorm, Embedding, Linear

ATOL = 1e-6


def ref_forward(model, x):
    from sccompiler.reference import forward  # noqa: PLC0415

    x = np.asarray(x)
    return forward(model, x if x.dtype.kind in "iu" else x.astype(np.float64))


def _rnn_head(torch, kind: str, num_layers: int, bias: bool, batch_first: bool):
    class RNNHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(3, 5, num_layers=num_layers, bias=bias, batch_first=batch_first)
            self.fc = torch.nn.Linear(5, 2)

        def forward(self, x):
            return self.fc(self.rnn(x)[0])

    torch.manual_seed(num_layers * 10 + bias)
    return RNNHead().eval()


def export(torch, module, args, path, input_names=("x",)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, input_names=list(input_names),
                          output_names=["y"], dynamic_axes={n: {0: "d0", 1: "d1"} for n in input_names})
    return path


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_exported_rnn_matches_torch_and_onnxruntime(torch, tmp_path, kind, num_layers, bias):
    import onnxruntime as ort  # noqa: PLC0415

    batch_first = num_layers == 1  # cover both data layouts of the exporter
    module = _rnn_head(torch, kind, num_layers, bias, batch_first)
    x = torch.randn(2, 7, 3, generator=torch.Generator().manual_seed(1))  # (batch, time, features)
    x_in = x if batch_first else x.transpose(0, 1)
    with torch.no_grad():
        expected = module(x_in).numpy()
    if not batch_first:
        expected = expected.transpose(1, 0, 2)
    path = export(torch, module, (x_in,), tmp_path / "m.onnx")
    from_onnx = load_model(path)
    assert [lay.kind for lay in from_onnx.layers] == [kind.lower()] * num_layers + ["linear"]
    assert from_onnx.metadata["onnx"]["input_layout"] == ("BTF" if batch_first else "TBF")
    got = ref_forward(from_onnx, x.numpy())
    np.testing.assert_allclose(got, expected, atol=ATOL)
    ort_out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x_in.numpy()})[0]
    np.testing.assert_allclose(got, ort_out if batch_first else ort_out.transpose(1, 0, 2), atol=ATOL)
    # module and state_dict import give the same weights, bit for bit
    for source in (module, module.state_dict()):
        imported = load_model(source)
        assert [lay.kind for lay in imported.layers] == [lay.kind for lay in from_onnx.layers]
        for a, b in zip(imported.layers, from_onnx.layers):
            assert a.name.split(".")[0] in ("rnn", "fc")
            for (fa, ta), (fb, tb) in zip(a.tensors(), b.tensors()):
                assert fa == fb
                np.testing.assert_array_equal(ta.data, tb.data)
        np.testing.assert_allclose(ref_forward(imported, x.numpy()), expected, atol=ATOL)


def _token_model(torch):
    class TokenModel(torch.nn.Module):
        """Registration order = application order (the documented assumption)."""

        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(11, 4)
            self.lstm = torch.nn.LSTM(4, 6, batch_first=True)
            self.drop = torch.nn.Dropout(0.3)
            self.head = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(),
                                            torch.nn.Linear(5, 3), torch.nn.Softmax(dim=-1))

        def forward(self, ids):
            h = self.drop(self.lstm(self.embedding(ids))[0])
            lin, bn, relu, lin2, sm = self.head
            b, t, _ = h.shape
            z = bn(lin(h).reshape(b * t, -1)).reshape(b, t, -1)
            return sm(lin2(relu(z)))

    torch.manual_seed(3)
    model = TokenModel()
    with torch.no_grad():
        bn = model.head[1]
        bn.running_mean.copy_(torch.randn(5))
        bn.running_var.copy_(torch.rand(5) + 0.5)
        bn.weight.copy_(torch.randn(5))
        bn.bias.copy_(torch.randn(5))
    return model.eval()


def test_module_with_embedding_batchnorm_activations(torch):
    module = _token_model(torch)
    model = load_model(module)
    assert [type(lay) for lay in model.layers] == [Embedding, LSTM, Linear, BatchNorm, Activation, Linear,
                                                   Activation]
    assert [lay.name for lay in model.layers] == ["embedding", "lstm", "head.0", "head.1", "head.2", "head.3",
                                                  "head.4"]
    assert model.input.kind == "tokens" and model.input.size == 11
    ids = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = module(ids).numpy()
    np.testing.assert_allclose(ref_forward(model, ids.numpy()), expected, atol=ATOL)


def test_state_dict_file_and_checkpoint(torch, tmp_path):
    module = _token_model(torch)
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    torch.save({"state_dict": module.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    ref = load_model(module)
    for path in (tmp_path / "sd.pt", tmp_path / "ckpt.pth"):
        model = load_model(path)
        # the state_dict has no activations; every parametrized layer is recovered, in order
        assert [lay.kind for lay in model.layers] == [lay.kind for lay in ref.layers if lay.kind != "activation"]
        assert model.input.kind == "tokens"  # 'embedding' in the key names
        for a, b in zip(model.layers, [lay for lay in ref.layers if lay.kind != "activation"]):
            for (fa, ta), (fb, tb) in zip(a.tensors(), b.tensors()):
                np.testing.assert_array_equal(ta.data, tb.data)


def test_ternary_weights_detected_on_every_path(torch, tmp_path):
    module = _rnn_head(torch, "LSTM", 1, True, True)
    with torch.no_grad():
        w = module.rnn.weight_ih_l0
        w.copy_(0.25 * torch.randint(-1, 2, w.shape).float())
    x = torch.randn(1, 4, 3)
    for source in (module, module.state_dict(), export(torch, module, (x,), tmp_path / "t.onnx")):
        q = load_model(source).layers[0].w_ih.quant
        assert (q.scheme, q.levels, q.bits) == ("ternary", (-0.25, 0.0, 0.25), 2)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("make, match", [
    (lambda nn: nn.LSTM(3, 4, bidirectional=True, proj_size=2), "proj_size"),
    (lambda nn: nn.LSTM(3, 4, proj_size=2), "proj_size"),
    (lambda nn: nn.Sequential(nn.Linear(3, 4), nn.Conv1d(5, 5, 1)), r"'Conv' \(node '/1/Conv'\)"),
    (lambda nn: nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1)), "only the last"),
])
def test_unsupported_modules(torch, make, match):
    with pytest.raises(UnsupportedOpError, match=match):
        load_model(make(torch.nn))


def test_unsupported_state_dicts(torch):
    nn = torch.nn
    with pytest.raises(ModelFormatError, match="weight_hh_l0_reverse is missing .*both directions"):
        load_model({k: v for k, v in nn.LSTM(3, 4, bidirectional=True).state_dict().items()
                    if k != "weight_hh_l0_reverse"})
    with pytest.raises(UnsupportedOpError, match="proj"):
        load_model(nn.LSTM(3, 4, proj_size=2).state_dict())
    with pytest.raises(UnsupportedOpError, match="3-D weight is not a Linear/Embedding"):
        load_model(nn.Conv1d(3, 4, 3).state_dict())
    with pytest.raises(UnsupportedOpError, match=r"node 'm'\): cannot infer"):
        load_model({"m.alpha": np.ones(3)})


def test_custom_module_with_own_parameters(torch):
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.ones(3))
            self.fc = torch.nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x) * self.gain

    class NoForward(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 3)

    # the product with its own parameter is a Mul no IR layer expresses: refused, not dropped
    with pytest.raises(UnsupportedOpError, match="'Mul'"):
        load_model(Scaled())
    with pytest.raises(ModelFormatError, match="forward accepts"):
        load_model(NoForward())


def test_pickled_module_and_truncated_files(torch, tmp_path):
    module = torch.nn.Sequential(torch.nn.Linear(3, 2))
    torch.save(module, tmp_path / "whole.pt")  # a pickled module, not a state_dict
    with pytest.raises(ModelFormatError, match="whole.pt: cannot read as a PyTorch state_dict"):
        load_model(tmp_path / "whole.pt")
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    data = (tmp_path / "sd.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="cut.pt"):
        load_model(tmp_path / "cut.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ModelFormatError, match="holds a list, expected a state_dict"):
        load_model(tmp_path / "list.pt")


def test_missing_torch_is_a_clear_error(monkeypatch, tmp_path):
    (tmp_path / "m.pt").write_bytes(b"irrelevant")
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"torch is required .*pip install 'sccompiler\[torch\]'"):
        load_model(tmp_path / "m.pt")


def test_numpy_state_dict_needs_no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    rng = np.random.default_rng(0)
    state = {"rnn.weight_ih_l0": rng.normal(size=(12, 2)), "rnn.weight_hh_l0": rng.normal(size=(12, 4)),
             "out.weight": rng.normal(size=(3, 4)), "out.bias": np.zeros(3)}
    model = load_model(state)
    assert [lay.kind for lay in model.layers] == ["gru", "linear"]
    assert model.layers[0].linear_before_reset is True  # PyTorch's GRU form


def test_unknown_source_type():
    with pytest.raises(ModelFormatError, match="cannot load a model from a int"):
        load_model(42)


def test_export_opset11_with_extra_output_and_embedding(torch, tmp_path):
    """Opset 11 (Squeeze axes as attributes) and a returned h_n, which is dropped and recorded."""

    class WithState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(9, 3)
            self.rnn = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True)
            self.fc = torch.nn.Linear(4, 5)
            self.sm = torch.nn.Softmax(dim=-1)

        def forward(self, ids):
            y, (h, _) = self.rnn(self.emb(ids))
            return self.sm(self.fc(y)), h

    torch.manual_seed(4)
    module = WithState().eval()
    ids = torch.randint(0, 9, (2, 6), generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (ids,), str(tmp_path / "s.onnx"), dynamo=False, opset_version=11,
                          input_names=["ids"], output_names=["y", "h"], dynamic_axes={"ids": {0: "b", 1: "t"}})
    model = load_model(tmp_path / "s.onnx")
    assert [lay.kind for lay in model.layers] == ["embedding", "lstm", "lstm", "linear", "activation"]
    assert model.metadata["onnx"]["ignored_outputs"] == ["h"]
    with torch.no_grad():
        expected = module(ids)[0].numpy()
    np.testing.assert_allclose(ref_forward(model, ids.numpy()), expected, atol=ATOL)


def test_export_with_initial_state_input_is_refused(torch, tmp_path):
    class WithH0(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(3, 4)

        def forward(self, x, h0):
            return self.rnn(x, h0)[0]

    path = tmp_path / "h0.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(WithH0().eval(), (torch.randn(5, 2, 3), torch.zeros(1, 2, 4)), str(path), dynamo=False,
                          input_names=["x", "h0"])
    with pytest.raises(UnsupportedOpError, match="'GRU'.*initial_h comes from 'h0'; initial states given as inputs"):
        load_model(path)
