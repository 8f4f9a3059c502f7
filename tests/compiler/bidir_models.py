"""Small bidirectional LSTM/GRU models built in the IR (fixed seeds) for the compiler and RTL tests."""

from __future__ import annotations

import numpy as np

from sccompiler.ir.model import GRU, LSTM, InputSpec, LastStep, Linear, Model, Tensor

from .models import binary


def bidir_model(kind: str = "lstm", I: int = 3, H: int = 4, seed: int = 0, *, second: bool = False,
                last: bool = False, dense: int = 0, sign: bool = False,
                select: str = "last") -> Model:
    """A bidirectional ``kind`` layer ``rnn`` (optionally sign(h)), then optionally a forward layer
    ``rnn2``, a ``LastStep`` (keeping ``select``) and a binary dense head."""
    rng = np.random.default_rng(seed)
    g = 4 if kind == "lstm" else 3
    cls = LSTM if kind == "lstm" else GRU
    kw: dict = {} if kind == "lstm" else {"linear_before_reset": True}
    if sign:
        kw["hidden_activation"] = "sign"
    t = {}
    for suffix in ("", "_reverse"):
        t |= {f"w_ih{suffix}": binary((g * H, I), rng, 0.4), f"w_hh{suffix}": binary((g * H, H), rng, 0.3),
              f"b_ih{suffix}": Tensor(rng.normal(0, 0.3, g * H))}
    lays: list = [cls("rnn", input_size=I, hidden_size=H, direction="bidirectional", **kw, **t)]
    fin = 2 * H
    if second:
        lays.append(cls("rnn2", input_size=fin, hidden_size=H, w_ih=binary((g * H, fin), rng, 0.4),
                        w_hh=binary((g * H, H), rng, 0.3), b_ih=Tensor(rng.normal(0, 0.3, g * H)), **kw))
        fin = H
    if last:
        lays.append(LastStep("last", select=select))
        if select in ("forward", "backward"):
            fin //= 2
    if dense:
        lays.append(Linear("head", in_size=fin, out_size=dense, weight=binary((dense, fin), rng, 0.2),
                           bias=Tensor(rng.normal(0, 0.1, dense))))
    return Model(tuple(lays), InputSpec("features", I), f"bidir-{kind}")
