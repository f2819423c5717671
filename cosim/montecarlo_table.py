"""Read a macro's bit-error table (``characterization/montecarlo/<macro>.csv`` + ``.json``, written by
`cosim characterize --monte-carlo`) into typed rows.

Rates are per bit and per operation at a grid corner, never interpolated: a corner the table lacks is refused. The
file is checked against its provenance (sha256, row count) and every row against what a Monte Carlo can give
(cosim.characterize.mc_table.check_mc_rows) before anything is read; a missing or damaged file is one line.
docs/monte-carlo.md says what each column means.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from cosim.characterize.mc_table import OPS, mc_table_path, read_mc_table
from cosim.errors import TableRangeError
from cosim.types import Corner

#: op -> the value a cell holds when that op's failure makes it read wrong (a failed write of 1 leaves a 0 where the
#: word holds a 1; a read disturb of 1 leaves the cell at 0 for every later read)
HOLDING = {"write_0to1": 1, "read_1": 1, "read_disturb_1": 1, "write_1to0": 0, "read_0": 0, "read_disturb_0": 0}


#: below this a rate can only be a normal-tail estimate beyond ~7 sigma, where the fitted normal is not credible:
#: the plot draws it on this floor and no supply is read off it
TAIL_FLOOR = 1e-12


def op_rate(row: "BerRow") -> float:
    """One op's rate per cell: the count (less the sense amps' failures), or the tail estimate where that is larger
    (failures below 1/bits)."""
    tail = float(row.tail_rate)
    return max((row.failures - row.sense_failures) / row.bits, tail if math.isfinite(tail) else 0.0)


def sense_rate(row: "BerRow") -> float:
    """One op's rate per sense amp: reads that came out wrong with the bit lines right at sense enable. Each bit of
    a sample has a sense amp of its own, so the count is over sense amps."""
    return row.sense_failures / row.bits


def any_of(rates) -> float:
    """P(at least one of independent events with these probabilities): 1 - prod(1 - p), computed without losing
    rates far below float64's epsilon (1e-48 stays 1e-48, not 0)."""
    return max(0.0, -math.expm1(math.fsum(math.log1p(-min(float(p), 1.0 - 1e-16)) for p in rates)))


@dataclass(frozen=True)
class CellRates:
    """Failure probabilities at one corner, by the value the cell holds. Per cell: 1 - prod(1 - op_rate) over the
    ops that make a cell holding that value read wrong. Per sense amp (``sense_*``): the probability that a data
    bit's sense amp reads that value wrong, for every word it reads."""

    one_reads_zero: float
    zero_reads_one: float
    ops: Mapping[str, float]  #: op -> the per-cell rate taken from it
    samples: int
    period_s: float
    sense_one_reads_zero: float = 0.0
    sense_zero_reads_one: float = 0.0

    @property
    def worst(self) -> float:
        """The worst probability that a bit is read wrong, cell and sense amp together."""
        return max(any_of((self.one_reads_zero, self.sense_one_reads_zero)),
                   any_of((self.zero_reads_one, self.sense_zero_reads_one)))


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
    sense_failures: int  #: of the failures, reads wrong with the bit lines right at sense enable (the sense amp's)
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


_INTS = {"samples", "bits", "excluded", "failures", "sense_failures", "censored"}
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


_LOADED: dict = {}  # content key -> BerTable


@dataclass(frozen=True)
class BerTable:
    path: Path
    rows: tuple[BerRow, ...]
    provenance: Mapping

    @classmethod
    def load(cls, path: Path) -> "BerTable":
        """Raises cosim.errors.TableIntegrityError (one line) for a missing, cut-short, edited or impossible table.
        A table whose two files hold the same bytes as one loaded before is that table (a sweep over chips and
        supplies loads it once per run)."""
        path = Path(path)
        try:
            key = (str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest(),
                   hashlib.sha256(path.with_suffix(".json").read_bytes()).hexdigest())
        except OSError:
            key = None  # read_mc_table says what is missing
        if key is not None and key in _LOADED:
            return _LOADED[key]
        _, frame, prov = read_mc_table(path)
        table = cls(path, tuple(_row(r) for r in frame.to_dict("records")), MappingProxyType(prov))
        if key is not None:
            if len(_LOADED) >= 8:  # a handful of macros per process; edited tables leave old keys behind
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = table
        return table

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

    def cell_rates(self, corner: Corner) -> CellRates:
        """The per-cell rates at a corner of the table (TableRangeError elsewhere: never interpolated)."""
        rows = self.at(corner)
        ops = {op: op_rate(r) for op, r in rows.items() if op in HOLDING}
        by_value = {v: any_of(p for op, p in ops.items() if HOLDING[op] == v) for v in (0, 1)}
        sense = {v: any_of(sense_rate(r) for op, r in rows.items() if op in HOLDING and HOLDING[op] == v)
                 for v in (0, 1)}  # fmt: skip
        first = next(iter(rows.values()))
        return CellRates(by_value[1], by_value[0], MappingProxyType(ops), first.samples, first.period_s,
                         sense[1], sense[0])  # fmt: skip

    def vdd_at_rate(self, process: str, temp_c: float, target: float) -> tuple[float, str]:
        """The highest supply at which the worst rate per bit (cell and sense amp) reaches ``target`` at (process,
        temp_c): between the two grid supplies that bracket it, log(rate) interpolated linearly in VDD (a derived
        figure; the rates themselves are never interpolated). NaN with the reason when the grid does not bracket it
        or the higher supply's rate is below TAIL_FLOOR."""
        pts = sorted((c.vdd_v, self.cell_rates(c).worst) for c in self.corners()
                     if c.process == process and c.temp_c == temp_c)
        if not pts:
            return math.nan, f"no corner at {process} {temp_c:g} C"
        above = [(v, r) for v, r in pts if r >= target]
        if not above:
            return math.nan, f"below {target:g} down to {pts[0][0]:g} V (the lowest supply held)"
        v_lo, r_lo = max(above)
        higher = [(v, r) for v, r in pts if v > v_lo]
        if not higher:
            return math.nan, f"at or above {target:g} at every supply up to {v_lo:g} V"
        v_hi, r_hi = higher[0]
        if r_hi < TAIL_FLOOR:  # no failure at the higher supply and a tail too far out to interpolate toward
            return math.nan, (f"between {v_lo:g} V ({r_lo:.2g}) and {v_hi:g} V (no failure, tail estimate "
                              f"{r_hi:.2g} < {TAIL_FLOOR:g}): the grid does not resolve it")
        a, b = math.log10(r_lo), math.log10(r_hi)
        t = (a - math.log10(target)) / (a - b) if a != b else 0.0
        return v_lo + t * (v_hi - v_lo), f"between {v_lo:g} V ({r_lo:.2g}) and {v_hi:g} V ({r_hi:.2g})"

    def row(self, corner: Corner, op: str) -> BerRow:
        if op not in OPS:
            raise TableRangeError(f"unknown Monte Carlo op {op!r}: one of {', '.join(OPS)}")
        return self.at(corner)[op]
