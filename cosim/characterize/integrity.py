"""Checks a characterization table passes before anything reads it as results.

The .json beside a table records the CSV's sha256 and row count (cosim.characterize.committed.write_table): a CSV cut
short, edited, or written by another writer than its .json fails here. Each row must also be physically possible:
energies and times positive and finite, leakage below a bound far above any macro of its size, bit_errors <=
bits_checked. One line names the file, the first offending row and the fix.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cosim.errors import TableIntegrityError

#: leakage bound: a floor plus this much per stored bit (about 10x the highest per-bit standby power of the
#: committed sky130 macros: their peripheries, not the cells, dominate at small sizes)
LEAKAGE_FLOOR_W = 10e-3
LEAKAGE_PER_BIT_W = 20e-6
#: no single access of these macros takes a microjoule or a microsecond
ENERGY_MAX_J = 1e-6
TIME_MAX_S = 1e-6
_FIX = "restore it (git checkout) or re-run `cosim characterize` for that macro"


def _fail(path: Path, what: str) -> TableIntegrityError:
    return TableIntegrityError(f"{path}: {what}: {_FIX}")


def read_verified(csv_path: Path, fail=_fail) -> tuple[str, dict]:
    """The CSV text at ``csv_path`` and its provenance (the .json beside it), after checking the CSV against the
    sha256 and row count the provenance records; ``fail(path, what)`` makes the one-line error."""
    json_path = csv_path.with_suffix(".json")
    try:
        data = csv_path.read_bytes()
        prov = json.loads(json_path.read_text())
    except FileNotFoundError as exc:
        raise fail(csv_path, f"{Path(exc.filename).name} is missing") from None
    except (OSError, ValueError) as exc:
        raise fail(json_path, f"unreadable provenance ({str(exc).splitlines()[0]})") from None
    if not isinstance(prov, dict) or "csv_sha256" not in prov:
        raise fail(json_path, "no csv_sha256 recorded (not written by this cosim)")
    if hashlib.sha256(data).hexdigest() != prov["csv_sha256"]:
        raise fail(csv_path, f"its sha256 is not the one {json_path.name} records (cut short or edited)")
    text = data.decode()
    if text.count("\n") - 1 != prov.get("csv_rows"):
        raise fail(csv_path, f"{text.count(chr(10)) - 1} rows, {json_path.name} records {prov.get('csv_rows')}")
    return text, prov


def check_csv(csv_path: Path) -> tuple[str, pd.DataFrame, dict]:
    """Read the table at ``csv_path`` and its provenance; check the CSV against the recorded sha256 and row count,
    then every row's physics. Returns (CSV text, frame, provenance)."""
    text, prov = read_verified(csv_path)
    frame = pd.read_csv(io.StringIO(text), dtype={"message": object, "solver_options": object, "point_key": str})
    bits = int(prov.get("word_size", 0)) * int(prov.get("num_words", 0)) or None
    check_rows(frame, csv_path, bits)
    return text, frame, prov


def check_rows(frame: pd.DataFrame, path: Path, bits: int | None = None) -> None:
    """Refuse rows no simulation can give (see the module docstring)."""
    def first(mask: np.ndarray, what: str) -> None:
        if mask.any():
            r = frame[mask].iloc[0]
            raise _fail(path, f"{r.get('process')} {r.get('vdd_v')} V {r.get('temp_c')} C {r.get('op')}: {what}")

    def col(name: str) -> np.ndarray:
        if name not in frame.columns:
            return np.full(len(frame), np.nan)
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(float)

    for name, top in (("energy_j", ENERGY_MAX_J), ("access_time_s", TIME_MAX_S), ("slew_s", TIME_MAX_S), ("cycle_time_s", TIME_MAX_S),
                      ("period_s", TIME_MAX_S)):
        if name in frame.columns:
            raw = frame[name]
            unparsed = raw.notna() & np.isnan(col(name))
            first(unparsed.to_numpy(), f"{name} {raw[unparsed].iloc[0] if unparsed.any() else ''!r} is not a number")
        v = col(name)
        if name == "energy_j" and "status" in frame.columns:
            # a cycle that failed its op (a write that did not flip) can hand the supply charge back: only its size
            # is bounded; a row that did its op drew energy
            failed = (frame["status"] == "failed").to_numpy()
            first(failed & ~np.isnan(v) & ~(np.abs(v) < top), f"{name} outside (-{top:g}, {top:g}) in a failed row")
            v = np.where(failed, np.nan, v)
        first(~np.isnan(v) & ~((v > 0) & (v < top)), f"{name} outside (0, {top:g})")
    leak = col("leakage_w")
    bound = LEAKAGE_FLOOR_W + LEAKAGE_PER_BIT_W * (bits or 0)
    first(~np.isnan(leak) & ~((leak > 0) & (leak < bound)), f"leakage_w outside (0, {bound:.3g} W)")
    checked, errors = col("bits_checked"), col("bit_errors")
    first(errors < 0, "negative bit_errors")
    first(~np.isnan(errors) & ~(errors <= checked), "bit_errors > bits_checked")
