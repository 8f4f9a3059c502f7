"""Exporter shape plumbing (symbolic Reshape targets, sequence_lens, initial-state shapes) and
checked external data, on small hand-built ONNX graphs checked against onnxruntime."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from sccompiler.errors import InputFileError, ModelFormatError, UnsupportedOpError
from sccompiler.frontends import load_onnx
from sccompiler.io import read_range_inside

FIXTURES = Path(__file__).parent / "fixtures"
T, B, I, H = 5, 2, 3, 4


def _ints(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def _graph(nodes, extra_inits=(), dims=(T, B, I), seq=None, output="y", inputs=None, pre=()) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(1, 4 * H, I)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(size=(1, 4 * H, H)).astype(np.float32), "R"),
             numpy_helper.from_array(rng.normal(size=(1, 8 * H)).astype(np.float32), "Bias"),
             *extra_inits]
    rnn_in = ["x", "W", "R", "Bias", seq or ""]
    lstm = helper.make_node("LSTM", rnn_in, ["Y"], name="rnn", hidden_size=H)
    graph_inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))]
    graph = helper.make_graph([*pre, lstm, *nodes], "g", graph_inputs,
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["o0", "o1", "o2"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _forward(model, x_time_major: np.ndarray) -> np.ndarray:
    from sccompiler.reference import forward  # noqa: PLC0415

    return forward(model, x_time_major.transpose(1, 0, 2).astype(np.float64)).transpose(1, 0, 2)


def _x(steps: int = T, batch: int = B) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(steps, batch, I)).astype(np.float32)


def _shape_reshape(order, mul=None, data="Y") -> list:
    """Reshape(data, Concat(Shape(data)[k] for k in order)), ``mul``: a pair multiplied into one entry."""
    nodes = [helper.make_node("Shape", [data], ["s"])]
    parts = []
    for k in order:
        if k == "mul":
            a, b = mul
            nodes += [helper.make_node("Slice", ["s", f"c{a}", f"c{a + 1}"], [f"p{a}"]),
                      helper.make_node("Slice", ["s", f"c{b}", f"c{b + 1}"], [f"p{b}"]),
                      helper.make_node("Mul", [f"p{a}", f"p{b}"], ["pm"])]
            parts.append("pm")
        else:
            nodes.append(helper.make_node("Slice", ["s", f"c{k}", f"c{k + 1}"], [f"q{k}"]))
            parts.append(f"q{k}")
    nodes += [helper.make_node("Concat", parts, ["target"], axis=0),
              helper.make_node("Reshape", [data, "target"], ["y"], name="reshape")]
    return nodes


CONSTS = [_ints(f"c{k}", [k]) for k in range(5)]
TRANSPOSE = helper.make_node("Transpose", ["Y"], ["Yt"], perm=[0, 2, 1, 3])


# ------------------------------------------------------------------ Reshape of the direction axis


def test_dynamo_style_symbolic_reshape_is_a_squeeze():
    """Transpose(0,2,1,3) then Reshape to Concat(s[0], s[1], s[2]*s[3]) -- the dynamo pattern."""
    nodes = [TRANSPOSE, *_shape_reshape([0, 1, "mul"], mul=(2, 3), data="Yt")]
    model = _graph(nodes, CONSTS, dims=("t", "b", I))
    imported = load_onnx(model)
    assert [lay.kind for lay in imported.layers] == ["lstm"]
    for steps in (T, T + 4):  # dynamic: any length
        x = _x(steps)
        np.testing.assert_allclose(_forward(imported, x), _ort(model, x), atol=1e-5)


@pytest.mark.parametrize("target, ok", [
    ([T, B, H], True), ([T, -1, H], True), ([0, 0, H], True), ([-1, B, H], True),
    ([T, H, B], False), ([-1, -1, H], False), ([T * B, H, 1], False), ([T, B, H, 1], False)])
def test_constant_reshape_target_on_static_shapes(target, ok):
    nodes = [TRANSPOSE, helper.make_node("Reshape", ["Yt", "shape"], ["y"], name="reshape")]
    model = _graph(nodes, [_ints("shape", target)])
    if ok:
        x = _x()
        np.testing.assert_allclose(_forward(load_onnx(model), x), _ort(model, x), atol=1e-5)
    else:
        with pytest.raises(UnsupportedOpError, match="'Reshape' \\(node 'reshape'\\)"):
            load_onnx(model)


def test_allowzero_zero_is_refused():
    nodes = [TRANSPOSE, helper.make_node("Reshape", ["Yt", "shape"], ["y"], name="reshape", allowzero=1)]
    with pytest.raises(UnsupportedOpError, match="reshape"):
        load_onnx(_graph(nodes, [_ints("shape", [0, 0, H])]))


def test_constant_target_on_dynamic_axis_is_refused_with_the_reason():
    nodes = [TRANSPOSE, helper.make_node("Reshape", ["Yt", "shape"], ["y"], name="reshape")]
    with pytest.raises(UnsupportedOpError, match="entry 0 \\(5\\).*axis 0 is dynamic.*only fits one length"):
        load_onnx(_graph(nodes, [_ints("shape", [T, -1, H])], dims=("t", "b", I)))


def test_symbolic_target_that_swaps_axes_is_refused():
    """Concat(s[0], s[3], s[1]) on (T, B, 1, H): batch and feature sizes exchanged -- refused."""
    nodes = [TRANSPOSE, *_shape_reshape([0, 3, 1], data="Yt")]
    with pytest.raises(UnsupportedOpError, match="'Reshape'"):
        load_onnx(_graph(nodes, CONSTS, dims=("t", "b", I)))


# ------------------------------------------------------------------ sequence_lens


def _squeeze_out():
    return [helper.make_node("Squeeze", ["Y", "ax1"], ["y"])]


def test_sequence_lens_constant_full_is_accepted_and_matches():
    model = _graph(_squeeze_out(), [_ints("ax1", [1]), numpy_helper.from_array(np.full(B, T, np.int32), "lens")],
                   seq="lens")
    x = _x()
    np.testing.assert_allclose(_forward(load_onnx(model), x), _ort(model, x), atol=1e-5)


@pytest.mark.parametrize("lens, dims, match", [
    ([T, T - 1], (T, B, I), "sequence_lens \\[5, 4\\] differs from the full sequence length 5"),
    ([T, T], ("t", B, I), "cannot be shown equal"),
])
def test_sequence_lens_not_provably_full_is_refused(lens, dims, match):
    model = _graph(_squeeze_out(), [_ints("ax1", [1]), numpy_helper.from_array(np.asarray(lens, np.int32), "lens")],
                   seq="lens", dims=dims)
    with pytest.raises(UnsupportedOpError, match=f"'LSTM'.*{match}"):
        load_onnx(model)


@pytest.mark.parametrize("axis, ok", [(0, True), (1, False)])
def test_sequence_lens_from_the_time_axis_shape(axis, ok):
    """Batch 1, dynamic T: sequence_lens = Cast(Shape(x)[0]) is provably full; Shape(x)[1] is not."""
    nodes = [helper.make_node("Shape", ["x"], ["sx"]),
             helper.make_node("Slice", ["sx", f"c{axis}", f"c{axis + 1}"], ["sl"]),
             helper.make_node("Cast", ["sl"], ["lens"], to=TensorProto.INT32)]
    model = _graph(_squeeze_out(), [*CONSTS, _ints("ax1", [1])], seq="lens", dims=("t", 1, I), pre=nodes)
    if ok:
        x = _x(batch=1)
        np.testing.assert_allclose(_forward(load_onnx(model), x), _ort(model, x), atol=1e-5)
    else:
        with pytest.raises(UnsupportedOpError, match="sequence_lens .*cannot be shown"):
            load_onnx(model)


def test_sequence_lens_graph_input_is_refused():
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I]),
              helper.make_tensor_value_info("lens", TensorProto.INT32, [B])]
    model = _graph(_squeeze_out(), [_ints("ax1", [1])], seq="lens", inputs=inputs)
    with pytest.raises(UnsupportedOpError, match="sequence_lens comes from 'lens', a runtime value"):
        load_onnx(model)


def test_peephole_and_clip_refusals_name_the_attribute():
    model = _graph(_squeeze_out(), [_ints("ax1", [1])])
    node = model.graph.node[0]
    node.input.extend(["", "", "P"])
    model.graph.initializer.append(numpy_helper.from_array(np.ones((1, 3 * H), np.float32), "P"))
    with pytest.raises(UnsupportedOpError, match="peephole"):
        load_onnx(model)
    model.graph.initializer[-1].CopyFrom(numpy_helper.from_array(np.zeros((1, 3 * H), np.float32), "P"))
    assert load_onnx(model).layers[0].kind == "lstm"  # zero peepholes are plain LSTM
    node.attribute.append(helper.make_attribute("clip", 1.0))
    with pytest.raises(UnsupportedOpError, match="'clip'"):
        load_onnx(model)


def test_initial_state_of_wrong_width_is_refused():
    zeros = numpy_helper.from_array(np.zeros((1, B, H + 1), np.float32), "h0")
    model = _graph(_squeeze_out(), [_ints("ax1", [1]), zeros])
    model.graph.node[0].input.extend(["h0"])
    with pytest.raises(UnsupportedOpError, match="initial_h has shape \\(1, 2, 5\\).*hidden_size=4"):
        load_onnx(model)


# ------------------------------------------------------------------ external data


def _save_external(tmp_path: Path, location: str = "w.bin") -> Path:
    model = onnx.load(str(FIXTURES / "lstm_ternary.onnx"))
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=location, size_threshold=0)
    return path


def _edit_external(path: Path, key: str, value: str) -> None:
    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == key:
                e.value = value
    path.write_bytes(model.SerializeToString())


def test_external_data_loads_like_the_inline_model(tmp_path):
    path = _save_external(tmp_path)
    assert (tmp_path / "w.bin").stat().st_size > 0
    inline, external = load_onnx(FIXTURES / "lstm_ternary.onnx"), load_onnx(path)
    for a, b in zip(inline.layers, external.layers):
        for (fa, ta), (fb, tb) in zip(a.tensors(), b.tensors()):
            assert fa == fb
            np.testing.assert_array_equal(ta.data, tb.data)


@pytest.mark.parametrize("key, value, match", [
    ("location", "../w.bin", "relative path inside"),
    ("location", "/etc/passwd", "relative path inside"),
    ("location", "missing.bin", "cannot read"),
    ("length", "3", "need"),
    ("offset", "-4", "not a non-negative integer"),
    ("offset", "99999999", "beyond its end"),
])
def test_external_data_bad_references_are_refused(tmp_path, key, value, match):
    path = _save_external(tmp_path)
    _edit_external(path, key, value)
    with pytest.raises(ModelFormatError, match=match):
        load_onnx(path)


def test_external_data_symlink_out_of_the_directory_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    inner = tmp_path / "model"
    inner.mkdir()
    path = _save_external(inner)
    os.replace(inner / "w.bin", outside / "w.bin")
    os.symlink(outside / "w.bin", inner / "w.bin")
    with pytest.raises(ModelFormatError, match="outside"):
        load_onnx(path)


def test_external_data_truncated_file_is_refused(tmp_path):
    path = _save_external(tmp_path)
    data = (tmp_path / "w.bin").read_bytes()
    (tmp_path / "w.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="beyond its end"):
        load_onnx(path)


def test_model_proto_with_unloaded_external_data_is_refused(tmp_path):
    path = _save_external(tmp_path)
    with pytest.raises(ModelFormatError, match="external data files that were not loaded"):
        load_onnx(onnx.load(str(path), load_external_data=False))


def test_read_range_inside(tmp_path):
    (tmp_path / "d.bin").write_bytes(bytes(range(16)))
    assert read_range_inside(tmp_path, "d.bin", 4, 3, "data") == bytes([4, 5, 6])
    assert read_range_inside(tmp_path, "d.bin", 14, None, "data") == bytes([14, 15])
    for rel in ("../d.bin", "/d.bin", "", "a/../../d.bin"):
        with pytest.raises(InputFileError, match="relative path"):
            read_range_inside(tmp_path, rel, 0, 1, "data")
    with pytest.raises(InputFileError, match="beyond its end"):
        read_range_inside(tmp_path, "d.bin", 10, 7, "data")
    with pytest.raises(InputFileError, match="exceeds the limit"):
        read_range_inside(tmp_path, "d.bin", 0, 8, "data", max_bytes=4)


# ------------------------------------------------------------------ constant folding (exporter weight plumbing)


def _fold_vs_ort(nodes, inits, out="z"):
    from sccompiler.frontends.onnx_graph import OnnxGraph  # noqa: PLC0415

    graph = helper.make_graph(nodes, "c", [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {})[0]
    got = OnnxGraph(model, "c").const(out, nodes[-1])
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


W = np.arange(24, dtype=np.float32).reshape(6, 4) - 7.5


@pytest.mark.parametrize("nodes, extra", [
    ([helper.make_node("Slice", ["w", "s", "e"], ["z"])], {"s": [1], "e": [-1]}),
    ([helper.make_node("Slice", ["w", "s", "e", "a", "st"], ["z"])], {"s": [-1], "e": [-100], "a": [0], "st": [-2]}),
    ([helper.make_node("Slice", ["w", "s", "e", "a"], ["z"])], {"s": [2], "e": [99], "a": [1]}),
    ([helper.make_node("Split", ["w", "sp"], ["z", "z2"], axis=0)], {"sp": [2, 4]}),
    ([helper.make_node("Split", ["w"], ["z0", "z"], axis=1, num_outputs=2)], {}),
    ([helper.make_node("Mul", ["w", "w"], ["z"])], {}),
    ([helper.make_node("Sub", ["w", "w"], ["m"]), helper.make_node("Add", ["m", "w"], ["z"])], {}),
    ([helper.make_node("Gather", ["w", "i"], ["z"], axis=1)], {"i": [3, 0]}),
    ([helper.make_node("Shape", ["w"], ["sh"]),
      helper.make_node("ConstantOfShape", ["sh"], ["z"], value=numpy_helper.from_array(np.array([0.5], np.float32)))],
     {}),
    ([helper.make_node("Expand", ["w", "shape"], ["z"])], {"shape": [2, 1, 4]}),
    ([helper.make_node("Tile", ["w", "rep"], ["z"])], {"rep": [1, 2]}),
])
def test_constant_folding_matches_onnxruntime(nodes, extra):
    _fold_vs_ort(nodes, {"w": W, **{k: np.asarray(v, np.int64) for k, v in extra.items()}})


@pytest.mark.parametrize("dims, ok", [((T, B, I), True), (("t", B, I), False)])
def test_weights_sliced_at_a_shape_offset_fold_only_when_constant(dims, ok):
    """R = Slice(R_big, Shape(x)[0], H + T) along its last axis (an offset read from the data's time
    size): a constant on static shapes (checked against onnxruntime), refused when T is dynamic."""
    rng = np.random.default_rng(3)
    big = numpy_helper.from_array(rng.normal(size=(1, 4 * H, H + T)).astype(np.float32), "Rbig")
    pre = [helper.make_node("Shape", ["x"], ["sx"], start=0, end=1),
           helper.make_node("Slice", ["Rbig", "sx", "end", "ax2"], ["R2"])]
    model = _graph(_squeeze_out(), [big, _ints("end", [H + T]), _ints("ax2", [2]), _ints("ax1", [1])],
                   dims=dims, pre=pre)
    model.graph.node[len(pre)].input[2] = "R2"
    if ok:
        x = _x()
        np.testing.assert_allclose(_forward(load_onnx(model), x), _ort(model, x), atol=1e-5)
    else:
        with pytest.raises(UnsupportedOpError, match="depends on the shape of the model input"):
            load_onnx(model)
