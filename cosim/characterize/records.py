"""The typed records a sweep stores: a measurement row, a corner's point record and its read-retry record.

The point cache (.cache/points) and the committed table (characterization/<macro>.csv/.json) are serialisations of
these; each cache file carries :data:`SCHEMA_VERSION`, and a file of another schema is treated as missing.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Mapping

from cosim.types import Corner

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class MeasurementRow:
    """One operation measured at one corner (a row of the tidy table, less the macro, corner and key columns).

    ``status`` "failed" means a completed simulation whose waveforms showed wrong data (``message`` says what);
    simulator faults never make a row. ``solver_options``: the conservative options a deck was re-run with after
    its transient did not converge (empty for the sweep's own options)."""

    op: str
    status: str = "ok"
    access_time_s: float | None = None  #: from the clock edge named in ``timed_from`` (cosim.characterize.plan.TIMED_FROM)
    timed_from: str | None = None  #: "clk_fall" or "clk_rise"
    slew_s: float | None = None  #: dout 10-90 % transition time (reads)
    cycle_time_s: float | None = None
    energy_j: float | None = None
    leakage_w: float | None = None
    period_s: float | None = None
    bits_checked: int | None = None
    bit_errors: int | None = None
    message: str | None = None
    solver_options: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict:
        """The row's set fields (None left out), as the CSV and the cache hold them."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: Mapping) -> "MeasurementRow":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names and v is not None and v == v}  # NaN read back: not set
        for k in ("bits_checked", "bit_errors"):
            if k in values:
                values[k] = int(values[k])
        return cls(**values)

    def with_(self, **changes) -> "MeasurementRow":
        return replace(self, **changes)


def _rows(items) -> tuple[MeasurementRow, ...]:
    return tuple(r if isinstance(r, MeasurementRow) else MeasurementRow.from_dict(r) for r in items)


def _nan_to_none(x):
    return None if isinstance(x, float) and math.isnan(x) else x


@dataclass(frozen=True)
class PointRecord:
    """A corner's point: its rows and how they were made (the decks' sha256, wall time, runs, solver retries).
    ``main_rows_from_retry``: set when rebuilt from a table whose main rows a passing retry replaced (that retry's
    key): the point then stands only with that retry (cosim.characterize.committed)."""

    key: str
    corner: Corner
    rows: tuple[MeasurementRow, ...]
    decks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    wall_s: float = 0.0
    runs: int = 0
    retries: int = 0
    main_rows_from_retry: str | None = None

    def to_json(self) -> str:
        return json.dumps({"schema": SCHEMA_VERSION, "kind": "point", "key": self.key, "corner": asdict(self.corner),
                           "rows": [{k: _nan_to_none(v) for k, v in r.as_dict().items()} for r in self.rows],
                           "decks": dict(self.decks), "wall_s": self.wall_s, "runs": self.runs,
                           "retries": self.retries, "main_rows_from_retry": self.main_rows_from_retry})

    @classmethod
    def from_json(cls, text: str) -> "PointRecord":
        d = _checked(text, "point")
        return cls(d["key"], Corner(**d["corner"]), _rows(d["rows"]), MappingProxyType(dict(d.get("decks", {}))),
                   float(d.get("wall_s", 0.0)), int(d.get("runs", 0)), int(d.get("retries", 0)),
                   d.get("main_rows_from_retry"))


@dataclass(frozen=True)
class RetryRecord:
    """A corner's read retry (cosim.characterize.retry): the main rows at the shortest passing period (None when no
    period passed) and the ``read_cycle`` row."""

    key: str
    corner: Corner
    rows: tuple[MeasurementRow, ...] | None
    read_cycle: MeasurementRow
    decks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    wall_s: float = 0.0
    runs: int = 0
    retries: int = 0

    def to_json(self) -> str:
        rows = None if self.rows is None else [{k: _nan_to_none(v) for k, v in r.as_dict().items()} for r in self.rows]
        return json.dumps({"schema": SCHEMA_VERSION, "kind": "retry", "key": self.key, "corner": asdict(self.corner),
                           "rows": rows, "read_cycle": self.read_cycle.as_dict(), "decks": dict(self.decks),
                           "wall_s": self.wall_s, "runs": self.runs, "retries": self.retries})

    @classmethod
    def from_json(cls, text: str) -> "RetryRecord":
        d = _checked(text, "retry")
        rows = None if d["rows"] is None else _rows(d["rows"])
        return cls(d["key"], Corner(**d["corner"]), rows, MeasurementRow.from_dict(d["read_cycle"]),
                   MappingProxyType(dict(d.get("decks", {}))), float(d.get("wall_s", 0.0)), int(d.get("runs", 0)),
                   int(d.get("retries", 0)))


def _checked(text: str, kind: str) -> dict:
    d = json.loads(text)
    if not isinstance(d, dict) or d.get("schema") != SCHEMA_VERSION or d.get("kind") != kind:
        raise ValueError(f"not a schema-{SCHEMA_VERSION} {kind} record")
    return d
