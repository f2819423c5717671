"""The timing table beside a macro's main table: ``characterization/timing/<macro>.csv`` + ``.json``.

Tidy rows (macro, corner, quantity, pin, load_f, input_slew_s, value, message, key) of cosim.characterize.arcs at
the corners it was run at (the nominal one by default). The .json records how (ngspice, netlist, model decks) and
the CSV's sha256 and row count, checked before anything reads it; a corner is keyed like a main-table point (its
decks with include paths replaced by content hashes, ngspice, ARCS_VERSION) and is re-simulated only when that
changes. Writes go through a temporary file renamed into place, under the table's lock.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from cosim.characterize import arcs, keys
from cosim.characterize.committed import table_lock
from cosim.characterize.sweep import SweepSetup
from cosim.errors import TableIntegrityError
from cosim.testbench import render_deck
from cosim.types import Corner

#: bump when how the arcs' waveforms are measured changes (what the decks cannot show: cosim.characterize.keys)
ARCS_VERSION = 1
COLUMNS = ("macro", "process", "vdd_v", "temp_c", "quantity", "pin", "load_f", "input_slew_s", "value", "message",
           "key")
_FIX = "re-run `cosim characterize-arcs --macro <macro>` (or restore the file with git checkout)"


def timing_path(characterization_dir: Path, macro: str) -> Path:
    return characterization_dir / "timing" / f"{macro}.csv"


def arcs_key(setup: SweepSetup, corner: Corner) -> str:
    """The key of a corner's arcs: the NLDM decks and one flop deck as rendered now, paths replaced by hashes."""
    req = setup.request(corner)
    deck_path, reduced = setup.decks[corner.process]
    paths = {str(setup.simulated.path): setup.simulated.sha256, str(deck_path): reduced.sha256}
    decks = {f"{load}_{ramp}": keys.deck_identity(render_deck(arcs.arcs_spec(req, load, ramp)), paths)
             for load in arcs.LOADS_F for ramp in arcs.RAMPS_S}
    flop = arcs.flop_deck(req, arcs.flop_subckt(setup.macro_netlist.sp_path.read_text()), "setup", True, 0.0)
    decks["flop"] = keys.deck_identity(flop, paths)
    blob = json.dumps({"arcs_version": ARCS_VERSION, "decks": decks, "ngspice": setup.ngspice,
                       "corner": asdict(corner), "netlist_info": setup.simulated.info.get("bits_folded", {})},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class ArcsOutcome:
    csv_path: Path
    simulated: tuple[Corner, ...]
    reused: tuple[Corner, ...]
    wall_s: float


def read_timing(csv_path: Path) -> tuple[pd.DataFrame, dict]:
    """The timing table and its provenance, after checking the CSV against the sha256 and rows the .json records."""
    json_path = csv_path.with_suffix(".json")
    try:
        data = csv_path.read_bytes()
        prov = json.loads(json_path.read_text())
    except FileNotFoundError as exc:
        raise TableIntegrityError(f"{exc.filename}: missing: {_FIX}") from None
    except ValueError as exc:
        raise TableIntegrityError(f"{json_path}: unreadable ({str(exc).splitlines()[0]}): {_FIX}") from None
    if hashlib.sha256(data).hexdigest() != prov.get("csv_sha256"):
        raise TableIntegrityError(f"{csv_path}: its sha256 is not the one {json_path.name} records: {_FIX}")
    frame = pd.read_csv(io.BytesIO(data), dtype={"key": str, "pin": str, "message": str}, keep_default_na=True)
    if len(frame) != prov.get("csv_rows"):
        raise TableIntegrityError(f"{csv_path}: {len(frame)} rows, {json_path.name} records {prov.get('csv_rows')}: {_FIX}")
    return frame, prov


def characterize_arcs_table(setup: SweepSetup, corners: list[Corner], out_dir: Path, *, reuse: bool = True,
                            run_dir: Path | None = None) -> ArcsOutcome:  # fmt: skip
    """Simulate the arcs of ``setup``'s macro at ``corners`` (those whose key the table already holds are kept) and
    merge them into the timing table."""
    start = time.perf_counter()
    macro = setup.macro_netlist.macro.name
    csv_path = timing_path(out_dir, macro)
    simulated, reused = [], []
    new_rows: list[dict] = []
    runs: dict[str, dict] = {}
    old = read_timing(csv_path)[0] if csv_path.is_file() else pd.DataFrame(columns=list(COLUMNS))
    for corner in corners:
        key = arcs_key(setup, corner)
        here = old[(old.process == corner.process) & (old.vdd_v == corner.vdd_v) & (old.temp_c == corner.temp_c)]
        if reuse and len(here) and set(here["key"].astype(str)) == {key}:
            reused.append(corner)
            continue
        t0 = time.perf_counter()
        req = setup.request(corner, run_dir=(run_dir / corner.name) if run_dir else None)
        rows, counters = arcs.characterize_arcs(req, setup.macro_netlist.sp_path.read_text(), setup.simulated.info)
        runs[corner.name] = {"key": key, "wall_s": round(time.perf_counter() - t0, 1), "runs": counters["runs"]}
        for r in rows:
            new_rows.append({"macro": macro, "process": corner.process, "vdd_v": corner.vdd_v, "temp_c": corner.temp_c,
                             "quantity": r.quantity, "pin": r.pin, "load_f": r.load_f, "input_slew_s": r.input_slew_s,
                             "value": r.value, "message": r.message, "key": key})
        simulated.append(corner)
    if simulated:
        with table_lock(csv_path):
            frame, prov = read_timing(csv_path) if csv_path.is_file() else (pd.DataFrame(columns=list(COLUMNS)), {})
            for c in simulated:
                frame = frame[~((frame.process == c.process) & (frame.vdd_v == c.vdd_v) & (frame.temp_c == c.temp_c))]
            frame = pd.concat([frame, pd.DataFrame(new_rows)], ignore_index=True)
            for col in ("vdd_v", "temp_c", "load_f", "input_slew_s", "value"):  # an empty table's columns are objects
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
            frame = frame.sort_values(["process", "vdd_v", "temp_c", "quantity", "pin", "load_f", "input_slew_s"],
                                      kind="stable").reindex(columns=list(COLUMNS))
            text = frame.to_csv(index=False, float_format="%.6g")
            corners_prov = dict(prov.get("corners", {})) | runs
            provenance = {
                "macro": macro, "definitions": "docs/timing.md", "arcs_version": ARCS_VERSION,
                "ngspice_version": setup.ngspice, "netlist": setup.macro_netlist.sp_path.name,
                "simulated_netlist": setup.simulated.info.get("file"), "simulated_netlist_sha256": setup.simulated.sha256,
                "models": {p: reduced.sha256 for p, (_, reduced) in setup.decks.items()} | prov.get("models", {}),
                "loads_f": list(arcs.LOADS_F), "input_ramps_s": list(arcs.RAMPS_S), "ramp_to_slew": arcs.RAMP_TO_SLEW,
                "corners": corners_prov, "csv_sha256": hashlib.sha256(text.encode()).hexdigest(),
                "csv_rows": len(frame)}
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            for path, content in ((csv_path.with_suffix(".json"), json.dumps(provenance, indent=1) + "\n"), (csv_path, text)):
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text(content)
                tmp.replace(path)
    return ArcsOutcome(csv_path, tuple(simulated), tuple(reused), time.perf_counter() - start)
