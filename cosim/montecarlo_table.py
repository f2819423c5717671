"""Read a macro's bit-error table (``characterization/montecarlo/<macro>.csv`` + ``.json``, written by
`cosim characterize --monte-carlo`) into typed rows.

Rates are per bit and per operation at a grid corner, never interpolated: a corner the table lacks is refused. The
file is checked against its provenance (sha256, row count) and every row against what a Monte Carlo can give
(cosim.characterize.mc_table.check_mc_rows) before anything is read; a missing or damaged file is one line.
docs/monte-carlo.md says what each column means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from cosim.characterize.mc_table import OPS, mc_table_path, read_mc_table
from cosim.errors import TableRangeError
from cosim.types import Corner


@dataclass(frozen=True)
class BerRow:
    """One op at one corner. ``rate`` = failures / bits (plain Monte Carlo) with its Clopper-Pearson interval
    [rate_lo, rate_hi]; ``tail_rate`` the normal-tail estimate P(margin < 0) with its bootstrap interval (NaN where
    status is "no_tail"); margins in ``margin_unit`` (s for writes, V for reads)."""

    macro: str
    process: str
    vdd_v: float
    temp_c: float
    op: str
    period_s: float
    samples: int
    bits: int
    excluded: int  #: writes not judged: the cell already held the written value when the write began
    failures: int
    rate: float
    rate_lo: float
    rate_hi: float
    tail_rate: float
    tail_lo: float
    tail_hi: float
    margin_mean: float
    margin_sigma: float
    margin_unit: str
    censored: int
    status: str
    message: str
    key: str

    @property
    def corner(self) -> Corner:
        return Corner(self.process, self.vdd_v, self.temp_c)


_INTS = {"samples", "bits", "excluded", "failures", "censored"}
_STRS = {"macro", "process", "op", "margin_unit", "status", "message", "key"}


def _row(record: dict) -> BerRow:
    values = {}
    for f in fields(BerRow):
        v = record[f.name]
        if f.name in _STRS:
            values[f.name] = "" if isinstance(v, float) and math.isnan(v) else str(v)
        elif f.name in _INTS:
            values[f.name] = int(v)
        else:
            values[f.name] = float(v)
    return BerRow(**values)


@dataclass(frozen=True)
class BerTable:
    path: Path
    rows: tuple[BerRow, ...]
    provenance: Mapping

    @classmethod
    def load(cls, path: Path) -> "BerTable":
        """Raises cosim.errors.TableIntegrityError (one line) for a missing, cut-short, edited or impossible table."""
        _, frame, prov = read_mc_table(Path(path))
        return cls(Path(path), tuple(_row(r) for r in frame.to_dict("records")), MappingProxyType(prov))

    @classmethod
    def for_macro(cls, characterization_dir: Path, macro: str) -> "BerTable":
        return cls.load(mc_table_path(characterization_dir, macro))

    @property
    def macro(self) -> str:
        return str(self.provenance.get("macro", ""))

    def corners(self) -> tuple[Corner, ...]:
        return tuple(dict.fromkeys(r.corner for r in self.rows))

    def at(self, corner: Corner) -> dict[str, BerRow]:
        """op -> row at a corner of the table; TableRangeError (one line) elsewhere."""
        rows = {r.op: r for r in self.rows if r.corner.name == corner.name}
        if not rows:
            held = ", ".join(c.name for c in self.corners()) or "none"
            raise TableRangeError(f"{self.path}: no Monte Carlo at {corner.name} (rates are not interpolated; the table "
                                  f"holds {held}): run cosim characterize --monte-carlo --process {corner.process} "
                                  f"--vdd {corner.vdd_v:g} --temp {corner.temp_c:g}")  # fmt: skip
        return rows

    def row(self, corner: Corner, op: str) -> BerRow:
        if op not in OPS:
            raise TableRangeError(f"unknown Monte Carlo op {op!r}: one of {', '.join(OPS)}")
        return self.at(corner)[op]
