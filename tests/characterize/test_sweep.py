"""The sweep: runs through joblib on a Dask cluster (loopback), writes the tidy table with provenance, and an
interrupted or repeated sweep reuses every finished point instead of simulating it again."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from cosim.characterize.sweep import COLUMNS, Grid, sweep_macro
from cosim.errors import CornerError

pytestmark = pytest.mark.spice


def test_dask_sweep_then_resume_from_cache(settings, tmp_path):
    from dask.distributed import LocalCluster

    local = replace(settings, cache_dir=tmp_path / "cache")
    grid = Grid(("tt",), (1.8,), (25.0,))
    sp = settings.netlists_dir / "sram_8x16.sp"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        first = sweep_macro(sp, local, grid, out_dir=tmp_path / "out", backend="dask", scheduler=cluster.scheduler_address,
                            progress=False, search_min_cycle=False)  # fmt: skip
    assert first.simulated == 1
    table = pd.read_csv(first.csv_path)
    assert tuple(table.columns) == COLUMNS
    assert set(table["op"]) >= {"read_0", "read_1", "write_0to1", "write_1to0", "write_same", "idle", "leakage"}
    ok = table[table["op"].isin(["read_0", "read_1"])]
    assert (ok["status"] == "ok").all() and (ok["energy_j"] > 0).all()
    prov = json.loads(first.json_path.read_text())
    assert prov["ngspice_version"].startswith("ngspice-") and prov["netlist_sha256"]
    assert len(prov["points"]) == 1 and prov["models"]["decks_sha256"]["tt"]
    # a second run (as after an interruption) takes every finished point from the cache
    again = sweep_macro(sp, local, grid, out_dir=tmp_path / "out", jobs=1, progress=False, search_min_cycle=False)
    assert again.simulated == 0 and not again.written
    assert pd.read_csv(again.csv_path).equals(table)
    # and on another machine (no cache) from the table itself, which stays byte for byte
    text = first.csv_path.read_text()
    fresh = replace(local, cache_dir=tmp_path / "fresh-cache")
    elsewhere = sweep_macro(sp, fresh, grid, out_dir=tmp_path / "out", jobs=1, progress=False, search_min_cycle=False)
    assert (elsewhere.simulated, elsewhere.written) == (0, False) and first.csv_path.read_text() == text
    assert table.loc[table["op"] == "read_cycle", "status"].tolist() == ["ok"]  # reads passed: no floor
    assert table.loc[table["op"] == "read_cycle", "cycle_time_s"].isna().all()

    # a corner whose main deck read wrong data gets the read retry: make the cached point say read_0 failed (as a
    # late read does), and the next sweep re-runs the main deck at 1.5 x the period, where it passes
    cached = local.cache_dir / "points" / "sram_8x16" / f"{prov['points'].popitem()[0]}.json"
    record = json.loads(cached.read_text())
    for row in record["rows"]:
        if row["op"] == "read_0":
            row.update(status="failed", bit_errors=8, message="read 0xff, expected 0x0")
    cached.write_text(json.dumps(record))
    retried = sweep_macro(sp, local, grid, out_dir=tmp_path / "out", jobs=1, progress=False, search_min_cycle=False)
    rows = pd.read_csv(retried.csv_path).set_index("op")
    assert retried.simulated == 0 and json.loads(retried.json_path.read_text())["simulated_read_retries"] == 1
    assert (retried.read_retries, retried.read_retries_simulated) == (1, 1)
    assert rows.loc["read_cycle", "status"] == "ok" and rows.loc["read_cycle", "cycle_time_s"] == pytest.approx(6e-9)
    assert rows.loc["read_0", "status"] == "ok" and rows.loc["read_0", "period_s"] == pytest.approx(6e-9)
    assert rows.loc["leakage", "leakage_w"] == table.set_index("op").loc["leakage", "leakage_w"]  # kept from the point
    # and the retry is cached like a point, and kept in the table: a sweep with no cache rebuilds the same table
    once_more = sweep_macro(sp, local, grid, out_dir=tmp_path / "out", jobs=1, progress=False, search_min_cycle=False)
    assert (once_more.read_retries, once_more.read_retries_simulated, once_more.written) == (1, 0, False)
    text = retried.csv_path.read_text()
    fresh = replace(local, cache_dir=tmp_path / "fresh-cache-2")
    rebuilt = sweep_macro(sp, fresh, grid, out_dir=tmp_path / "out", jobs=1, progress=False, search_min_cycle=False)
    assert (rebuilt.simulated, rebuilt.read_retries, rebuilt.read_retries_simulated) == (0, 1, 0)
    assert retried.csv_path.read_text() == text


def test_unknown_corner_in_grid_is_refused():
    with pytest.raises(CornerError, match="unknown process corner 'tx'"):
        Grid(("tt", "tx"), (1.8,), (25.0,))
    with pytest.raises(CornerError, match="outside"):
        Grid(("tt",), (3.3,), (25.0,))
