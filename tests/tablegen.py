"""Write small synthetic characterization tables for unit tests of the pure arithmetic (not simulator output).

Every number is a bilinear function of (vdd, temp) so interpolation has an exact expected value.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

PROCS = ("tt", "ff", "ss")
VDDS = (1.6, 1.8, 1.95)
TEMPS = (-40.0, 25.0, 125.0)


def energy(op: str, process: str, vdd: float, temp: float) -> float:
    base = {"read_0": 1.0, "read_1": 1.8, "write_same": 1.2, "write_0to1": 2.0, "write_1to0": 2.4, "idle": 0.3}[op]
    p = {"tt": 1.0, "ff": 1.1, "ss": 0.9, "sf": 1.0, "fs": 1.0}[process]
    return 1e-12 * p * base * (1 + 0.5 * (vdd - 1.8) + 0.001 * temp + 0.002 * (vdd - 1.8) * temp)


def write_table(directory: Path, macro: str = "sram_test", word_size: int = 16, num_words: int = 16,
                procs=PROCS, vdds=VDDS, temps=TEMPS, failed_read_at=None, bit_errors_at=None,
                row_switch_errors: bool = True, words_per_row: int = 4) -> Path:
    rows = []
    for p in procs:
        for v in vdds:
            for t in temps:
                key = f"{p}_{v}_{t}"
                for op in ("read_0", "read_1", "write_same", "write_0to1", "write_1to0", "idle", "leakage", "min_cycle",
                           "row_switch"):
                    r = dict(macro=macro, process=p, vdd_v=v, temp_c=t, op=op, status="ok", access_time_s=np.nan,
                             timed_from="", slew_s=np.nan, cycle_time_s=np.nan, energy_j=np.nan, leakage_w=np.nan, period_s=np.nan,
                             bits_checked=np.nan, bit_errors=np.nan, message="", solver_options="", point_key=key)
                    if op.startswith(("read", "write", "idle")):
                        r["energy_j"] = energy(op, p, v, t)
                        r["period_s"] = 10e-9
                    if op.startswith("read"):
                        r["access_time_s"] = 1e-9 * (2.0 - (v - 1.6)) * (1 + 0.002 * t)
                        r["timed_from"] = "clk_fall" if op == "read_1" else "clk_rise"
                        r["slew_s"] = 0.1e-9
                        r["bits_checked"] = float(word_size)
                        r["bit_errors"] = 0.0
                        if bit_errors_at == (p, v, t):
                            r["bit_errors"] = 1.0 if op == "read_1" else 0.0
                        if failed_read_at == (p, v, t):
                            r["status"] = "failed"  # a failed row carries no time (cosim.characterize.point)
                            r.update(access_time_s=np.nan, timed_from="", slew_s=np.nan)
                            r["bit_errors"] = 2.0
                            r["message"] = "read back wrong data"
                    if op in ("write_0to1", "write_1to0"):
                        r["access_time_s"] = 0.5e-9 * (2.0 - (v - 1.6))
                        r["timed_from"] = "clk_fall"
                    if op == "leakage":
                        r["leakage_w"] = 1e-6 * (1 + 0.01 * t) * v
                    if op == "row_switch":
                        r["bits_checked"] = float(word_size)
                        r["bit_errors"] = float(word_size // 2) if row_switch_errors else 0.0
                        r["status"] = "failed" if row_switch_errors else "ok"
                        r["message"] = "read 0xff, expected 0x0" if row_switch_errors else ""
                    if op == "min_cycle":
                        r["cycle_time_s"] = 3e-9 * (2.0 - (v - 1.6))
                    rows.append(r)
    df = pd.DataFrame(rows)
    path = Path(directory) / f"{macro}.csv"
    df.to_csv(path, index=False)
    data = path.read_bytes()
    path.with_suffix(".json").write_text(json.dumps({
        "csv_sha256": hashlib.sha256(data).hexdigest(), "csv_rows": data.count(b"\n") - 1,
        "macro": macro, "word_size": word_size, "num_words": num_words, "words_per_row": words_per_row, "ngspice_version": "synthetic",
        "models": {"source": "synthetic test table"}, "netlist_sha256": "",
        "created": "test", "grid": {"process": list(procs), "vdd_v": list(vdds), "temp_c": list(temps)}, "points": {},
    }))
    return path


def restamp(csv_path: Path) -> None:
    """Record an edited CSV's sha256 and row count in its provenance (as cosim's table writer does)."""
    prov = json.loads(csv_path.with_suffix(".json").read_text())
    data = csv_path.read_bytes()
    prov.update(csv_sha256=hashlib.sha256(data).hexdigest(), csv_rows=data.count(b"\n") - 1)
    csv_path.with_suffix(".json").write_text(json.dumps(prov))
