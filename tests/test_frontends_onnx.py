"""ONNX frontend on the committed fixtures (no torch needed): weight mapping checked against
onnxruntime, QONNX quantizers against hand-computed values, and clear errors for what is unsupported."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from sccompiler.errors import InvalidWeightsError, ModelFormatError, UnsupportedOpError
from sccompiler.frontends import load_model, load_onnx
from sccompiler.ir import GRU, LSTM, Activation, Embedding, Linear

FIXTURES = Path(__file__).parent / "fixtures"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def run_ort(model: onnx.ModelProto | Path, feeds: dict) -> np.ndarray:
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def forward(model, x):
    from sccompiler.reference import forward as ref_forward  # noqa: PLC0415

    return ref_forward(model, x)


def time_major_features(seed: int, steps: int = 6, batch: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(steps, batch, gen.INPUT)).astype(np.float32)


def test_generator_reproduces_committed_fixtures():
    built = gen.build_all()
    assert sorted(built) == sorted(p.name for p in FIXTURES.glob("*.onnx"))
    for name, data in built.items():
        assert (FIXTURES / name).read_bytes() == data, f"{name} differs from make_fixtures.py's output"
        assert len(data) < 50_000


def test_lstm_ternary_matches_onnxruntime():
    model = load_model(FIXTURES / "lstm_ternary.onnx")
    (layer,) = model.layers
    assert isinstance(layer, LSTM) and (layer.input_size, layer.hidden_size) == (gen.INPUT, gen.HIDDEN)
    assert layer.w_ih.quant.scheme == "ternary" and layer.w_ih.quant.levels == (-0.5, 0.0, 0.5)
    assert layer.w_hh.quant.scheme == "float"
    assert model.metadata["onnx"]["input_layout"] == "TBF"
    x = time_major_features(0)
    expected = run_ort(FIXTURES / "lstm_ternary.onnx", {"x": x})
    got = forward(model, x.transpose(1, 0, 2).astype(np.float64))
    np.testing.assert_allclose(got.transpose(1, 0, 2), expected, atol=1e-6)


def test_lstm_gate_permutation_explicit():
    """ONNX rows i,o,f,c -> IR rows i,f,g,o, checked block by block on the raw initializer."""
    proto = onnx.load(FIXTURES / "lstm_ternary.onnx")
    w = numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == "W"))[0]
    i, o, f, c = np.split(w, 4)
    layer = load_onnx(proto).layers[0]
    np.testing.assert_array_equal(layer.w_ih.data, np.concatenate([i, f, c, o]))


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_matches_onnxruntime(lbr):
    path = FIXTURES / f"gru_lbr{lbr}.onnx"
    model = load_model(path)
    (layer,) = model.layers
    assert isinstance(layer, GRU) and layer.linear_before_reset is bool(lbr)
    x = time_major_features(lbr + 1)
    got = forward(model, x.transpose(1, 0, 2).astype(np.float64))
    np.testing.assert_allclose(got.transpose(1, 0, 2), run_ort(path, {"x": x}), atol=1e-6)


def test_gru_gate_permutation_explicit():
    proto = onnx.load(FIXTURES / "gru_lbr1.onnx")
    r = numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == "R"))[0]
    z, r_gate, h = np.split(r, 3)
    np.testing.assert_array_equal(load_onnx(proto).layers[0].w_hh.data, np.concatenate([r_gate, z, h]))


def test_embedding_lstm_gemm_softmax():
    path = FIXTURES / "embed_lstm_gemm_softmax.onnx"
    model = load_model(path)
    assert [type(lay) for lay in model.layers] == [Embedding, LSTM, Linear, Activation]
    assert model.input.kind == "tokens" and model.input.size == gen.VOCAB
    assert model.layers[3].function == "softmax"
    tokens = np.random.default_rng(3).integers(0, gen.VOCAB, size=(gen.TOKEN_STEPS, gen.TOKEN_BATCH))
    expected = run_ort(path, {"tokens": tokens.astype(np.int64)})
    got = forward(model, tokens.T.copy())
    np.testing.assert_allclose(got.transpose(1, 0, 2), expected, atol=1e-6)
    assert model.metadata["onnx"]["input_layout"] == "TB"


# ------------------------------------------------------------------------------ QONNX


def _expected_ternary_units(raw_units: np.ndarray) -> np.ndarray:
    # clip to [-1, 1], then round half to even (QONNX's np.round): 0.5 -> 0, -0.5 -> 0, 2.5 -> 1
    table = {0.2: 0, -0.7: -1, 1.6: 1, 0.0: 0, -0.5: 0, 0.5: 0, 2.5: 1, -3.0: -1}
    return np.array([table[round(float(u), 1)] for u in raw_units], dtype=np.float64)


def test_qonnx_quant_nodes_are_evaluated_and_recorded():
    path = FIXTURES / "quant_weights.onnx"
    model = load_model(path)
    lstm, fc = model.layers
    h = gen.HIDDEN
    # BipolarQuant: +-scale, sign(0) = +1 (W_raw[0, 0, 0] == 0 sits in gate i, row 0)
    assert set(np.unique(lstm.w_ih.data)) == {-gen.W_SCALE, gen.W_SCALE}
    assert lstm.w_ih.data[0, 0] == gen.W_SCALE
    assert lstm.w_ih.quant.scheme == "binary" and lstm.w_ih.quant.bits == 1
    assert lstm.w_ih.quant.levels == (-gen.W_SCALE, gen.W_SCALE) and lstm.w_ih.quant.scale == gen.W_SCALE
    # 2-bit signed narrow Quant: ternary; IR block f (rows h..2h) is ONNX block 2
    units = _expected_ternary_units(gen.R_UNITS)
    onnx_index = np.arange(2 * h * h, 3 * h * h)
    np.testing.assert_array_equal(lstm.w_hh.data[h:2 * h].ravel(), gen.R_SCALE * units[onnx_index % 8])
    assert lstm.w_hh.quant.scheme == "ternary" and lstm.w_hh.quant.levels == (-0.5, 0.0, 0.5)
    # 4-bit signed IntQuant: 16 levels k/8 for k in -8..7
    q = fc.weight.quant
    assert (q.scheme, q.bits, q.scale, len(q.levels)) == ("int", 4, gen.FC_SCALE, 16)
    assert q.levels[0] == -1.0 and q.levels[-1] == 0.875
    units_fc = fc.weight.data / gen.FC_SCALE
    np.testing.assert_array_equal(units_fc, np.round(units_fc))
    assert units_fc.min() >= -8 and units_fc.max() <= 7
    assert lstm.b_ih.quant.scheme == "float"  # not quantized, detected as float


def test_qonnx_model_forward_matches_onnxruntime_on_folded_weights():
    """Replace the Quant nodes by their hand-computed outputs and run the plain model in onnxruntime."""
    proto = onnx.load(FIXTURES / "quant_weights.onnx")
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    w = np.where(inits["W_raw"] >= 0, gen.W_SCALE, -gen.W_SCALE).astype(np.float32)
    r_units = np.resize(_expected_ternary_units(gen.R_UNITS), inits["R_raw"].size)
    r = (gen.R_SCALE * r_units).reshape(inits["R_raw"].shape).astype(np.float32)
    fc = (gen.FC_SCALE * np.clip(np.round(inits["fc_raw"] / gen.FC_SCALE), -8, 7)).astype(np.float32)
    plain = onnx.ModelProto()
    plain.CopyFrom(proto)
    del plain.graph.node[:3]
    plain.graph.initializer.extend([numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
                                    numpy_helper.from_array(fc, "fc_w")])
    del plain.opset_import[1:]
    x = time_major_features(4)
    model = load_onnx(proto)
    got = forward(model, x.transpose(1, 0, 2).astype(np.float64))
    np.testing.assert_allclose(got.transpose(1, 0, 2), run_ort(plain, {"x": x}), atol=1e-6)
    np.testing.assert_array_equal(load_onnx(plain).layers[0].w_hh.data, model.layers[0].w_hh.data)


# ------------------------------------------------------------------------------ bad input


def test_unsupported_op_names_op_and_node():
    with pytest.raises(UnsupportedOpError, match=r"'Conv' \(node 'conv_layer'\)") as err:
        load_model(FIXTURES / "bad_conv.onnx")
    assert err.value.op == "Conv" and err.value.node == "conv_layer"


def test_truncated_and_garbage_files(tmp_path):
    with pytest.raises(ModelFormatError, match=r"truncated.onnx: not a readable ONNX model"):
        load_model(FIXTURES / "truncated.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\xfe this is not protobuf \x00\x01")
    with pytest.raises(ModelFormatError, match="garbage.onnx"):
        load_model(garbage)
    with pytest.raises(ModelFormatError, match="file not found"):
        load_model(tmp_path / "missing.onnx")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFormatError, match="empty.onnx"):
        load_model(empty)


H, I = 2, 3


def _out(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["d0", "d1", "d2"])


def _build(nodes, inits, inputs=None, outputs=None, check=True) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    base = {"W": rng.normal(size=(1, 4 * H, I)), "R": rng.normal(size=(1, 4 * H, H)),
            "axes1": np.array([1], dtype=np.int64)}
    base.update(inits)
    tensors = [numpy_helper.from_array(v.astype(np.float32) if v.dtype == np.float64 else v, k)
               for k, v in base.items()]
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["t", "b", I])]
    outputs = outputs or [_out("y")]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, tensors),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model)
    return model


def _lstm(inputs=("x", "W", "R"), outputs=("Y",), **attrs):
    return helper.make_node("LSTM", list(inputs), list(outputs), name="rnn", hidden_size=H, **attrs)


SQUEEZE = helper.make_node("Squeeze", ["Y", "axes1"], ["y"], name="sq")


def test_minimal_lstm_without_bias_imports():
    layer = load_onnx(_build([_lstm(), SQUEEZE], {})).layers[0]
    assert layer.b_ih is None and layer.b_hh is None


@pytest.mark.parametrize("attrs, inits, match", [
    ({"direction": "bidirectional"}, {}, r"W/R must have shape \(2, 4\*hidden"),
    ({"direction": "reverse"}, {}, "direction='reverse'"),
    ({"activations": ["Sigmoid", "Tanh", "Relu"]}, {}, "activations"),
    ({"clip": 3.0}, {}, "clip"),
    ({"input_forget": 1}, {}, "input_forget"),
])
def test_unsupported_lstm_attributes(attrs, inits, match):
    node = _lstm(**attrs)
    with pytest.raises(UnsupportedOpError, match=f"'LSTM' \\(node 'rnn'\\).*{match}"):
        load_onnx(_build([node, SQUEEZE], inits))


def test_default_activations_spelled_out_are_accepted():
    node = _lstm(activations=["Sigmoid", "Tanh", "Tanh"])
    assert isinstance(load_onnx(_build([node, SQUEEZE], {})).layers[0], LSTM)


def test_initial_state_as_graph_input_is_refused():
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["t", "b", I]),
              helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, "b", H])]
    node = _lstm(inputs=("x", "W", "R", "", "", "h0"))
    with pytest.raises(UnsupportedOpError, match="initial_h comes from 'h0'; initial states given as inputs"):
        load_onnx(_build([node, SQUEEZE], {}, inputs=inputs))


def test_nonzero_constant_initial_state_is_refused_zero_accepted():
    node = _lstm(inputs=("x", "W", "R", "", "", "h0", "c0"))
    zeros = {"h0": np.zeros((1, 1, H)), "c0": np.zeros((1, 1, H))}
    assert len(load_onnx(_build([node, SQUEEZE], zeros)).layers) == 1
    with pytest.raises(UnsupportedOpError, match="initial_c is not all zero"):
        load_onnx(_build([node, SQUEEZE], {**zeros, "c0": np.full((1, 1, H), 0.5)}))


def test_only_final_state_used_is_the_last_step_and_c_n_is_refused():
    node = _lstm(outputs=("", "Y_h"))
    out = helper.make_node("Squeeze", ["Y_h", "axes0"], ["y"], name="sq")
    model = load_onnx(_build([node, out], {"axes0": np.array([0], dtype=np.int64)}))
    assert [lay.kind for lay in model.layers] == ["lstm", "last_step"]
    node = _lstm(outputs=("", "", "Y_c"))
    out = helper.make_node("Squeeze", ["Y_c", "axes0"], ["y"], name="sq")
    with pytest.raises(UnsupportedOpError, match="final cell state Y_c"):
        load_onnx(_build([node, out], {"axes0": np.array([0], dtype=np.int64)}))


def test_branching_data_path_is_refused():
    nodes = [_lstm(), SQUEEZE, helper.make_node("Tanh", ["y"], ["a"], name="t1"),
             helper.make_node("Sigmoid", ["y"], ["b"], name="s1")]
    outs = [_out(n) for n in ("a", "b")]
    with pytest.raises(UnsupportedOpError, match="feeds several nodes"):
        load_onnx(_build(nodes, {}, outputs=outs))


def test_reshape_that_changes_axes_is_refused():
    nodes = [_lstm(), SQUEEZE, helper.make_node("Reshape", ["y", "shape"], ["z"], name="rs")]
    outs = [_out("z")]
    with pytest.raises(UnsupportedOpError, match=r"'Reshape' \(node 'rs'\).*changes the meaning"):
        load_onnx(_build(nodes, {"shape": np.array([0, -1], dtype=np.int64)}, outputs=outs))


def test_time_and_batch_swapped_between_layers_is_refused():
    """A second LSTM that scans over the first one's batch axis is not a stacked LSTM."""
    rng = np.random.default_rng(1)
    nodes = [_lstm(), helper.make_node("Squeeze", ["Y", "axes1"], ["h"], name="sq"),
             helper.make_node("Transpose", ["h"], ["ht"], name="tr", perm=[1, 0, 2]),
             helper.make_node("LSTM", ["ht", "W2", "R2"], ["Y2"], name="rnn2", hidden_size=H),
             helper.make_node("Squeeze", ["Y2", "axes1"], ["y"], name="sq2")]
    inits = {"W2": rng.normal(size=(1, 4 * H, H)), "R2": rng.normal(size=(1, 4 * H, H))}
    with pytest.raises(UnsupportedOpError, match=r"node 'rnn2'.*input axis 1 as time .* as batch"):
        load_onnx(_build(nodes, inits))


def test_softmax_over_wrong_axis_is_refused():
    nodes = [_lstm(), SQUEEZE, helper.make_node("Softmax", ["y"], ["z"], name="sm", axis=0)]
    outs = [_out("z")]
    with pytest.raises(UnsupportedOpError, match="softmax over axis 0"):
        load_onnx(_build(nodes, {}, outputs=outs))


def test_unsupported_op_on_weights_is_named():
    nodes = [helper.make_node("Sin", ["W_raw"], ["W_sin"], name="weird"), _lstm(inputs=("x", "W_sin", "R")),
             SQUEEZE]
    model = _build(nodes, {"W_raw": np.ones((1, 4 * H, I))})
    with pytest.raises(UnsupportedOpError, match=r"'Sin' \(node 'weird'\): cannot be evaluated"):
        load_onnx(model)


def test_nan_weights_are_refused():
    w = np.ones((1, 4 * H, I))
    w[0, 1, 2] = np.nan
    with pytest.raises(InvalidWeightsError, match="w_ih has 1 NaN/inf"):
        load_onnx(_build([_lstm(), SQUEEZE], {"W": w}))


def test_invalid_graph_is_a_format_error(tmp_path):
    bad = _build([helper.make_node("Relu", ["nowhere"], ["y"], name="r")], {}, check=False)
    path = tmp_path / "bad.onnx"
    onnx.save(bad, path)
    with pytest.raises(ModelFormatError, match="bad.onnx: invalid ONNX model"):
        load_model(path)


def test_gemm_weight_shapes_mismatched_with_lstm_are_refused():
    """A MatMul whose weight does not fit the LSTM output makes the chain invalid."""
    nodes = [_lstm(), SQUEEZE, helper.make_node("MatMul", ["y", "M"], ["z"], name="mm")]
    outs = [_out("z")]
    with pytest.raises(InvalidWeightsError, match="expects 5 input features but receives 2"):
        load_onnx(_build(nodes, {"M": np.ones((5, 4))}, outputs=outs))


def test_batch_major_layout_1_maps_like_layout_0():
    """onnxruntime cannot run layout=1, so compare with the same weights in layout 0 there."""
    node0 = _lstm(inputs=("x", "W", "R", "B"))
    bias = {"B": np.random.default_rng(2).normal(size=(1, 8 * H))}
    time_major = _build([node0, SQUEEZE], bias)
    batch_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", I])]
    squeeze2 = helper.make_node("Squeeze", ["Y", "axes2"], ["y"], name="sq")
    batch_major = _build([_lstm(inputs=("x", "W", "R", "B"), layout=1), squeeze2],
                         {**bias, "axes2": np.array([2], dtype=np.int64)}, inputs=batch_inputs)
    m0, m1 = load_onnx(time_major), load_onnx(batch_major)
    assert m1.metadata["onnx"]["input_layout"] == "BTF" and m1.metadata["onnx"]["output_layout"] == "BTF"
    for (f0, t0), (f1, t1) in zip(m0.layers[0].tensors(), m1.layers[0].tensors()):
        np.testing.assert_array_equal(t0.data, t1.data)
    x = np.random.default_rng(3).normal(size=(2, 5, I)).astype(np.float32)  # (batch, time, features)
    expected = run_ort(time_major, {"x": x.transpose(1, 0, 2).copy()}).transpose(1, 0, 2)
    np.testing.assert_allclose(forward(m1, x.astype(np.float64)), expected, atol=1e-6)


def _with_data_quant(node) -> onnx.ModelProto:
    model = _build([_lstm(), helper.make_node("Squeeze", ["Y", "axes1"], ["h"], name="sq"), node],
                   {"one": np.float32(1.0), "half": np.float32(0.5), "zero": np.float32(0.0),
                    "bits": np.float32(4.0)}, check=False)
    model.opset_import.append(helper.make_opsetid(gen.QONNX_DOMAIN, 1))
    return model


def test_bipolar_quant_on_data_is_the_sign_activation():
    sign = helper.make_node("BipolarQuant", ["h", "one"], ["y"], name="binarize", domain=gen.QONNX_DOMAIN)
    model = load_onnx(_with_data_quant(sign))
    assert isinstance(model.layers[-1], Activation) and model.layers[-1].function == "sign"
    x = np.random.default_rng(5).normal(size=(2, 4, I))
    hidden = forward(model.with_layers(model.layers[:1]), x)
    np.testing.assert_array_equal(forward(model, x), np.where(hidden >= 0, 1.0, -1.0))


@pytest.mark.parametrize("node, match", [
    (helper.make_node("BipolarQuant", ["h", "half"], ["y"], name="bq", domain=gen.QONNX_DOMAIN), "needs scale 1"),
    (helper.make_node("Quant", ["h", "half", "zero", "bits"], ["y"], name="q", domain=gen.QONNX_DOMAIN),
     "quantized activations are not supported"),
])
def test_other_activation_quantizers_are_refused(node, match):
    with pytest.raises(UnsupportedOpError, match=f"node '{node.name}'.*{match}"):
        load_onnx(_with_data_quant(node))


def test_selecting_the_last_time_step_imports_other_steps_are_refused():
    nodes = [_lstm(), SQUEEZE, helper.make_node("Gather", ["y", "last"], ["z"], name="pick", axis=0)]
    model = load_onnx(_build(nodes, {"last": np.array(-1, dtype=np.int64)}, outputs=[_out("z")]))
    assert [lay.kind for lay in model.layers] == ["lstm", "last_step"]
    with pytest.raises(UnsupportedOpError, match=r"'Gather' \(node 'pick'\): selects time step 0"):
        load_onnx(_build(nodes, {"last": np.array(0, dtype=np.int64)}, outputs=[_out("z")]))


def test_extra_outputs_off_the_data_path_are_listed():
    lstm = _lstm(outputs=("Y", "Y_h"))
    outs = [_out("y"), _out("Y_h")]
    model = load_onnx(_build([lstm, SQUEEZE], {}, outputs=outs))
    assert model.metadata["onnx"]["ignored_outputs"] == ["Y_h"]


def test_add_not_directly_after_matmul_is_refused():
    nodes = [_lstm(), SQUEEZE, helper.make_node("MatMul", ["y", "M"], ["m"], name="mm"),
             helper.make_node("Tanh", ["m"], ["t"], name="act"),
             helper.make_node("Add", ["t", "b"], ["z"], name="late_bias")]
    inits = {"M": np.ones((H, 3)), "b": np.ones(3)}
    with pytest.raises(UnsupportedOpError, match=r"'Add' \(node 'late_bias'\).*directly to a MatMul"):
        load_onnx(_build(nodes, inits, outputs=[_out("z")]))
