"""The read retry (cosim.characterize.retry): which corners it re-runs, how its rows replace the point's, and real
ngspice runs of the tiny macro at periods too short for any read and long enough for all."""

from __future__ import annotations

import math

import pytest
from joblib import Parallel, delayed

from cosim.characterize.records import MeasurementRow, RetryRecord
from cosim.characterize.retry import RETRY_FACTORS, main_period_s, merge, needs_retry, retry_reads
from cosim.types import Corner


def _main(read_0="ok", read_1="ok", writes="ok", period=5e-9, ran=True) -> list[MeasurementRow]:
    rows = []
    for op, status in (("write_1to0", writes), ("write_0to1", "ok"), ("read_1", read_1), ("read_0", read_0),
                       ("write_same", "ok"), ("idle", "ok")):
        row = {"op": op, "status": status, "period_s": period, "energy_j": 1e-12}
        if ran and op != "idle":
            row.update(bits_checked=8, bit_errors=0 if status == "ok" else 8)
        rows.append(MeasurementRow(**row))
    return rows + [MeasurementRow("min_cycle", cycle_time_s=3e-9), MeasurementRow("leakage")]


def test_which_corners_are_retried():
    assert not needs_retry(_main())
    assert needs_retry(_main(read_0="failed"))
    assert needs_retry(_main(read_1="failed"))
    assert not needs_retry(_main(read_0="failed", writes="failed"))  # the corner's writes fail: no period helps reads
    sim_error = [MeasurementRow(op, "failed", message="no bit counts") for op in ("write_1to0", "read_0", "read_1")]
    assert not needs_retry(sim_error)  # the deck did not run: nothing was read
    assert main_period_s(_main(period=7.5e-9)) == 7.5e-9


def test_merge_replaces_the_main_rows_and_adds_read_cycle():
    base = _main(read_0="failed")
    passing = tuple(r.with_(period_s=11.25e-9, status="ok") for r in _main() if r.op in ("read_0", "read_1", "idle"))
    retry = RetryRecord("k", Corner("tt", 1.8, 25.0), passing, MeasurementRow("read_cycle", cycle_time_s=11.25e-9))
    rows = {r.op: r for r in merge(base, retry)}
    assert rows["read_0"].status == "ok" and rows["read_0"].period_s == 11.25e-9
    assert rows["write_1to0"].period_s == 5e-9  # rows the retry did not give are kept
    assert rows["read_cycle"].cycle_time_s == 11.25e-9 and len(rows) == len(base) + 1
    # no period passed: the point's failures stand, read_cycle says so
    failed = RetryRecord("k", Corner("tt", 1.8, 25.0), None, MeasurementRow("read_cycle", "failed"))
    rows = {r.op: r for r in merge(base, failed)}
    assert rows["read_0"].status == "failed" and rows["read_cycle"].status == "failed"
    # not retried: reads passed (an empty, ok floor) or writes failed (a failed one)
    assert {r.op: r for r in merge(_main(), None)}["read_cycle"].status == "ok"
    assert {r.op: r for r in merge(_main(), None)}["read_cycle"].cycle_time_s is None
    assert {r.op: r for r in merge(_main(read_0="failed", writes="failed"), None)}["read_cycle"].status == "failed"


@pytest.mark.spice
def test_retry_in_ngspice_finds_a_passing_period_or_reports_none(settings, models):
    """sram_8x16 at tt/1.8 V/25 C (min cycle 2.69 ns): from a 0.5 ns main period the longest retried period
    (1.125 ns) reads wrong, so the shorter one (0.75 ns) is not run; from 2 ns, one of 3 and 4.5 ns reads right, and
    its rows replace the main rows."""
    from tests.characterize.test_point_spice import _request

    req = _request(settings, models, Corner("tt", 1.8, 25.0))
    short, long_ = Parallel(n_jobs=2, backend="loky")(delayed(retry_reads)(req, p) for p in (0.5e-9, 2e-9))
    assert short.rows is None and short.read_cycle.status == "failed"
    assert "1.125e-09 s: " in short.read_cycle.message and short.runs == 1
    assert "7.5e-10 s not tried" in short.read_cycle.message
    cycle = long_.read_cycle
    assert cycle.status == "ok", cycle
    assert any(math.isclose(cycle.cycle_time_s, 2e-9 * f) for f in RETRY_FACTORS)
    rows = {r.op: r for r in long_.rows}
    assert set(rows) == {"write_1to0", "write_0to1", "read_1", "read_0", "write_same", "idle"}
    for row in rows.values():
        assert row.status == "ok" and row.period_s == cycle.cycle_time_s
    assert rows["read_1"].bit_errors == 0 and rows["read_1"].bits_checked == 8
