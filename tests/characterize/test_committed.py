"""The committed table as the sweep's lasting record (cosim.characterize.committed): every committed table is
rebuilt row for row from itself; a sweep adds the grid asked for to the corners its table holds, takes finished
corners from the table when the point key matches, and never shrinks the table before it ends.

The sweep-level tests here replace the ngspice point (``characterize_point``) with a quick stand-in: what they check
is the bookkeeping around it. The real point runs in tests/characterize/test_sweep.py (through the same sweep) and
test_point_spice.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

import cosim.characterize.sweep as sweep
from cosim.characterize.committed import COLUMNS, read_committed, table_csv_text
from cosim.characterize.point import PointResult
from cosim.characterize.records import MeasurementRow, RetryRecord
from cosim.characterize.retry import merge, retry_key
from cosim.characterize.sweep import Grid, sweep_macro
from cosim.types import Corner


@pytest.mark.parametrize("macro", ["sram_8x16", "sram_16x128", "sram_32x256", "sram_32x512"])
def test_every_committed_table_is_rebuilt_from_itself(settings, macro):
    path = settings.characterization_dir / f"{macro}.csv"
    table = read_committed(path)
    frame = pd.read_csv(path)
    assert len(table.corners) == len(frame.groupby(["process", "vdd_v", "temp_c"]))
    assert len(table.points) == len(table.corners)
    rows = []
    for corner, (rec, retry) in table.records().items():
        for row in merge(rec.rows, retry):
            rows.append({"macro": macro, "process": corner.process, "vdd_v": corner.vdd_v, "temp_c": corner.temp_c,
                         **row.as_dict(), "point_key": rec.key})  # fmt: skip
    assert table_csv_text(pd.DataFrame(rows).reindex(columns=list(COLUMNS))) == path.read_text()


@pytest.mark.parametrize("macro", ["sram_8x16", "sram_16x128", "sram_32x256", "sram_32x512"])
def test_every_committed_corner_was_simulated_by_todays_code(settings, macro):
    """Each corner's point key is the one today's folding, model decks, testbench and measurement code and ngspice
    give (what `make characterize` computes to take it from the table), and each read retry's key the one today's
    retry code gives, so the committed numbers are what this code simulates, and a fresh clone's `make
    characterize` re-simulates none of them."""
    from cosim.netlist import load_macro

    path = settings.characterization_dir / f"{macro}.csv"
    table = read_committed(path)
    prov = json.loads(path.with_suffix(".json").read_text())
    setup = sweep.sweep_setup(load_macro(settings.netlists_dir / f"{macro}.sp"), settings, [c.process for c in table.corners])
    # another simulator or another PDK install keys every point differently: not a code change
    if (prov["ngspice_version"], prov["models"]["source"]) != (setup.ngspice, setup.models.source):
        pytest.skip(f"{path} was simulated with {prov['ngspice_version']} on {prov['models']['source']} models, this "
                    f"machine has {setup.ngspice} and {setup.models.source}")  # fmt: skip
    options = tuple(prov["options"])
    stale = [c.name for c in table.corners if setup.key(c, options) not in table.points]
    assert not stale, (f"{path}: {len(stale)} of {len(table.corners)} corners were simulated by other code than "
                       f"today's (first: {stale[0]}): run `make characterize` and commit the table")  # fmt: skip
    # and each read retry by today's retry code (cosim.characterize.retry, keyed apart from the point)
    retried = {info["corner"] for info in prov["read_retries"].values()}
    stale = [info["corner"] for pk, info in prov["points"].items()
             if info["corner"] in retried and retry_key(pk) not in prov["read_retries"]]  # fmt: skip
    assert not stale, (f"{path}: the read retries of {len(stale)} corners were made by other retry code than "
                       f"today's (first: {stale[0]}): run `make characterize` and commit the table")  # fmt: skip


def test_a_missing_table_gives_no_corners_and_an_unreadable_one_is_refused(tmp_path):
    from cosim.errors import TableIntegrityError

    assert read_committed(tmp_path / "none.csv").corners == ()
    (tmp_path / "bad.csv").write_text("not,a\ntable")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(TableIntegrityError, match="bad.json: unreadable provenance"):
        read_committed(tmp_path / "bad.csv")


class _FakePoint:
    """Stands in for the ngspice point: rows shaped as a real point's, numbers from the corner; counts its calls
    and can be told to fail at one corner (an interrupted sweep)."""

    def __init__(self, fail_at: Corner | None = None, wrong_read_0: bool = False):
        self.calls: list[Corner] = []
        self.fail_at = fail_at
        self.wrong_read_0 = wrong_read_0  #: read_0 returns wrong data (the corner then gets a read retry)

    def __call__(self, req) -> PointResult:
        if req.corner == self.fail_at:
            raise KeyboardInterrupt("interrupted")
        self.calls.append(req.corner)
        e = req.corner.vdd_v**2 * 1e-12
        reads = [MeasurementRow(op, period_s=req.period_s, energy_j=e, access_time_s=1e-9, bits_checked=8,
                                bit_errors=0) for op in ("read_1", "read_0")]  # fmt: skip
        if self.wrong_read_0:
            reads[1] = reads[1].with_(status="failed", bit_errors=8, message="read 0xff, expected 0x0")
        rows = (
            MeasurementRow("min_cycle", cycle_time_s=2e-9, message="fake"),
            *(MeasurementRow(op, period_s=req.period_s, energy_j=e, bits_checked=8, bit_errors=0)
              for op in ("write_1to0", "write_0to1", "write_same")),
            *reads,
            MeasurementRow("idle", period_s=req.period_s, energy_j=e / 10),
            MeasurementRow("leakage", leakage_w=1e-6),
        )  # fmt: skip
        return PointResult(rows=rows, decks={"main": "0" * 64}, wall_s=0.5, runs=1)


def _corners(csv) -> list[str]:
    frame = pd.read_csv(csv)
    return sorted({Corner(p, v, t).name for p, v, t in zip(frame["process"], frame["vdd_v"], frame["temp_c"])})


def test_table_grows_resumes_from_itself_and_never_shrinks_midway(settings, tmp_path, monkeypatch):
    sp = settings.netlists_dir / "sram_8x16.sp"
    local = replace(settings, cache_dir=tmp_path / "cache")
    out = tmp_path / "out"
    run = dict(out_dir=out, jobs=1, progress=False)
    tt, ff = Corner("tt", 1.8, 25.0), Corner("ff", 1.8, 25.0)
    fake = _FakePoint()
    monkeypatch.setattr(sweep, "characterize_point", fake)

    first = sweep_macro(sp, local, Grid(("tt",), (1.8,), (25.0,)), **run)
    assert (first.points, first.simulated, first.written) == (1, 1, True)
    # another grid is added to the corners the table holds (tt comes from the point cache)
    second = sweep_macro(sp, local, Grid(("ff",), (1.8,), (25.0,)), **run)
    assert (second.points, second.simulated) == (2, 1) and fake.calls == [tt, ff]
    assert _corners(second.csv_path) == [ff.name, tt.name]
    prov = json.loads(second.json_path.read_text())
    assert prov["grid"] == {"process": ["tt", "ff"], "vdd_v": [1.8], "temp_c": [25.0]} and prov["missing_corners"] == []
    text = second.csv_path.read_text()

    # without the cache (another machine) both corners come from the table, which is left as it was
    fresh = replace(local, cache_dir=tmp_path / "fresh")
    again = sweep_macro(sp, fresh, Grid(("tt",), (1.8,), (25.0,)), **run)
    assert (again.points, again.simulated, again.written) == (2, 0, False) and second.csv_path.read_text() == text
    # unless told to simulate them anew
    anew = sweep_macro(sp, replace(local, cache_dir=tmp_path / "anew"), Grid(("tt",), (1.8,), (25.0,)),
                       reuse_table=False, **run)  # fmt: skip
    assert anew.simulated == 2 and fake.calls[-2:] == [tt, ff]

    # a grid partly done: the table lists what is missing
    monkeypatch.setattr(sweep, "characterize_point", _FakePoint(fail_at=Corner("tt", 1.95, 25.0)))
    with pytest.raises(KeyboardInterrupt):
        sweep_macro(sp, local, Grid(("tt",), (1.6, 1.8, 1.95), (25.0,)), **run)
    prov = json.loads(second.json_path.read_text())
    assert _corners(second.csv_path) == ["ff_1800mV_25C", "tt_1600mV_25C", "tt_1800mV_25C"]
    assert prov["missing_corners"] == ["ff_1600mV_25C"]  # of the product of the axes held (tt at 1.95 V never ran)

    # a code change makes every corner stale: an interrupted re-sweep leaves the fuller old table in place
    monkeypatch.setattr(sweep, "MEASUREMENT_VERSION", 999)
    before = second.csv_path.read_text()
    monkeypatch.setattr(sweep, "characterize_point", _FakePoint(fail_at=tt))
    with pytest.raises(KeyboardInterrupt):
        sweep_macro(sp, local, Grid(("tt",), (1.8,), (25.0,)), **run)
    assert second.csv_path.read_text() == before
    # and the resumed re-sweep replaces it whole, the corners finished before the interruption taken from the cache
    resumed_fake = _FakePoint()
    monkeypatch.setattr(sweep, "characterize_point", resumed_fake)
    resumed = sweep_macro(sp, local, Grid(("tt",), (1.8,), (25.0,)), **run)
    assert resumed.written and resumed.points == 3 and resumed.simulated == len(resumed_fake.calls) < 3
    assert tt in resumed_fake.calls
    assert json.loads(resumed.json_path.read_text())["measurement_version"] == 999


def _passing_retry(req, base_period_s: float, key: str = "") -> RetryRecord:
    """Stands in for cosim.characterize.retry.retry_reads: every main operation passes at 1.5x the period."""
    period = 1.5 * base_period_s
    rows = [MeasurementRow(op, period_s=period, energy_j=2e-12, bits_checked=8, bit_errors=0)
            for op in ("write_1to0", "write_0to1", "read_1", "read_0", "write_same")]  # fmt: skip
    rows.append(MeasurementRow("idle", period_s=period, energy_j=2e-13))
    return RetryRecord(key, req.corner, tuple(rows), MeasurementRow("read_cycle", cycle_time_s=period, message="fake"),
                       wall_s=0.1, runs=1)


def test_a_point_whose_main_rows_a_retry_replaced_is_taken_only_with_that_retry(settings, tmp_path, monkeypatch):
    """A passing read retry replaces the point's main rows in the table, so the table does not hold the point's own
    rows: with another retry key (the retry code changed) the sweep simulates the point again instead of taking the
    retry's rows for the point's (which would have said the reads pass at the retried period)."""
    sp = settings.netlists_dir / "sram_8x16.sp"
    grid, out = Grid(("tt",), (1.8,), (25.0,)), tmp_path / "out"
    fake = _FakePoint(wrong_read_0=True)
    monkeypatch.setattr(sweep, "characterize_point", fake)
    monkeypatch.setattr(sweep, "retry_reads", _passing_retry)
    first = sweep_macro(sp, replace(settings, cache_dir=tmp_path / "c1"), grid, out_dir=out, jobs=1, progress=False)
    assert (first.simulated, first.read_retries_simulated) == (1, 1)
    table = read_committed(first.csv_path)
    (point,) = table.points.values()
    assert point.main_rows_from_retry in table.retries
    text = first.csv_path.read_text()
    # the same retry code: both come from the table
    same = sweep_macro(sp, replace(settings, cache_dir=tmp_path / "c2"), grid, out_dir=out, jobs=1, progress=False)
    assert (same.simulated, same.read_retries_simulated, same.written) == (0, 0, False)
    # other retry code: the point is simulated again, then retried, and the table says the same
    monkeypatch.setattr(sweep, "retry_key", lambda key: "other" + key)
    other = sweep_macro(sp, replace(settings, cache_dir=tmp_path / "c3"), grid, out_dir=out, jobs=1, progress=False)
    assert (other.simulated, other.read_retries_simulated) == (1, 1) and len(fake.calls) == 2
    rows = pd.read_csv(other.csv_path).set_index("op")
    assert rows.loc["read_cycle", "status"] == "ok" and rows.loc["read_cycle", "cycle_time_s"] == pytest.approx(6e-9)
    assert rows.loc["read_0", "status"] == "ok" and rows.loc["read_0", "period_s"] == pytest.approx(6e-9)
    # the same numbers, and the provenance names the retry made now: a next sweep takes both from the table
    assert other.csv_path.read_text() == text and other.written
    assert read_committed(other.csv_path).points.popitem()[1].main_rows_from_retry.startswith("other")
    again = sweep_macro(sp, replace(settings, cache_dir=tmp_path / "c4"), grid, out_dir=out, jobs=1, progress=False)
    assert (again.simulated, again.read_retries_simulated, again.written) == (0, 0, False)
