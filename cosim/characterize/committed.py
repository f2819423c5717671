"""The committed table as the sweep's lasting record: read it back as finished corners; write a table.

Why: the point cache lives in ``.cache/`` and goes with the machine, while a sweep of a large macro outlasts a
working session (the 2 KB grid is hours of ngspice). The committed ``characterization/<macro>.csv/.json`` is the
record that stays. A corner whose ``point_key`` in the table is the key the sweep computes now was produced by
exactly the simulation the sweep would run (cosim.characterize.keys: the decks it renders, the folded netlist,
the model deck, the ngspice version, the corner, the period, the options and the measurement version), so the
sweep takes it from the table instead of simulating it again. ``cosim characterize --no-reuse-table`` simulates every corner anew.

A corner's cache records are rebuilt from the table's rows. A read retry (cosim.characterize.retry) that passed
replaced the point's main rows, so the rebuilt point holds the merged rows and the rebuilt retry holds those same
main rows: merging them again gives the same table, row for row. Such a point says so (``main_rows_from_retry``:
that retry's key): its own main rows are not in the table, so it stands only with that retry, and a sweep whose
retry key differs (other retry code) simulates the point again rather than take the retry's rows for the point's.
The CSV keeps 6 significant digits; rebuilt rows carry those, and writing them again gives the same text.

Integrity: the .json records the CSV's sha256 and row count, and reading checks them and the physics of every row
(cosim.characterize.integrity); a table that fails is refused with one line naming the file, never read as results.
Writers take the table's lock (a ``.lock`` file beside it) and re-read the table under it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from pathlib import Path

import pandas as pd
from filelock import FileLock

from cosim.characterize.integrity import check_csv, check_rows
from cosim.characterize.records import MeasurementRow, PointRecord, RetryRecord
from cosim.characterize.retry import MAIN_OPS
from cosim.types import PROCESSES, Corner

COLUMNS = (
    "macro", "process", "vdd_v", "temp_c", "op", "status", "access_time_s", "timed_from", "slew_s", "cycle_time_s",
    "energy_j", "leakage_w", "period_s", "bits_checked", "bit_errors", "message", "solver_options", "point_key",
)  # fmt: skip
_ROW_FIELDS = COLUMNS[COLUMNS.index("op") : COLUMNS.index("point_key")]


@dataclass(frozen=True)
class CommittedTable:
    """What a table on disk holds, as the sweep's cache records."""

    corners: tuple[Corner, ...] = ()
    points: dict[str, PointRecord] = field(default_factory=dict)  #: point key -> record (as in .cache/points)
    retries: dict[str, RetryRecord] = field(default_factory=dict)  #: retry key -> retry record
    csv_text: str = ""

    def records(self) -> dict[Corner, tuple[PointRecord, RetryRecord | None]]:
        """Corner -> (point record, its retry record or None), as a sweep holds finished corners."""
        retry_of = {r.corner: r for r in self.retries.values()}
        return {p.corner: (p, retry_of.get(p.corner)) for p in self.points.values()}


def corner_order(corner: Corner) -> tuple:
    """Tables list corners by process (PROCESSES order), then supply, then temperature."""
    return (PROCESSES.index(corner.process), corner.vdd_v, corner.temp_c)


def _row(values: pd.Series) -> MeasurementRow:
    return MeasurementRow.from_dict({name: (None if values[name] == "" else values[name]) for name in _ROW_FIELDS
                                     if name in values})


def read_committed(csv_path: Path) -> CommittedTable:
    """The corners of the table at ``csv_path`` (and its .json) as point and retry records; an empty record when
    there is no table. A table that fails its integrity or physics checks raises
    :class:`cosim.errors.TableIntegrityError` (it is not taken as results, nor silently replaced)."""
    json_path = csv_path.with_suffix(".json")
    if not csv_path.exists() and not json_path.exists():
        return CommittedTable()
    text, frame, prov = check_csv(csv_path)
    corner_rows = {}
    for (process, vdd, temp), rows in frame.groupby(["process", "vdd_v", "temp_c"], sort=False):
        corner_rows[Corner(str(process), float(vdd), float(temp))] = rows
    by_name = {c.name: c for c in corner_rows}
    points, retries = {}, {}
    for key, info in prov.get("points", {}).items():
        corner = by_name.get(info.get("corner"))
        if corner is None:
            continue
        rows = corner_rows[corner]
        rows = rows[(rows["point_key"] == key) & (rows["op"] != "read_cycle")]
        points[key] = PointRecord(key, corner, tuple(_row(r) for _, r in rows.iterrows()),
                                  MappingProxyType(info.get("decks_sha256", {})), info.get("wall_s", 0.0),
                                  info.get("runs", 0), info.get("retries", 0))
    point_of = {info.get("corner"): key for key, info in prov.get("points", {}).items()}
    for key, info in prov.get("read_retries", {}).items():
        corner = by_name.get(info.get("corner"))
        read_cycle = info.get("read_cycle")
        if corner is None or not read_cycle:
            continue
        rows = corner_rows[corner]
        main = [_row(r) for _, r in rows[rows["op"].isin(MAIN_OPS)].iterrows()]
        passed = read_cycle.get("status") == "ok"
        if passed and point_of.get(info.get("corner")) in points:
            pk = point_of[info["corner"]]
            points[pk] = replace(points[pk], main_rows_from_retry=key)
        retries[key] = RetryRecord(key, corner, tuple(main) if passed else None, MeasurementRow.from_dict(read_cycle),
                                   MappingProxyType(info.get("decks_sha256", {})), info.get("wall_s", 0.0),
                                   info.get("runs", 0), info.get("retries", 0))
    return CommittedTable(tuple(sorted(corner_rows, key=corner_order)), points, retries, text)


def missing_corners(corners) -> list[str]:
    """Corners of the full process x vdd x temp product of ``corners``' axes that are not among them."""
    have = set(corners)
    procs = sorted({c.process for c in have}, key=PROCESSES.index)
    vdds = sorted({c.vdd_v for c in have})
    temps = sorted({c.temp_c for c in have})
    return [Corner(p, v, t).name for p in procs for v in vdds for t in temps if Corner(p, v, t) not in have]


def table_lock(csv_path: Path) -> FileLock:
    """The lock a writer of the table at ``csv_path`` holds while it re-reads and rewrites it."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(csv_path.with_suffix(".lock")))


def write_synced(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_table(csv_text: str, provenance: dict, csv_path: Path) -> None:
    """Write the table's CSV text (:func:`table_csv_text`) and its provenance, which records the CSV's sha256 and
    row count, each to a temporary file renamed into place (the CSV last): an interrupted write never leaves a
    half-written table, and a CSV and provenance of two writers never pass the integrity check together."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    bits = int(provenance.get("word_size", 0)) * int(provenance.get("num_words", 0))
    check_rows(pd.read_csv(io.StringIO(csv_text)), csv_path, bits)  # never write what could not be read back
    json_path = csv_path.with_suffix(".json")
    provenance = {**provenance, "csv_sha256": hashlib.sha256(csv_text.encode()).hexdigest(),
                  "csv_rows": csv_text.count("\n") - 1}
    tmp_csv = csv_path.with_suffix(f".csv.tmp{os.getpid()}")
    tmp_json = json_path.with_suffix(f".json.tmp{os.getpid()}")
    write_synced(tmp_csv, csv_text)
    write_synced(tmp_json, json.dumps(provenance, indent=1) + "\n")
    tmp_json.replace(json_path)
    tmp_csv.replace(csv_path)


def table_csv_text(frame: pd.DataFrame) -> str:
    """The table as CSV text, 6 significant digits (also what tells whether a table changed)."""
    return frame.to_csv(index=False, float_format="%.6g")
