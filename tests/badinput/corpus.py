"""The project's bad-input corpus: one compact row per case (id, how to build it, what must happen).

Every row is replayed by ``test_corpus.py`` through the real CLI (in process): a rejected input
must give exactly one ``error:`` line, a non-zero exit code, no traceback, no file left behind
and no change to files that existed; an accepted input exit 0.  Each builder gets the case's
working directory ``w`` (holding a valid model ``w/m``, inputs ``w/x.npy`` and, when the row asks
for it, a compiled design ``w/d``) and returns the ``scc`` argv.  Classes: ``write`` (unsafe
writes / output paths), ``inject`` (names reaching RTL or paths), ``trace`` (former tracebacks),
``accept`` (former silent acceptance of wrong input), ``hang``, ``npz``.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from sccompiler.frontends.native import save_model
from sccompiler.ir.model import LSTM, InputSpec, Model, Tensor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FAST = ["--length", "32", "--disable", "correlation_report", "--disable", "cost", "--disable", "accuracy_report"]


def tiny_model() -> Model:
    rng = np.random.default_rng(0)
    H, fin = 4, 3
    w = lambda *s: Tensor(np.where(rng.random(s) < 0.5, -0.4, 0.4))  # noqa: E731
    return Model((LSTM("lstm0", input_size=fin, hidden_size=H, w_ih=w(4 * H, fin), w_hh=w(4 * H, H),
                       b_ih=Tensor(rng.normal(0, 0.3, 4 * H))),), InputSpec("features", fin), "tiny")


def setup_dir(w: Path) -> None:
    save_model(tiny_model(), w / "m")
    np.save(w / "x.npy", np.random.default_rng(1).uniform(-1, 1, (2, 3, 3)))


# ------------------------------------------------------------------------------ helpers
def edit_manifest(w: Path, fn, name: str = "m2") -> Path:
    dst = w / name
    shutil.copytree(w / "m", dst)
    doc = json.loads((dst / "model.json").read_text())
    fn(doc)
    (dst / "model.json").write_text(json.dumps(doc))
    return dst


def set_layer(key, value):
    def fn(doc):
        doc["layers"][0][key] = value
    return fn


def set_quant(**kw):
    def fn(doc):
        doc["layers"][0]["tensors"]["w_ih"]["quant"].update(kw)
    return fn


def rewrite_npz(path: Path, extra: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "a") as zf:
        for k, v in extra.items():
            zf.writestr(k, v)


def npy_header(shape, dtype="<f8") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def replace_member(path: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    items[member] = data
    with zipfile.ZipFile(path, "w") as zf:
        for n, v in items.items():
            zf.writestr(n, v)


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def fifo(w: Path, name: str) -> Path:
    p = w / name
    os.mkfifo(p)
    return p


def design_copy(w: Path, fn) -> Path:
    dst = w / "d2"
    shutil.copytree(w / "d", dst)
    fn(dst)
    return dst


def edit_design(fn, legacy: bool = False):
    """Edit design.json; ``legacy``: also drop its digest (a design written before digests)."""
    def inner(d: Path):
        doc = json.loads((d / "design.json").read_text())
        fn(doc)
        if legacy:
            doc.pop("digest", None)
        (d / "design.json").write_text(json.dumps(doc))
    return inner


def onnx_variant(w: Path, fixture: str, fn) -> Path:
    import onnx  # noqa: PLC0415

    m = onnx.load(str(FIXTURES / fixture))
    fn(m)
    p = w / "v.onnx"
    onnx.save(m, str(p))
    return p


def onnx_attr(op: str, name: str, value):
    def fn(m):
        from onnx import helper  # noqa: PLC0415

        node = next(n for n in m.graph.node if n.op_type == op)
        for a in list(node.attribute):
            if a.name == name:
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute(name, value))
    return fn


def onnx_int_weights(m):
    from onnx import numpy_helper  # noqa: PLC0415

    for k, t in enumerate(m.graph.initializer):
        if t.name == "W":
            m.graph.initializer[k].CopyFrom(numpy_helper.from_array(
                np.rint(numpy_helper.to_array(t)).astype(np.int64), "W"))


def onnx_input_width(m):
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 7


def onnx_opset(m):
    m.opset_import[0].version = 99


def poison_cache(w: Path) -> None:
    (w / "cache" / "fsm").mkdir(parents=True)


def edit_verify_manifest(**changes):
    """Change keys of the emitted tb/manifest.json (the rest stays valid)."""
    def fn(d: Path):
        path = d / "tb" / "manifest.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return fn


def verify_manifest(doc):
    def fn(d: Path):
        (d / "tb" / "manifest.json").write_text(json.dumps(doc) if not isinstance(doc, bytes) else "")
    return fn


LATIN1 = "schedule: {metric: mean_abs}\n# caf\xe9\n".encode("latin-1")
M = "{w}/m"

# ------------------------------------------------------------------------------ the table
#: (id, class, needs a compiled design, builder(w) -> argv, expected exit 0?, message fragment)
CASES: list[tuple] = [
    # --- unsafe writes and output paths
    ("compile-out-under-file", "write", False,
     lambda w: ((w / "f").write_text("x"), ["compile", str(w / "m"), "-o", str(w / "f" / "out"), *FAST])[1],
     False, "not a directory"),
    ("compile-out-in-proc", "write", False, lambda w: ["compile", str(w / "m"), "-o", "/proc/scc-out", *FAST],
     False, "/proc/scc-out"),
    ("compile-out-exists", "write", False,
     lambda w: ((w / "o").mkdir(), ["compile", str(w / "m"), "-o", str(w / "o"), *FAST])[1], False, "--force"),
    ("compile-out-symlink", "write", False,
     lambda w: ((w / "t").mkdir(), os.symlink(w / "t", w / "o"), ["compile", str(w / "m"), "-o", str(w / "o"),
                                                                  *FAST])[2], False, "already exists"),
    ("compile-out-dangling-symlink", "write", False,
     lambda w: (os.symlink(w / "nowhere", w / "o"), ["compile", str(w / "m"), "-o", str(w / "o"), *FAST])[1],
     False, "already exists"),
    ("baseline-out-is-file", "write", False,
     lambda w: ((w / "f").write_text("x"), ["baseline", str(w / "m"), "-o", str(w / "f")])[1],
     False, "not a directory"),
    ("baseline-out-under-file", "write", False,
     lambda w: ((w / "f").write_text("x"), ["baseline", str(w / "m"), "-o", str(w / "f" / "o")])[1],
     False, "not a directory"),
    ("simulate-save-under-file", "write", False,
     lambda w: ((w / "f").write_text("x"), ["simulate", str(w / "m"), "--inputs", str(w / "x.npy"),
                                             "--length", "16", "--save", str(w / "f" / "y.npy")])[1],
     False, "not a directory"),
    ("simulate-budget-plot-under-file", "write", False,
     lambda w: ((w / "f").write_text("x"), ["simulate", str(w / "m"), "--inputs", str(w / "x.npy"),
                                             "--length", "16", "--error-budget", "--budget-plot",
                                             str(w / "f" / "p.png")])[1],
     False, "not a directory"),
    ("simulate-budget-plot-without-budget", "accept", False,
     lambda w: ["simulate", str(w / "m"), "--inputs", str(w / "x.npy"), "--length", "16", "--budget-plot",
                str(w / "p.png")], False, "need --error-budget"),
    ("fsm-plot-in-proc", "write", False,
     lambda w: ["fsm", "tanh(x)", "-n", "4", "--length", "0", "--plot", "/proc/scc.png"], False, "/proc/scc.png"),
    ("fsm-plot-equals-verilog", "write", False,
     lambda w: ["fsm", "tanh(x)", "-n", "4", "--length", "16", "--plot", str(w / "p.v"), "--verilog",
                str(w / "p.v")], False, "distinct paths"),
    # --- injection: names reaching RTL, reports or paths
    ("native-layer-name-verilog", "inject", False,
     lambda w: ["compile", str(edit_manifest(w, set_layer("name", 'x; initial $system("id"); //'))), "-o",
                str(w / "o"), "--emit", "verilog", *FAST], False, "invalid layer name"),
    ("native-layer-name-dotdot", "inject", False,
     lambda w: ["inspect", str(edit_manifest(w, set_layer("name", "../evil")))], False, "invalid layer name"),
    ("native-layer-name-empty", "inject", False,
     lambda w: ["inspect", str(edit_manifest(w, set_layer("name", "")))], False, "invalid layer name"),
    ("native-layer-name-slash", "inject", False,
     lambda w: ["inspect", str(edit_manifest(w, set_layer("name", "a/b")))], False, "invalid layer name"),
    ("design-layer-name-injected", "inject", True,
     lambda w: ["simulate", str(design_copy(w, edit_design(
         lambda d: d["netlist"]["layers"][0].update(name="a b;$x")))), "--inputs", str(w / "x.npy")],
     False, "error"),
    ("verify-manifest-rtl-traversal", "inject", True,
     lambda w: ["verify", str(design_copy(w, verify_manifest(
         {"top": "sc_design", "testbench": "sc_design_tb", "rtl": ["../../../etc/passwd"]})))], False, "plain .v"),
    ("verify-manifest-size-macros-list", "trace", True,
     lambda w: ["verify", str(design_copy(w, edit_verify_manifest(size_macros=[1]))), "--simulator", "icarus"],
     False, "size_macros"),
    ("verify-manifest-size-macros-injection", "inject", True,
     lambda w: ["verify", str(design_copy(w, edit_verify_manifest(size_macros={"sequences": "A=1 -Dx", "steps": "B"}))),
                "--simulator", "icarus"], False, "size_macros"),
    ("verify-manifest-top-injection", "inject", True,
     lambda w: ["verify", str(design_copy(w, verify_manifest(
         {"top": "x; $system", "testbench": "sc_design_tb", "rtl": ["a.v"]})))], False, "Verilog identifier"),
    # --- former tracebacks
    ("design-json-list", "trace", True,
     lambda w: ["simulate", str(design_copy(w, lambda d: (d / "design.json").write_text("[1, 2]"))),
                "--inputs", str(w / "x.npy")], False, "JSON object"),
    ("design-json-missing-netlist", "trace", True,
     lambda w: ["simulate", str(design_copy(w, edit_design(lambda d: d.pop("netlist")))),
                "--inputs", str(w / "x.npy")], False, "netlist"),
    ("design-json-netlist-wrong-type", "trace", True,
     lambda w: ["simulate", str(design_copy(w, edit_design(lambda d: d["netlist"].update(nodes=5)))),
                "--inputs", str(w / "x.npy")], False, "digest mismatch"),
    ("design-arrays-edited", "trace", True,
     lambda w: ["simulate", str(design_copy(w, lambda d: np.savez(d / "arrays.npz", a=np.zeros(3)))),
                "--inputs", str(w / "x.npy")], False, "digest mismatch"),
    ("legacy-design-netlist-wrong-type", "trace", True,
     lambda w: ["simulate", str(design_copy(w, edit_design(lambda d: d["netlist"].update(nodes=5), True))),
                "--inputs", str(w / "x.npy")], False, "malformed netlist"),
    ("legacy-design-layer-name-injected", "inject", True,
     lambda w: ["simulate", str(design_copy(w, edit_design(
         lambda d: d["netlist"]["layers"][0].update(name="a b;$x"), True))), "--inputs", str(w / "x.npy")],
     False, "invalid layer name"),
    ("legacy-design-param-wrong-type", "trace", True,
     lambda w: ["simulate", str(design_copy(w, edit_design(
         lambda d: [n["params"].update(repeat=[1]) for n in d["netlist"]["nodes"] if "repeat" in n["params"]],
         True))), "--inputs", str(w / "x.npy")], False, "inconsistent"),
    ("design-arrays-corrupt", "trace", True,
     lambda w: ["simulate", str(design_copy(w, lambda d: (d / "arrays.npz").write_bytes(b"PK\x03\x04junk"))),
                "--inputs", str(w / "x.npy")], False, "arrays.npz"),
    ("design-report-latin1", "trace", True,
     lambda w: ["simulate", str(design_copy(w, lambda d: (d / "report.json").write_bytes(b'{"a": "\xe9"}'))),
                "--inputs", str(w / "x.npy")], False, "UTF-8"),
    ("design-json-nested", "trace", True,
     lambda w: ["simulate", str(design_copy(w, lambda d: (d / "design.json").write_text(nested_json(100000)))),
                "--inputs", str(w / "x.npy")], False, "nested"),
    ("verify-manifest-garbage", "trace", True,
     lambda w: ["verify", str(design_copy(w, lambda d: (d / "tb" / "manifest.json").write_bytes(b"\xff\x00")))],
     False, "UTF-8"),
    ("verify-manifest-list", "trace", True,
     lambda w: ["verify", str(design_copy(w, verify_manifest([1])))], False, "JSON object"),
    ("config-schedule-int", "trace", False,
     lambda w: ((w / "c.yaml").write_text("schedule: 3\n"), ["compile", M.format(w=w), "-o", str(w / "o"),
                                                               "--config", str(w / "c.yaml"), *FAST])[1],
     False, "schedule"),
    ("config-disable-int", "trace", False,
     lambda w: ((w / "c.yaml").write_text("disable: 5\n"), ["compile", M.format(w=w), "-o", str(w / "o"),
                                                              "--config", str(w / "c.yaml"), *FAST])[1],
     False, "disable"),
    ("config-latin1", "trace", False,
     lambda w: ((w / "c.yaml").write_bytes(LATIN1), ["compile", M.format(w=w), "-o", str(w / "o"),
                                                       "--config", str(w / "c.yaml"), *FAST])[1], False, "UTF-8"),
    ("config-layers-int", "trace", False,
     lambda w: ((w / "c.json").write_text('{"layers": {"lstm0": 3}}'), ["compile", M.format(w=w), "-o",
                                                                          str(w / "o"), "--config",
                                                                          str(w / "c.json"), *FAST])[1],
     False, "layers"),
    ("config-flow-dict", "trace", False,     # found by the campaign
     lambda w: ((w / "c.json").write_text('{"flow": {"a": 1}}'), ["compile", M.format(w=w), "-o", str(w / "o"),
                                                                    "--config", str(w / "c.json"), *FAST])[1],
     False, "flow"),
    ("design-param-wrong-type-digest", "trace", True,
     lambda w: ["simulate", str(design_copy(w, edit_design(
         lambda d: [n["params"].update(repeat=[1]) for n in d["netlist"]["nodes"] if "repeat" in n["params"]]))),
         "--inputs", str(w / "x.npy")], False, "digest mismatch"),
    ("inputs-npy-tokenize-error", "trace", False,    # found by the campaign: numpy's header parser raised TokenError
     lambda w: ((w / "e.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8\n"),
                ["simulate", M.format(w=w), "--inputs", str(w / "e.npy")])[1], False, "--inputs"),
    ("config-defaults-list", "trace", False,
     lambda w: ((w / "c.json").write_text('{"defaults": [1]}'), ["compile", M.format(w=w), "-o", str(w / "o"),
                                                                   "--config", str(w / "c.json"), *FAST])[1],
     False, "defaults"),
    ("config-nested-json", "trace", False,
     lambda w: ((w / "c.json").write_text('{"a": ' + nested_json(100000) + "}"),
                ["compile", M.format(w=w), "-o", str(w / "o"), "--config", str(w / "c.json"), *FAST])[1],
     False, "nested"),
    ("config-yaml-python-tag", "inject", False,
     lambda w: ((w / "c.yaml").write_text("!!python/object/apply:os.system ['id']\n"),
                ["compile", M.format(w=w), "-o", str(w / "o"), "--config", str(w / "c.yaml"), *FAST])[1],
     False, "cannot parse config"),
    ("native-nested-metadata", "trace", False,
     lambda w: ["inspect", str(_nested_manifest(w))], False, "nested"),
    ("native-nan-levels", "trace", False,
     lambda w: ["inspect", str(_nan_levels(w))], False, "non-finite"),
    ("native-npz-huge-header", "trace", False,
     lambda w: ["inspect", str(_huge_member(w))], False, "exceeds the limit"),
    ("simulate-length-huge", "trace", False,
     lambda w: ["simulate", M.format(w=w), "--inputs", str(w / "x.npy"), "--length", "16777216"], False,
     "1048576"),
    ("simulate-design-length-huge", "trace", True,
     lambda w: ["simulate", str(w / "d"), "--inputs", str(w / "x.npy"), "--length", "16777216"], False,
     "exceeds the limit"),
    ("train-hidden-huge", "trace", False,
     lambda w: ["train", "--task", "sine", "--hidden", "200000", "-o", str(w / "t")], False, "exceeds the limit"),
    ("train-data-npy", "trace", False,
     lambda w: ["train", "--data", str(w / "x.npy"), "-o", str(w / "t")], False, "unreadable NPZ"),
    ("inputs-empty-npy", "trace", False,
     lambda w: ((w / "e.npy").write_bytes(b""), ["simulate", M.format(w=w), "--inputs", str(w / "e.npy")])[1],
     False, "empty file"),
    ("inputs-text-npy", "trace", False,
     lambda w: ((w / "e.npy").write_text("hello"), ["simulate", M.format(w=w), "--inputs", str(w / "e.npy")])[1],
     False, "--inputs"),
    ("inputs-pickle-npy", "inject", False,
     lambda w: (np.save(w / "e.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True),
                ["simulate", M.format(w=w), "--inputs", str(w / "e.npy")])[1], False, "pickles"),
    ("inputs-npy-huge-header", "trace", False,
     lambda w: ((w / "e.npy").write_bytes(npy_header((100000, 100000, 1000))),
                ["simulate", M.format(w=w), "--inputs", str(w / "e.npy")])[1], False, "exceeds the limit"),
    # --- accepted although wrong
    ("native-quant-int99", "accept", False,
     lambda w: ["inspect", str(edit_manifest(w, set_quant(scheme="int:99")))], False, "unknown quant scheme"),
    ("native-quant-bits0", "accept", False,
     lambda w: ["inspect", str(edit_manifest(w, set_quant(scheme="binary", bits=0)))], False, "quant bits"),
    ("native-quant-bits64", "accept", False,
     lambda w: ["inspect", str(edit_manifest(w, set_quant(scheme="binary", bits=64)))], False, "quant bits"),
    ("native-no-layers", "accept", False,
     lambda w: ["inspect", str(edit_manifest(w, lambda d: d.update(layers=[])))], False, "no layers"),
    ("native-complex-weights", "accept", False, lambda w: ["inspect", str(_complex_weights(w))], False, "complex"),
    ("onnx-input-width-mismatch", "accept", False,
     lambda w: ["inspect", str(onnx_variant(w, "lstm_ternary.onnx", onnx_input_width))], False, "declares 7"),
    ("onnx-int64-weights", "accept", False,
     lambda w: ["inspect", str(onnx_variant(w, "lstm_ternary.onnx", onnx_int_weights))], False, "int64"),
    ("onnx-gru-lbr5", "accept", False,
     lambda w: ["inspect", str(onnx_variant(w, "gru_lbr0.onnx", onnx_attr("GRU", "linear_before_reset", 5)))],
     False, "linear_before_reset"),
    ("onnx-opset99", "accept", False,
     lambda w: ["inspect", str(onnx_variant(w, "lstm_ternary.onnx", onnx_opset))], False, "opset"),
    ("fsm-complex", "accept", False, lambda w: ["fsm", "sqrt(-1)*x", "--length", "0"], False, "complex"),
    ("fsm-log-base0", "accept", False, lambda w: ["fsm", "log(x, 0)", "--length", "0"], False, "log base"),
    ("fsm-log-base1", "accept", False, lambda w: ["fsm", "log(x+2, 1)", "--length", "0"], False, "log base"),
    ("fsm-div-zero", "accept", False, lambda w: ["fsm", "x/0", "--length", "0"], False, "finite"),
    # --- hangs
    ("fsm-tower-power", "hang", False, lambda w: ["fsm", "((9**999)**999)**999", "--length", "0"], False, "digits"),
    ("fsm-huge-literal", "hang", False, lambda w: ["fsm", "9" * 1500 + "*x", "--length", "0"], False, "digits"),
    ("fsm-integral-huge", "hang", False,
     lambda w: ["fsm", "tanh(x)", "--input", "integral:1000000", "--length", "0"], False, "exceeds the limit"),
    ("fsm-integral-absurd", "hang", False,
     lambda w: ["fsm", "tanh(x)", "--input", "integral:" + "9" * 5000, "--length", "0"], False, "exceeds the limit"),
    ("inputs-fifo", "hang", False,
     lambda w: ["simulate", M.format(w=w), "--inputs", str(fifo(w, "p.npy"))], False, "not a regular file"),
    ("calibration-fifo", "hang", False,
     lambda w: ["compile", M.format(w=w), "-o", str(w / "o"), "--calibration", str(fifo(w, "p.npy")), *FAST],
     False, "not a regular file"),
    ("config-fifo", "hang", False,
     lambda w: ["compile", M.format(w=w), "-o", str(w / "o"), "--config", str(fifo(w, "c.json")), *FAST],
     False, "not a regular file"),
    ("native-manifest-fifo", "hang", False,
     lambda w: ["inspect", str(_fifo_manifest(w))], False, "not a regular file"),
    # --- NPZ members
    ("native-unreferenced-member-not-read", "npz", False,
     lambda w: ["inspect", str(_extra_member(w))], True, ""),
    # --- scc explore: VAL.npz and SPACE.yaml
    ("explore-val-no-x", "npz", False,
     lambda w: _explore(w, _val(w, y=np.zeros(2, dtype=np.int64))), False, "no array 'x'"),
    ("explore-val-extra-member", "npz", False,
     lambda w: _explore(w, _val(w, x=_x(), z=np.zeros(1))), False, "unexpected member"),
    ("explore-val-x-wrong-features", "npz", False,
     lambda w: _explore(w, _val(w, x=np.zeros((2, 3, 5)))), False, "feature"),
    ("explore-val-y-nan", "npz", False,
     lambda w: _explore(w, _val(w, x=_x(), y=np.full((2, 3, 4), np.nan))), False, "NaN"),
    ("explore-val-y-shape", "npz", False,
     lambda w: _explore(w, _val(w, x=_x(), y=np.zeros((5,), dtype=np.int64))), False, "cannot tell the task metric"),
    ("explore-val-not-npz", "npz", False,
     lambda w: ((w / "v.npz").write_text("not a zip"), _explore(w, w / "v.npz"))[1], False, "v.npz"),
    ("explore-space-unknown-key", "accept", False,
     lambda w: _explore(w, _val(w, x=_x()), "params: {no_such_key: [1, 2]}\n"), False, "no_such_key"),
    ("explore-space-empty", "accept", False, lambda w: _explore(w, _val(w, x=_x()), "{}\n"), False, "params"),
    ("explore-out-exists", "write", False,
     lambda w: ((w / "o").mkdir(), _explore(w, _val(w, x=_x())))[1], False, "--resume"),
    # --- valid controls (the corpus must not reject good input)
    ("valid-compile-emit", "valid", False,
     lambda w: ["compile", M.format(w=w), "-o", str(w / "o"), "--emit", "verilog", *FAST], True, ""),
    ("valid-fsm", "valid", False, lambda w: ["fsm", "tanh(2*x)", "-n", "4", "--length", "0"], True, ""),
]


def _x() -> np.ndarray:
    return np.random.default_rng(2).uniform(-1, 1, (2, 3, 3))


def _val(w: Path, **members) -> Path:
    np.savez(w / "v.npz", **members)
    return w / "v.npz"


def _explore(w: Path, val: Path, space: str = "params: {length: [16]}\nsampler: grid\n") -> list[str]:
    (w / "space.yaml").write_text(space)
    return ["explore", M.format(w=w), "--space", str(w / "space.yaml"), "--data", str(val), "-o", str(w / "o"),
            "--workers", "1"]


def _nested_manifest(w: Path) -> Path:
    dst = edit_manifest(w, lambda d: None)
    text = (dst / "model.json").read_text()
    (dst / "model.json").write_text(text[:-1] + ', "x": ' + nested_json(100000) + "}")
    return dst


def _nan_levels(w: Path) -> Path:
    dst = edit_manifest(w, lambda d: None)
    doc = json.loads((dst / "model.json").read_text())
    doc["layers"][0]["tensors"]["w_ih"]["quant"].update(scheme="binary", levels=[-0.4, 0.4])
    (dst / "model.json").write_text(json.dumps(doc).replace("[-0.4, 0.4]", "[NaN, 0.4]"))
    return dst


def _huge_member(w: Path) -> Path:
    dst = edit_manifest(w, lambda d: None)
    # declares a 74 GiB array in a few bytes
    replace_member(dst / "weights.npz", "layer0.w_ih.npy", npy_header((100000, 100000)))
    return dst


def _complex_weights(w: Path) -> Path:
    dst = edit_manifest(w, lambda d: None)
    with np.load(dst / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["layer0.w_ih"] = arrays["layer0.w_ih"] + 1j
    np.savez(dst / "weights.npz", **arrays)
    return dst


def _extra_member(w: Path) -> Path:
    dst = edit_manifest(w, lambda d: None)
    # an unreferenced member whose header lies: reading it would fail, so success proves it is not read
    rewrite_npz(dst / "weights.npz", {"junk.npy": npy_header((100000, 100000)) + b"\0" * 64})
    return dst


def _fifo_manifest(w: Path) -> Path:
    dst = edit_manifest(w, lambda d: None)
    (dst / "model.json").unlink()
    os.mkfifo(dst / "model.json")
    return dst
