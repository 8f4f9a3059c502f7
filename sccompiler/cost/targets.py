"""Technology descriptions ("targets") as data: load by name or file, validate, expose as frozen
dataclasses.

A NAME is looked up in the package's ``sccompiler/cost/targets/`` directory (the one copy of the
bundled targets: it ships with the wheel, so a checkout and an installed package resolve a NAME the
same way); anything that contains a path separator or ends in ``.json`` is read as a FILE.  The schema is documented in
docs/cost-model.md; every malformed or missing field raises :class:`ConfigError` naming the file and
the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Union

from ..errors import ConfigError
from .primitives import CELL_TYPES

SCHEMA_VERSION = 1
PACKAGE_TARGETS = Path(__file__).resolve().parent / "targets"


@dataclass(frozen=True)
class AsicTarget:
    """Generic standard-cell technology: GE per cell type, NAND2 area, energies, clock."""

    name: str
    description: str
    node: str
    nand2_area_um2: float
    cells: Mapping[str, float]
    toggle_fj_per_ge: float
    dff_clock_fj: float
    memory_read_fj_per_bit: float
    leakage_nw_per_ge: float
    clock_mhz: float
    source: str = field(default="", compare=False)
    kind: str = "asic"


@dataclass(frozen=True)
class FpgaTarget:
    """LUT-based FPGA: LUT size and counting rules, carry blocks, memories, energies, fmax."""

    name: str
    description: str
    lut_inputs: int
    dual_output_max_inputs: int
    gates2_per_lut: int
    carry_bits_per_block: int
    lutram_bits_per_lut: int
    table_lutram_max_bits: int
    bram_bits: int
    ffs_per_lut: int
    lut_toggle_fj: float
    ff_clock_fj: float
    bram_read_fj_per_bit: float
    static_uw_per_lut: float
    fmax_mhz: float
    source: str = field(default="", compare=False)
    kind: str = "fpga"

    @property
    def clock_mhz(self) -> float:
        return self.fmax_mhz

    def luts_for_function(self, inputs: int) -> int:
        """LUTs for one single-output function of ``inputs`` inputs: 1 if it fits a LUT, else a
        reduction chain ceil((k-1)/(K-1)) (each further LUT takes the previous output + K-1 new
        inputs: exact for AND/OR/XOR/threshold-like functions, a lower bound for arbitrary ones)."""
        k, lut = int(inputs), self.lut_inputs
        if k <= lut:
            return 1
        return -(-(k - 1) // (lut - 1))


Target = Union[AsicTarget, FpgaTarget]


def available_targets() -> list[str]:
    """Names of the bundled targets (``sccompiler/cost/targets/*.json``)."""
    return sorted(p.stem for p in PACKAGE_TARGETS.glob("*.json"))


def _resolve(name_or_path: str | os.PathLike) -> Path:
    s = os.fspath(name_or_path)
    if not s:
        raise ConfigError("target: empty name")
    if s.endswith(".json") or os.sep in s or (os.altsep and os.altsep in s):
        p = Path(s)
        if not p.is_file():
            raise ConfigError(f"target file {s} does not exist")
        return p
    p = PACKAGE_TARGETS / f"{s}.json"
    if p.is_file():
        return p
    raise ConfigError(f"unknown target {s!r}; available: {', '.join(available_targets()) or 'none'} "
                      "(or give a path to a .json file)")


class _Fields:
    """Typed access to a JSON object with errors naming the file and the dotted field."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data, self.where = data, where

    def _raw(self, path: str) -> Any:
        cur: Any = self.data
        for part in path.split("."):
            if not isinstance(cur, dict) or part not in cur:
                raise ConfigError(f"{self.where}: missing field {path!r}")
            cur = cur[part]
        return cur

    def str(self, path: str) -> str:
        v = self._raw(path)
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{self.where}: field {path!r} must be a non-empty string, got {v!r}")
        return v

    def num(self, path: str, *, positive: bool = True, allow_zero: bool = False) -> float:
        v = self._raw(path)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"),):
            raise ConfigError(f"{self.where}: field {path!r} must be a finite number, got {v!r}")
        if positive and (v < 0 or (v == 0 and not allow_zero)):
            need = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"{self.where}: field {path!r} must be {need}, got {v!r}")
        return float(v)

    def int(self, path: str, lo: int = 1) -> int:
        v = self._raw(path)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"{self.where}: field {path!r} must be an integer >= {lo}, got {v!r}")
        return v


def target_from_dict(data: Any, where: str = "<dict>") -> Target:
    """Validate a parsed target description and build its dataclass."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a target must be a JSON object")
    f = _Fields(data, where)
    version = f.int("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(f"{where}: schema_version {version} is not supported (expected {SCHEMA_VERSION})")
    kind = f.str("kind")
    name = f.str("name")
    description = f.str("description")
    units = f._raw("units")
    if not isinstance(units, dict) or not units:
        raise ConfigError(f"{where}: field 'units' must be a non-empty object")
    if kind == "asic":
        cells = f._raw("cells")
        if not isinstance(cells, dict):
            raise ConfigError(f"{where}: field 'cells' must be an object of cell type -> GE")
        missing = [c for c in CELL_TYPES if c not in cells]
        if missing:
            raise ConfigError(f"{where}: cells lacks {', '.join(missing)}")
        unknown = sorted(set(cells) - set(CELL_TYPES))
        if unknown:
            raise ConfigError(f"{where}: unknown cell type(s) {', '.join(unknown)}; known: {', '.join(CELL_TYPES)}")
        ge = {c: f.num(f"cells.{c}") for c in CELL_TYPES}
        return AsicTarget(
            name=name, description=description, node=f.str("node"),
            nand2_area_um2=f.num("nand2_area_um2"), cells=MappingProxyType(ge),
            toggle_fj_per_ge=f.num("energy.toggle_fj_per_ge", allow_zero=True),
            dff_clock_fj=f.num("energy.dff_clock_fj", allow_zero=True),
            memory_read_fj_per_bit=f.num("energy.memory_read_fj_per_bit", allow_zero=True),
            leakage_nw_per_ge=f.num("energy.leakage_nw_per_ge", allow_zero=True),
            clock_mhz=f.num("clock_mhz"), source=where)
    if kind == "fpga":
        lut = f.int("lut.inputs", 2)
        dual = f.int("lut.dual_output_max_inputs", 0)
        if dual > lut:
            raise ConfigError(f"{where}: lut.dual_output_max_inputs ({dual}) > lut.inputs ({lut})")
        return FpgaTarget(
            name=name, description=description, lut_inputs=lut, dual_output_max_inputs=dual,
            gates2_per_lut=f.int("lut.gates2_per_lut"), carry_bits_per_block=f.int("carry.bits_per_block"),
            lutram_bits_per_lut=f.int("memory.lutram_bits_per_lut"),
            table_lutram_max_bits=f.int("memory.table_lutram_max_bits", 0),
            bram_bits=f.int("memory.bram_bits"), ffs_per_lut=f.int("area.ffs_per_lut"),
            lut_toggle_fj=f.num("energy.lut_toggle_fj", allow_zero=True),
            ff_clock_fj=f.num("energy.ff_clock_fj", allow_zero=True),
            bram_read_fj_per_bit=f.num("energy.bram_read_fj_per_bit", allow_zero=True),
            static_uw_per_lut=f.num("energy.static_uw_per_lut", allow_zero=True),
            fmax_mhz=f.num("fmax_mhz"), source=where)
    raise ConfigError(f"{where}: field 'kind' must be 'asic' or 'fpga', got {kind!r}")


def load_target(name_or_path: str | os.PathLike | Target = "asic-generic") -> Target:
    """Load a target by NAME (``sccompiler/cost/targets/NAME.json``) or by FILE path; a target
    object is returned unchanged."""
    if isinstance(name_or_path, (AsicTarget, FpgaTarget)):
        return name_or_path
    path = _resolve(name_or_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read target file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return target_from_dict(data, str(path))
