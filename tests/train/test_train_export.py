"""Export of trained modules: the IR's numpy reference forward equals the torch eval forward, the
QuantSpecs are the numpy schemes', the native format round-trips, ONNX runs in onnxruntime with
the same outputs, and what the IR cannot express is refused (or recorded)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sccompiler.errors import OutputExistsError, SCValueError, UnsupportedOpError
from sccompiler.quantize import schemes
from sccompiler.testing import require_torch


@pytest.fixture(scope="module")
def tr():
    torch = require_torch()
    torch.set_num_threads(1)
    import sccompiler.train as train  # noqa: PLC0415

    return train


def _trained(tr, cell="lstm", quant=None, bn=True, layers=1, vocab=None, epochs=3, seed=0, **kw):

    x, y = tr.synthetic_task("sine", 48, 10, seed=seed)
    if vocab is not None:
        x = ((x[..., 0] + 1) * (vocab - 1) / 2).round().long().clamp(0, vocab - 1)
    model = tr.QuantSequenceModel(cell, 1 if vocab is None else 3, 6, 1, num_layers=layers, vocab_size=vocab,
                                  quant=quant or tr.QuantConfig("binary"),
                                  batch_norm=tr.BatchNormConfig() if bn else None, seed=seed, **kw)
    tr.fit(model, x, y, tr.TrainConfig(epochs=epochs, batch_size=16, lr=1e-2, seed=seed))
    if bn:
        tr.recalibrate_batchnorm(model, x)
    return model, x


def _torch_eval(model, x):
    import torch  # noqa: PLC0415

    model.eval()
    with torch.no_grad():
        return model(x).double().numpy()


CASES = [
    ("lstm", "binary", True, 1, None),
    ("lstm", "ternary", True, 2, None),
    ("gru", "binary", True, 1, None),
    ("gru", "ott-ternary", True, 2, 7),
    ("lstm", "pow2-ternary", False, 1, 5),
    ("gru", "exp", False, 1, None),
]


@pytest.mark.parametrize("cell,scheme,bn,layers,vocab", CASES)
def test_ir_reference_forward_equals_torch_eval(tr, cell, scheme, bn, layers, vocab):
    import copy  # noqa: PLC0415

    from sccompiler.reference import forward  # noqa: PLC0415

    model, x = _trained(tr, cell, tr.QuantConfig(scheme), bn, layers, vocab)
    ir = tr.to_ir(model)
    assert [lay.kind for lay in ir.layers] == ["embedding"] * (vocab is not None) + [cell] * layers + ["linear"]
    ref = forward(ir, x.numpy())
    # float32 torch vs float64 numpy
    np.testing.assert_allclose(_torch_eval(model, x), ref, rtol=0, atol=2e-5)
    # the same network in float64 agrees to round-off: the IR holds exactly the eval network
    model64 = copy.deepcopy(model).double()
    x64 = x.double() if vocab is None else x
    np.testing.assert_allclose(_torch_eval(model64, x64), ref, rtol=0, atol=1e-10)
    # and a longer sequence than trained on uses the last batch-norm row in both
    long_x = x.repeat(1, 2) if vocab is not None else x.repeat(1, 2, 1)
    np.testing.assert_allclose(_torch_eval(model, long_x), forward(ir, long_x.numpy()), rtol=0, atol=2e-5)


@pytest.mark.parametrize("scheme", ["binary", "ternary", "ott-ternary", "pow2-ternary", "exp"])
def test_ir_weights_are_the_numpy_schemes_of_the_real_weights(tr, scheme):
    model = tr.QuantSequenceModel("lstm", 3, 5, 2, quant=tr.QuantConfig(scheme), seed=9)
    layer = model.rnn.layers[0]
    ir = tr.to_ir(model)
    lay = ir.layers[0]
    for name, param, fan_in in (("w_ih", layer.weight_ih, 3), ("w_hh", layer.weight_hh, 5)):
        w = param.detach().double().numpy()
        if scheme in ("binary", "ternary", "ott-ternary"):
            fn = {"binary": schemes.binary, "ternary": schemes.ternary, "ott-ternary": schemes.ott_ternary}[scheme]
            q, spec = fn(w, fan_in, schemes.recurrent_fan_out(scheme, 4, 5))   # Ott: each gate's (fan_in, H)
        elif scheme == "pow2-ternary":
            q, spec = schemes.pow2_ternary(w)
        else:
            q, spec = schemes.exponential(w)
        t = getattr(lay, name)
        np.testing.assert_array_equal(t.data, q)
        assert t.quant == spec  # ott-ternary is an IR "ternary" with Ott's scale
        # the torch eval weights are those values
        np.testing.assert_array_equal(layer.eval_weights()[name == "w_hh"].numpy(), q)
    assert ir.layers[-1].weight.quant.scheme == "float"
    meta = ir.metadata["training"]["layers"][0]
    assert meta["quant"]["scheme"] == scheme and meta["kind"] == "lstm"


def test_batchnorm_maps_to_per_step_params(tr):
    model, x = _trained(tr, "lstm", bn=True)
    lay = tr.to_ir(model).layers[0]
    layer = model.rnn.layers[0]
    for name in ("bn_x", "bn_h", "bn_c"):
        p = getattr(lay, name)
        assert p.per_step and p.mean.shape == (10, 24 if name != "bn_c" else 6)
        np.testing.assert_array_equal(p.mean, getattr(layer, name).running_mean.double().numpy())
        assert p.eps == 1e-4
    np.testing.assert_array_equal(lay.bn_x.beta, 0.0)
    assert lay.b_ih is None and lay.b_hh is None


def test_frozen_sample_exports_seed(tr):
    from sccompiler.reference import forward  # noqa: PLC0415

    cfg = tr.QuantConfig("ternary", stochastic=True, eval_weights="sample")
    model = tr.QuantSequenceModel("gru", 2, 4, 1, quant=cfg, seed=1)
    model.rnn.layers[0].freeze_sample(42)
    ir = tr.to_ir(model)
    spec = ir.layers[0].w_ih.quant
    assert spec.stochastic and spec.seed == 42 and spec.scheme == "ternary"
    np.testing.assert_array_equal(ir.layers[0].w_hh.data, model.rnn.layers[0].sample_hh.numpy())
    x = np.random.default_rng(0).normal(size=(3, 5, 2))
    import torch  # noqa: PLC0415

    np.testing.assert_allclose(_torch_eval(model, torch.tensor(x, dtype=torch.float32)), forward(ir, x), atol=2e-5)


def test_native_round_trip_and_force(tr, tmp_path):
    from sccompiler.frontends import load_model  # noqa: PLC0415
    from sccompiler.reference import forward  # noqa: PLC0415

    model, x = _trained(tr, "gru", tr.QuantConfig("ternary"), True, 2)
    path = tmp_path / "m"
    tr.export_native(model, path)
    loaded = load_model(path)
    ir = tr.to_ir(model)
    for a, b in zip(ir.layers, loaded.layers):
        assert a.kind == b.kind
        for (fa, ta), (fb, tb) in zip(a.tensors(), b.tensors()):
            assert fa == fb and ta.quant == tb.quant
            np.testing.assert_array_equal(ta.data, tb.data)
    np.testing.assert_allclose(forward(loaded, x.numpy()), _torch_eval(model, x), atol=2e-5)
    assert loaded.metadata["training"]["layers"][1]["quant"]["scheme"] == "ternary"
    with pytest.raises(OutputExistsError):
        tr.export_native(model, path)
    tr.export_native(model, path, force=True)


def test_onnx_standard_operators_match_onnxruntime(tr, tmp_path):
    import onnx  # noqa: PLC0415
    import onnxruntime as ort  # noqa: PLC0415

    model, x = _trained(tr, "lstm", tr.QuantConfig("binary"), bn=False, layers=2)
    path = tr.export_onnx(model, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 2
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["sccompiler.training"])
    assert meta["mode"] == "standard"
    sess = ort.InferenceSession(str(path))
    for xs in (x, x[:5, :7]):  # dynamic batch and time
        np.testing.assert_allclose(sess.run(None, {"x": xs.numpy()})[0], _torch_eval(model, xs), atol=2e-5)
    # the quantized weights are initializers holding exactly two values per matrix
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    w = [a for a in inits.values() if a.ndim == 3 and a.shape[1] == 24]
    assert w and all(np.unique(np.abs(a[0])).size == 1 for a in w)
    with pytest.raises(OutputExistsError):
        tr.export_onnx(model, path)
    # the ONNX frontend imports it back as binary LSTM layers with the same forward
    from sccompiler.frontends import load_model  # noqa: PLC0415
    from sccompiler.reference import forward  # noqa: PLC0415

    ir = load_model(path)
    assert [lay.kind for lay in ir.layers] == ["lstm", "lstm", "linear"]
    assert all(lay.w_ih.quant.scheme == "binary" and lay.w_hh.quant.scheme == "binary" for lay in ir.layers[:2])
    np.testing.assert_allclose(forward(ir, x.numpy()), _torch_eval(model, x), atol=2e-5)


def test_onnx_unrolled_with_batchnorm_and_pruning(tr, tmp_path):
    import onnxruntime as ort  # noqa: PLC0415

    prune = tr.layers.PruningConfig(targets=("h",), init_threshold=0.05)
    model, x = _trained(tr, "lstm", tr.QuantConfig("ternary"), True, 1, pruning=prune,
                        hidden_quant=None)
    with pytest.raises(UnsupportedOpError, match="mode='unrolled'"):
        tr.export_onnx(model, tmp_path / "s.onnx", steps=10, mode="standard")
    with pytest.raises(SCValueError, match="steps"):
        tr.export_onnx(model, tmp_path / "u.onnx")
    assert tr.state_sparsity(model, x)["layer0"]["h"] > 0.05  # pruning is active in this network
    path = tr.export_onnx(model, tmp_path / "u.onnx", steps=10)
    sess = ort.InferenceSession(str(path))
    np.testing.assert_allclose(sess.run(None, {"x": x.numpy()})[0], _torch_eval(model, x), atol=2e-5)
    np.testing.assert_allclose(sess.run(None, {"x": x[:3].numpy()})[0], _torch_eval(model, x[:3]), atol=2e-5)


def test_unrepresentable_features_strict_and_recorded(tr):
    model = tr.QuantSequenceModel("lstm", 2, 4, 1, seed=0, hidden_quant=tr.TernaryActivation(0.5),
                                  pruning=tr.layers.PruningConfig())
    with pytest.raises(UnsupportedOpError, match="state-pruning"):
        tr.to_ir(model)
    ir = tr.to_ir(model, strict=False)
    assert ir.layers[0].hidden_activation == "ternary"           # ternary h is part of the IR now
    rec = ir.metadata["training"]["layers"][0]
    assert rec["hidden_quant"] == {"kind": "gxnor-ternary", "threshold": 0.5, "half_width": 0.5}
    assert rec["pruning"]["h"]["kind"] == "state-pruning"
    json.dumps(ir.metadata)  # the native format needs JSON metadata


def test_hardware_aware_activations_are_recorded(tr):
    import torch  # noqa: PLC0415

    curve = tr.TabulatedActivation.from_function(lambda v: np.tanh(0.9 * v), -4, 4, 65, name="wfsm-tanh")
    acts = tr.GateActivations(tanh=curve, cell_tanh=curve)
    model = tr.QuantSequenceModel("gru", 2, 4, 1, seed=0, activations=acts)
    x = torch.randn(2, 3, 2, generator=torch.Generator().manual_seed(0))
    out = model(x)
    out.sum().backward()  # differentiable through the table
    assert model.rnn.layers[0].weight_hh.grad is not None
    rec = tr.to_ir(model).metadata["training"]["layers"][0]["activations"]
    assert rec["sigmoid"] == "exact" and rec["tanh"]["name"] == "wfsm-tanh" and rec["tanh"]["points"] == 65


def test_bare_stack_and_layer_export_and_unsupported_module(tr):
    import torch  # noqa: PLC0415

    from sccompiler.reference import forward  # noqa: PLC0415

    stack = tr.QuantGRU(3, 4, 2, quant=tr.QuantConfig("exp", stochastic=True), seed=0)
    ir = tr.to_ir(stack)
    assert [lay.name for lay in ir.layers] == ["gru0", "gru1"] and ir.input.size == 3
    assert ir.layers[0].w_ih.quant.scheme == "exp"
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(forward(ir, x.numpy()), _torch_eval(stack, x), atol=2e-6)
    assert tr.to_ir(stack.layers[1]).input.size == 4
    with pytest.raises(UnsupportedOpError, match="QuantSequenceModel"):
        tr.to_ir(torch.nn.LSTM(2, 3))
