"""Native format (model.json + weights.npz): exact round trip and clear errors for bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sccompiler.errors import InvalidWeightsError, ModelFormatError, OutputExistsError, SCValueError
from sccompiler.frontends import load_model
from sccompiler.frontends.native import load_native, save_model
from sccompiler.ir import (
    GRU,
    LSTM,
    Activation,
    BatchNorm,
    BatchNormParams,
    Embedding,
    InputSpec,
    Linear,
    Model,
    QuantSpec,
    Tensor,
)

TERNARY = QuantSpec(scheme="ternary", levels=(-0.5, 0.0, 0.5), scale=0.5, bits=2, stochastic=True, seed=7)


def _bn(features: int, steps: int | None, rng: np.random.Generator) -> BatchNormParams:
    shape = (steps, features) if steps else (features,)
    return BatchNormParams(rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape),
                           rng.uniform(0.1, 2.0, size=shape), eps=1e-3)


def full_model() -> Model:
    """Every layer kind, optional tensors present and absent, batch norms, quant specs, metadata."""
    rng = np.random.default_rng(0)
    v, e, h, g, o = 7, 3, 4, 5, 2
    tern = 0.5 * rng.integers(-1, 2, size=(4 * h, e)).astype(np.float64)
    layers = (
        Embedding("embed", num_embeddings=v, embedding_dim=e, weight=Tensor(rng.normal(size=(v, e)))),
        LSTM("lstm", input_size=e, hidden_size=h, w_ih=Tensor(tern, TERNARY),
             w_hh=Tensor(rng.normal(size=(4 * h, h))), b_hh=Tensor(rng.normal(size=4 * h)),
             bn_x=_bn(4 * h, 3, rng), bn_c=_bn(h, None, rng)),
        GRU("gru", input_size=h, hidden_size=g, linear_before_reset=False,
            w_ih=Tensor(rng.normal(size=(3 * g, h))), w_hh=Tensor(rng.normal(size=(3 * g, g))),
            b_ih=Tensor(rng.normal(size=3 * g)), b_hh=Tensor(rng.normal(size=3 * g)), bn_h=_bn(3 * g, None, rng)),
        BatchNorm("bn", params=_bn(g, 2, rng)),
        Linear("fc", in_size=g, out_size=o, weight=Tensor(rng.normal(size=(o, g)))),
        Activation("act", function="softmax"),
    )
    return Model(layers, InputSpec("tokens", v), name="full",
                 metadata={"source": "test", "nested": {"a": [1, 2.5, None, True]}}).validate()


def assert_models_identical(a: Model, b: Model) -> None:
    assert (a.name, a.input, a.metadata) == (b.name, b.input, b.metadata)
    assert [lay.kind for lay in a.layers] == [lay.kind for lay in b.layers]
    for la, lb in zip(a.layers, b.layers):
        assert type(la) is type(lb) and la.name == lb.name and la.attrs() == lb.attrs()
        ta, tb = dict(la.tensors()), dict(lb.tensors())
        assert ta.keys() == tb.keys()
        for k in ta:
            assert ta[k].quant == tb[k].quant
            assert ta[k].data.dtype == tb[k].data.dtype == np.float64
            # bit-exact, including the sign of zero
            assert ta[k].data.tobytes() == tb[k].data.tobytes()
        ba, bb = dict(la.batchnorms()), dict(lb.batchnorms())
        assert ba.keys() == bb.keys()
        for k in ba:
            assert ba[k].eps == bb[k].eps
            for part in ("gamma", "beta", "mean", "var"):
                assert ba[k].arrays()[part].tobytes() == bb[k].arrays()[part].tobytes()


def test_round_trip_is_exact(tmp_path):
    model = full_model()
    out = save_model(model, tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "weights.npz"]
    for path in (out, out / "model.json"):
        assert_models_identical(model, load_native(path))
    assert_models_identical(model, load_model(out))


@given(data=hnp.arrays(np.float64, (8, 2), elements=st.floats(allow_nan=False, allow_infinity=False, width=64)))
def test_round_trip_any_finite_values(tmp_path_factory, data):
    lin = Linear("fc", in_size=2, out_size=8, weight=Tensor(data), bias=Tensor(data[:, 0].copy()))
    model = Model((lin,), InputSpec("features", 2))
    path = tmp_path_factory.mktemp("rt") / "m"
    save_model(model, path)
    assert_models_identical(model, load_native(path))


def test_save_refuses_existing_and_force_overwrites(tmp_path):
    model = full_model()
    path = save_model(model, tmp_path / "m")
    with pytest.raises(OutputExistsError, match="already exists"):
        save_model(model, path)
    smaller = model.with_layers(model.layers[:2])
    save_model(smaller, path, force=True)
    assert len(load_native(path)) == 2


def test_save_rejects_bad_models_and_leaves_nothing(tmp_path):
    nan = Linear("fc", in_size=2, out_size=1, weight=Tensor(np.array([[np.nan, 1.0]])))
    with pytest.raises(InvalidWeightsError, match="NaN"):
        save_model(Model((nan,), InputSpec("features", 2)), tmp_path / "nan")
    ok = Linear("fc", in_size=2, out_size=1, weight=Tensor(np.ones((1, 2))))
    with pytest.raises(SCValueError, match="metadata"):
        save_model(Model((ok,), InputSpec("features", 2), metadata={"x": object()}), tmp_path / "meta")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- bad input


@pytest.fixture
def saved(tmp_path):
    return save_model(full_model(), tmp_path / "m")


def _edit_manifest(path, edit) -> None:
    manifest = json.loads((path / "model.json").read_text())
    edit(manifest)
    (path / "model.json").write_text(json.dumps(manifest))


def _rewrite_npz(path, change) -> None:
    with np.load(path / "weights.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(path / "weights.npz", **arrays)


@pytest.mark.parametrize("text, match", [
    ('{"format": "sccompiler-model", "version": 1, "layers": [', "malformed JSON at line 1"),
    ("", "malformed JSON"),
    ("[1, 2]", "top level must be a JSON object"),
    ('{"format": "other", "version": 1}', "format is 'other'"),
    ('{"format": "sccompiler-model", "version": 2}', "version 2 is not supported"),
])
def test_bad_manifest_text(saved, text, match):
    (saved / "model.json").write_text(text)
    with pytest.raises(ModelFormatError, match=match) as err:
        load_native(saved)
    assert "model.json" in str(err.value) and "\n" not in str(err.value)


def test_truncated_manifest(saved):
    text = (saved / "model.json").read_text()
    (saved / "model.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelFormatError, match="model.json: malformed JSON"):
        load_native(saved)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.pop("layers"), "missing key 'layers'"),
    (lambda m: m.pop("input"), "missing key 'input'"),
    (lambda m: m["layers"][1].pop("name"), r"layers\[1\]: missing key 'name'"),
    (lambda m: m["layers"][1].pop("tensors"), "missing key 'tensors'"),
    (lambda m: m["layers"][1].pop("hidden_size"), "layer 'lstm': missing key 'hidden_size'"),
    (lambda m: m["layers"][1].update(kind="conv"), "unknown layer kind 'conv'"),
    (lambda m: m["layers"][1].update(dilation=2), "unknown attribute 'dilation'"),
    (lambda m: m["layers"][1].update(hidden_size="4"), "'hidden_size' must be an integer"),
    (lambda m: m["layers"][1].update(hidden_size=True), "'hidden_size' must be an integer"),
    (lambda m: m["layers"][2].update(linear_before_reset=0), "'linear_before_reset' must be a boolean"),
    (lambda m: m["layers"][1]["tensors"]["w_ih"].pop("key"), "tensor w_ih: missing key 'key'"),
    (lambda m: m["layers"][1]["tensors"]["w_ih"].update(shape=[16, 4]),
     r"shape \(16, 3\) but model.json says \(16, 4\)"),
    (lambda m: m["layers"][1]["tensors"]["w_ih"].update(key="nope"), "array 'nope'"),
    (lambda m: m["layers"][1]["tensors"]["w_ih"]["quant"].update(colour=1), "quant must be an object"),
    (lambda m: m["layers"][1]["tensors"].update(w_xx={}), "unknown tensor 'w_xx'"),
    (lambda m: m["layers"][1]["batchnorms"]["bn_c"].pop("mean"), "batch norm bn_c: missing key 'mean'"),
])
def test_bad_manifest_content(saved, edit, match):
    _edit_manifest(saved, edit)
    with pytest.raises(ModelFormatError, match=match) as err:
        load_native(saved)
    assert "\n" not in str(err.value)


def test_weights_missing_truncated_or_garbage(saved):
    data = (saved / "weights.npz").read_bytes()
    (saved / "weights.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="weights.npz: unreadable NPZ"):
        load_native(saved)
    (saved / "weights.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ModelFormatError, match="weights.npz: unreadable NPZ"):
        load_native(saved)
    (saved / "weights.npz").unlink()
    with pytest.raises(ModelFormatError, match="weights.npz: weights file not found"):
        load_native(saved)


def test_pickled_array_is_refused(saved):
    _rewrite_npz(saved, lambda a: a.update({"layer0.weight": np.array([{"evil": 1}], dtype=object)}))
    with pytest.raises(ModelFormatError, match="weights.npz"):
        load_native(saved)


def test_corrupt_member_in_npz(saved):
    with zipfile.ZipFile(saved / "weights.npz", "w") as zf:
        zf.writestr("layer0.weight.npy", b"\x93NUMPY garbage")
    with pytest.raises(ModelFormatError, match="unreadable NPZ"):
        load_native(saved)


def test_nan_weights_in_file(saved):
    def poison(arrays):
        arrays["layer4.weight"] = arrays["layer4.weight"].copy()
        arrays["layer4.weight"][0, 0] = np.inf
    _rewrite_npz(saved, poison)
    with pytest.raises(InvalidWeightsError, match=r"layer 'fc': tensor weight has 1 NaN/inf"):
        load_native(saved)


def test_not_a_native_path(tmp_path):
    with pytest.raises(ModelFormatError, match="manifest not found"):
        load_native(tmp_path)
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(ModelFormatError, match="not a native model"):
        load_native(tmp_path / "x.bin")
