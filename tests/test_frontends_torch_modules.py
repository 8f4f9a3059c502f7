"""torch modules are imported through their real computation (an internal ONNX export checked
against the module): every guess-prone pattern either matches torch on fresh inputs or is refused,
never guessed."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.errors import ModelFormatError, UnsupportedOpError
from sccompiler.frontends import load_model, load_torch
from sccompiler.ir import LSTM, Activation, Linear
from sccompiler.reference import forward
from sccompiler.testing import require_torch

#: the reference forward in float64 against torch in float64
ATOL = 1e-5


@pytest.fixture(scope="module")
def torch():
    return require_torch()


def _module(torch, body, *, emb: bool = False, batch_first: bool = True, head_first: bool = False):
    """An LSTM with a Linear head (registered before the LSTM when ``head_first``), forward ``body``."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if head_first:
                self.fc = nn.Linear(6, 3)
            if emb:
                self.emb = nn.Embedding(9, 4)
            self.lstm = nn.LSTM(4, 6, batch_first=batch_first)
            if not head_first:
                self.fc = nn.Linear(6, 3)

        def forward(self, x):
            return body(self, torch, self.emb(x) if emb else x)

    torch.manual_seed(0)
    return Net().eval()


def _torch_out(torch, module, x):
    with torch.no_grad():
        return module.double()(x.double() if x.is_floating_point() else x).numpy()


#: (id, forward body, options, expected: "match" or the refusal's message fragment)
PATTERNS = [
    ("plain", lambda m, t, x: m.fc(m.lstm(x)[0]), {}, "match"),
    ("functional-tanh", lambda m, t, x: m.fc(t.tanh(m.lstm(x)[0])), {}, "match"),
    ("functional-sigmoid", lambda m, t, x: t.sigmoid(m.fc(m.lstm(x)[0])), {}, "match"),
    ("head-registered-first", lambda m, t, x: m.fc(m.lstm(x)[0]), {"head_first": True}, "match"),
    ("time-major", lambda m, t, x: m.fc(m.lstm(x)[0]), {"batch_first": False}, "match"),
    ("embedding", lambda m, t, x: m.fc(m.lstm(x)[0]), {"emb": True}, "match"),
    ("scaled-output", lambda m, t, x: m.fc(m.lstm(x)[0]) * 0.5, {}, "Mul"),
    ("residual", lambda m, t, x: m.fc(m.lstm(x)[0] + 1.0), {}, "Add"),
    ("mean-over-time", lambda m, t, x: m.fc(m.lstm(x)[0].mean(dim=1)), {}, "ReduceMean"),
    ("reversed-time", lambda m, t, x: m.fc(m.lstm(t.flip(x, [1]))[0]), {}, None),
]


@pytest.mark.parametrize("pid, body, opts, expected", PATTERNS, ids=[p[0] for p in PATTERNS])
def test_guess_prone_module_matches_torch_or_is_refused(torch, pid, body, opts, expected):
    module = _module(torch, body, **opts)
    try:
        model = load_model(module)
    except (UnsupportedOpError, ModelFormatError) as exc:
        assert expected != "match", f"{pid}: refused ({exc})"
        if expected is not None:
            assert expected in str(exc)
        return
    assert expected in ("match", None), f"{pid}: imported, but {expected!r} should have been refused"
    # fresh inputs of another batch and length than the export's example
    gen = torch.Generator().manual_seed(1)
    if opts.get("emb"):
        x = torch.randint(0, 9, (2, 7), generator=gen)
        xi = x.numpy()
    else:
        x = torch.randn(2, 7, 4, generator=gen, dtype=torch.float64)
        xi = x.numpy()
        if opts.get("batch_first") is False:
            x = x.transpose(0, 1)
    want = _torch_out(torch, module, x)
    if opts.get("batch_first") is False:
        want = want.transpose(1, 0, 2)
    np.testing.assert_allclose(forward(model, xi), want, atol=ATOL)
    assert model.metadata["torch"]["import"] == "onnx-export"
    assert model.metadata["torch"]["max_error_vs_torch"] < 1e-6


def test_functional_tanh_and_order_are_the_computation(torch):
    """What the former registration-order walk got wrong: the head registered first is still applied
    last, and a functional torch.tanh becomes a layer."""
    module = _module(torch, lambda m, t, x: m.fc(t.tanh(m.lstm(x)[0])), head_first=True)
    model = load_model(module)
    assert [type(lay) for lay in model.layers] == [LSTM, Activation, Linear]
    assert model.layers[1].function == "tanh"
    assert [model.layers[0].name, model.layers[2].name] == ["lstm", "fc"]   # module paths kept


def test_refused_before_export(torch):
    nn = torch.nn

    class Renorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(9, 4, max_norm=1.0)
            self.lstm = nn.LSTM(4, 6, batch_first=True)

        def forward(self, x):
            return self.lstm(self.emb(x))[0]

    before = Renorm().emb.weight.detach().clone()
    with pytest.raises(UnsupportedOpError, match="max_norm"):
        load_model(Renorm())
    for bad, match in ((nn.LSTM(3, 4, bidirectional=True, proj_size=2), "proj_size"),
                       (nn.LSTM(3, 4, proj_size=2), "proj_size")):
        with pytest.raises(UnsupportedOpError, match=match):
            load_model(bad)
    assert before.shape == (9, 4)


def test_multiple_outputs_and_example_input(torch):
    module = _module(torch, lambda m, t, x: (m.fc(m.lstm(x)[0]), m.lstm(x)[1][0]))
    with pytest.raises(UnsupportedOpError, match="returns 2 tensors"):
        load_model(module)
    # a bare LSTM is its output sequence; an explicit example input is used for export and check
    lstm = torch.nn.LSTM(4, 6, batch_first=True).train()
    model = load_torch(lstm, example_input=torch.randn(2, 9, 4))
    assert model.metadata["torch"]["example_shape"] == [2, 9, 4]
    assert lstm.training                                    # the caller's mode is restored
    with pytest.raises(ModelFormatError, match="nn.Module only"):
        load_torch(lstm.state_dict(), example_input=np.zeros((1, 2, 4)))


def test_state_dict_embedding_under_another_name_is_a_clear_error(torch):
    rnn = torch.nn.LSTM(4, 6, batch_first=True).state_dict()
    sd = {"tok.weight": torch.randn(9, 4), **{f"lstm.{k}": v for k, v in rnn.items()}}
    with pytest.raises(ModelFormatError, match="like an embedding table; pass input_kind='tokens'"):
        load_model(sd)
    assert [lay.kind for lay in load_model(sd, input_kind="tokens").layers] == ["embedding", "lstm"]
