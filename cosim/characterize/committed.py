"""The committed table as the sweep's lasting record: read it back as finished corners; write a table.

Why: the point cache lives in ``.cache/`` and goes with the machine, while a sweep of a large macro outlasts a
working session (the 2 KB grid is hours of ngspice). The committed ``characterization/<macro>.csv/.json`` is the
record that stays. A corner whose ``point_key`` in the table is the key the sweep computes now was produced by
exactly the simulation the sweep would run (the key hashes the folded netlist, the model deck, the testbench and
measurement code, the ngspice version, the corner, the period and the options), so the sweep takes it from the
table instead of simulating it again. ``cosim characterize --no-reuse-table`` simulates every corner anew.

A corner's cache records are rebuilt from the table's rows. A read retry (cosim.characterize.retry) that passed
replaced the point's main rows, so the rebuilt point holds the merged rows and the rebuilt retry holds those same
main rows: merging them again gives the same table, row for row. Such a point says so (``main_rows_from_retry``:
that retry's key): its own main rows are not in the table, so it stands only with that retry, and a sweep whose
retry key differs (other retry code) simulates the point again rather than take the retry's rows for the point's.
The CSV keeps 6 significant digits; rebuilt rows carry those, and writing them again gives the same text.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from cosim.characterize.retry import MAIN_OPS
from cosim.types import PROCESSES, Corner

COLUMNS = (
    "macro", "process", "vdd_v", "temp_c", "op", "status", "access_time_s", "cycle_time_s", "energy_j",
    "leakage_w", "period_s", "bits_checked", "bit_errors", "message", "point_key",
)  # fmt: skip
_ROW_FIELDS = COLUMNS[COLUMNS.index("op") : COLUMNS.index("point_key")]
_INT_FIELDS = ("bits_checked", "bit_errors")


@dataclass(frozen=True)
class CommittedTable:
    """What a table on disk holds, as the sweep's cache records."""

    corners: tuple[Corner, ...] = ()
    points: dict[str, dict] = field(default_factory=dict)  #: point key -> point record (as in .cache/points)
    retries: dict[str, dict] = field(default_factory=dict)  #: retry key -> retry record
    csv_text: str = ""


def corner_order(corner: Corner) -> tuple:
    """Tables list corners by process (PROCESSES order), then supply, then temperature."""
    return (PROCESSES.index(corner.process), corner.vdd_v, corner.temp_c)


def _row(values: pd.Series) -> dict:
    row = {}
    for name in _ROW_FIELDS:
        v = values[name]
        if isinstance(v, float) and math.isnan(v) or v is None or v == "":
            continue
        row[name] = int(v) if name in _INT_FIELDS else v
    return row


def read_committed(csv_path: Path) -> CommittedTable:
    """The corners of the table at ``csv_path`` (and its .json) as point and retry records; an empty record when
    there is no table, or one that cannot be read (the sweep then simulates and replaces it)."""
    json_path = csv_path.with_suffix(".json")
    try:
        text = csv_path.read_text()
        frame = pd.read_csv(csv_path, dtype={"message": object, "point_key": object})
        prov = json.loads(json_path.read_text())
        corner_rows = {}
        for (process, vdd, temp), rows in frame.groupby(["process", "vdd_v", "temp_c"], sort=False):
            corner_rows[Corner(str(process), float(vdd), float(temp))] = rows
    except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError):
        return CommittedTable()
    by_name = {c.name: c for c in corner_rows}
    points, retries = {}, {}
    for key, info in prov.get("points", {}).items():
        corner = by_name.get(info.get("corner"))
        if corner is None:
            continue
        rows = corner_rows[corner]
        rows = rows[(rows["point_key"] == key) & (rows["op"] != "read_cycle")]
        points[key] = {"key": key, "corner": asdict(corner), "rows": [_row(r) for _, r in rows.iterrows()],
                       "decks": info.get("decks_sha256", {}), "wall_s": info.get("wall_s", 0.0),
                       "runs": info.get("runs", 0), "retries": info.get("retries", 0)}  # fmt: skip
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
            points[point_of[info["corner"]]]["main_rows_from_retry"] = key
        retries[key] = {"key": key, "corner": asdict(corner), "rows": main if passed else None,
                        "read_cycle": read_cycle, "decks": info.get("decks_sha256", {}),
                        "wall_s": info.get("wall_s", 0.0), "runs": info.get("runs", 0),
                        "retries": info.get("retries", 0)}  # fmt: skip
    return CommittedTable(tuple(sorted(corner_rows, key=corner_order)), points, retries, text)


def missing_corners(corners) -> list[str]:
    """Corners of the full process x vdd x temp product of ``corners``' axes that are not among them."""
    have = set(corners)
    procs = sorted({c.process for c in have}, key=PROCESSES.index)
    vdds = sorted({c.vdd_v for c in have})
    temps = sorted({c.temp_c for c in have})
    return [Corner(p, v, t).name for p in procs for v in vdds for t in temps if Corner(p, v, t) not in have]


def write_table(csv_text: str, provenance: dict, csv_path: Path) -> None:
    """Write the table's CSV text (:func:`table_csv_text`) and its provenance, each to a temporary file renamed into
    place: an interrupted write never leaves a half-written table."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    json_path = csv_path.with_suffix(".json")
    tmp_csv = csv_path.with_suffix(f".csv.tmp{os.getpid()}")
    tmp_json = json_path.with_suffix(f".json.tmp{os.getpid()}")
    tmp_csv.write_text(csv_text)
    tmp_json.write_text(json.dumps(provenance, indent=1) + "\n")
    tmp_json.replace(json_path)
    tmp_csv.replace(csv_path)


def table_csv_text(frame: pd.DataFrame) -> str:
    """The table as CSV text, 6 significant digits (also what tells whether a table changed)."""
    return frame.to_csv(index=False, float_format="%.6g")
