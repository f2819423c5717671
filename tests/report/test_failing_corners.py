"""Failing corners on the committed characterization tables: a corner whose writes fail, or whose reads fail at every
clock tried, is unusable everywhere (typed error, exit status 2, a sweep row with no figures); reads that pass only
at a slower clock run there; pass/fail is never interpolated. The corners are taken from the tables' status rows
of every committed macro (sram_32x256 tt/1.8 V/-40 C first where it fails), so the tests follow re-simulated tables;
a kind of corner no table holds fails the test (the tables are what these behaviours are about)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from cosim.config import load_settings
from cosim.errors import InterpolationRefused, UnusableCorner
from cosim.table import CharacterizationTable, table_path
from cosim.types import Corner

SETTINGS = load_settings()
MACROS = ("sram_32x256", "sram_32x512", "sram_16x128", "sram_8x16")  #: searched in this order


class Tables:
    """The committed tables, loaded once; ``find`` picks the first macro with a corner of the kind asked for."""

    def __init__(self) -> None:
        self.tables = {m: CharacterizationTable.load(table_path(SETTINGS.characterization_dir, m)) for m in MACROS}
        self.frames = {m: pd.read_csv(t.path) for m, t in self.tables.items()}

    def find(self, want, what: str) -> tuple[str, CharacterizationTable, pd.DataFrame, Corner]:
        for m in MACROS:
            corners = _corners(self.frames[m], want)
            if corners:
                return m, self.tables[m], self.frames[m], corners[0]
        raise AssertionError(f"no committed table has a corner where {what}: {', '.join(MACROS)}")


@pytest.fixture(scope="module")
def tables() -> Tables:
    return Tables()


def _rows(frame, corner: Corner) -> pd.DataFrame:
    return frame[(frame.process == corner.process) & (frame.vdd_v == corner.vdd_v) & (frame.temp_c == corner.temp_c)]


def _corners(frame, want) -> list[Corner]:
    """Grid corners whose rows satisfy want(rows by op), tt/1.8 V/-40 C first."""
    out = []
    for (p, v, t), g in frame.groupby(["process", "vdd_v", "temp_c"]):
        if want(g.set_index("op")):
            out.append(Corner(p, v, t))
    return sorted(out, key=lambda c: (c != Corner("tt", 1.8, -40.0), c.process, c.vdd_v, c.temp_c))


def _failed(rows, ops) -> bool:
    return any(op in rows.index and rows.loc[op, "status"] == "failed" for op in ops)


def _reads_fail(rows) -> bool:  # reads failed and no read_cycle period at which they pass; writes fine
    return _failed(rows, ("read_0", "read_1")) and _failed(rows, ("read_cycle",)) \
        and not _failed(rows, ("write_same", "write_0to1", "write_1to0", "min_cycle"))


def _writes_fail(rows) -> bool:
    return _failed(rows, ("write_same", "write_0to1", "write_1to0"))


def _slower_clock(rows) -> bool:  # reads pass only at the read_cycle period
    return "read_cycle" in rows.index and rows.loc["read_cycle", "status"] == "ok" \
        and rows.loc["read_cycle", "cycle_time_s"] > rows.loc["min_cycle", "cycle_time_s"]


def _all_ok(rows) -> bool:
    return (rows.status == "ok").all() and not _slower_clock(rows)


def _check_line(line: str, macro: str, frame, corner: Corner, ops) -> None:
    """One line naming the macro, the corner, each failed op with the table's message, and the fix."""
    assert "\n" not in line
    assert f"{macro} at {corner.process} {corner.vdd_v:g} V {corner.temp_c:g} C is unusable" in line
    rows = _rows(frame, corner).set_index("op")
    for op in ops:
        if op in rows.index and rows.loc[op, "status"] == "failed":
            assert op in line and str(rows.loc[op, "message"]) in line, op
    assert "pick another corner" in line and f"{macro}.csv" in line


def test_a_corner_whose_reads_fail_at_every_clock_is_a_typed_error(tables):
    from cosim.simulate import InferSpec, run_inference

    macro, table, frame, corner = tables.find(_reads_fail, "reads fail at every clock tried")
    with pytest.raises(UnusableCorner) as info:
        table.access_costs(corner)
    assert info.value.status == "unusable: reads fail at every clock tried"
    _check_line(str(info.value), macro, frame, corner, ("read_0", "read_1", "read_cycle"))
    with pytest.raises(UnusableCorner) as again:  # the run stage: the same line, before any model or data is loaded
        run_inference(InferSpec(macro=macro, corner=corner), SETTINGS)
    assert str(again.value) == str(info.value)


def _with_failed_write(tmp_path, monkeypatch) -> tuple[str, pd.DataFrame, Corner]:
    """A copy of the committed sram_8x16 table whose tt/1.8 V/25 C write_0to1 failed (as a table reports a write that
    did not store its word), made the characterization setting: where no committed corner has failed writes."""
    import shutil

    from tests.tablegen import restamp

    for suffix in (".csv", ".json"):
        shutil.copy(table_path(SETTINGS.characterization_dir, "sram_8x16").with_suffix(suffix), tmp_path)
    path = tmp_path / "sram_8x16.csv"
    frame = pd.read_csv(path)
    at = (frame.process == "tt") & (frame.vdd_v == 1.8) & (frame.temp_c == 25.0) & (frame.op == "write_0to1")
    frame.loc[at, ["status", "message", "access_time_s", "timed_from"]] = ["failed", "stored 0x0, expected 0xff", None, None]
    frame.to_csv(path, index=False)
    restamp(path)
    monkeypatch.setenv("COSIM_CHARACTERIZATION_DIR", str(tmp_path))
    return "sram_8x16", frame, Corner("tt", 1.8, 25.0)


def test_a_corner_whose_writes_fail_is_a_typed_error_in_the_api(tables, tmp_path, monkeypatch):
    import torch

    import cosim

    try:
        macro, _, frame, corner = tables.find(_writes_fail, "writes fail")
    except AssertionError:
        macro, frame, corner = _with_failed_write(tmp_path, monkeypatch)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 6 * 6, 10))
    with pytest.raises(cosim.UnusableCorner) as info:
        cosim.simulate(net, "digits", hardware=cosim.Hardware.load(macro=macro),
                       corner=f"{corner.process}/{corner.vdd_v}/{corner.temp_c}",
                       options=cosim.RunOptions(limit=5, calibration=8))
    assert info.value.status == "unusable: writes fail"
    _check_line(str(info.value), macro, frame, corner, ("write_same", "write_0to1", "write_1to0"))


def test_cosim_infer_at_an_unusable_corner_exits_2_with_one_line(tables, tmp_path, monkeypatch, capsys):
    import cosim.cli as cli_mod

    macro, _, frame, corner = tables.find(lambda r: _reads_fail(r) or _writes_fail(r), "the corner is unusable")
    monkeypatch.setattr("sys.argv", ["cosim", "infer", "--macro", macro, "--process", corner.process,
                                     "--vdd", f"{corner.vdd_v:g}", "--temp", f"{corner.temp_c:g}",
                                     "--out", str(tmp_path / "out"), "--no-plots"])
    with pytest.raises(SystemExit) as exc:
        cli_mod.main()
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("cosim: error: ")
    _check_line(captured.err.strip(), macro, frame, corner, ("read_0", "read_1", "read_cycle", "write_same",
                                                             "write_0to1", "write_1to0"))
    assert "accuracy" not in captured.out and not (tmp_path / "out").exists()


def _disagreeing_pair(table, frame):
    for (p, t), g in frame.groupby(["process", "temp_c"]):
        verdicts = {v: table.corner_status(p, v, t) for v in sorted(g.vdd_v.unique())}
        vs = list(verdicts)
        pair = next(((a, b) for a, b in zip(vs, vs[1:]) if verdicts[a].usable != verdicts[b].usable), None)
        if pair:
            return p, t, verdicts, pair
    return None


def test_a_query_between_grid_points_that_disagree_is_refused(tables):
    """Two neighbouring supplies of one process and temperature, one passing and one unusable: the corner between
    them is refused (every op, and the corner itself), naming the table, the query and the neighbours' statuses."""
    found = next(((tables.tables[m], hit) for m in MACROS
                  if (hit := _disagreeing_pair(tables.tables[m], tables.frames[m])) is not None), None)
    assert found, "no committed table has a passing corner beside an unusable one"
    table, (p, t, verdicts, pair) = found
    a, b = pair
    mid = round((a + b) / 2, 3)
    pi = table.processes.index(p)
    ia, ib, it = table.vdds.index(a), table.vdds.index(b), table.temps.index(t)
    op = next(op for oi, op in enumerate(table.ops) if table.status[pi, ia, it, oi] != table.status[pi, ib, it, oi])
    for query in (lambda: table.access_costs(Corner(p, mid, t)), lambda: table.corner_status(p, mid, t),
                  lambda: table.lookup(p, mid, t, op, "bits_checked", allow_failed=True)):
        with pytest.raises(InterpolationRefused) as info:
            query()
        line = str(info.value)
        assert "\n" not in line and str(table.path) in line and f"{p} {mid:g} V {t:g} C" in line
        assert "never interpolated" in line and "query a grid point" in line and "characterize this corner" in line
        for v in (a, b):
            assert f"{p} {v:g} V {t:g} C: " in line
    line = str(pytest.raises(InterpolationRefused, table.corner_status, p, mid, t).value)
    for v in (a, b):
        assert f"{p} {v:g} V {t:g} C: {verdicts[v].status}" in line


def test_a_corner_between_grid_points_is_refused_exactly_when_its_neighbours_disagree(tables):
    """The issue's example, ss 1.7 V 0 C, lay between failing and passing corners and got a bit-error rate of
    0.346: wherever the four neighbours of that point disagree it is refused, and where they all pass it is not."""
    checked = 0
    for m in MACROS:
        table = tables.tables[m]
        if not {1.6, 1.8} <= set(table.vdds) or not {-40.0, 25.0} <= set(table.temps) or "ss" not in table.processes:
            continue
        cells = [table.corner_status("ss", v, t) for v in (1.6, 1.8) for t in (-40.0, 25.0)]
        if len({c.status for c in cells}) == 1 and cells[0].usable:
            assert table.access_costs(Corner("ss", 1.7, 0.0)).status.usable
        else:
            with pytest.raises(InterpolationRefused, match=r"ss 1.7 V 0 C lies between grid points that disagree"):
                table.access_costs(Corner("ss", 1.7, 0.0))
        checked += 1
    assert checked >= 1


def _passing_block(table, frame):
    ok = {(c.process, c.vdd_v, c.temp_c) for c in _corners(frame, _all_ok)}
    V, T = table.vdds, table.temps
    return next(((p, i, j) for p in table.processes for i in range(len(V) - 1) for j in range(len(T) - 1)
                 if all((p, V[i + a], T[j + b]) in ok for a in (0, 1) for b in (0, 1))), None)


def test_between_passing_grid_points_numbers_interpolate_and_are_exact_on_the_grid(tables):
    m = next((m for m in MACROS if _passing_block(tables.tables[m], tables.frames[m])), None)
    assert m, "no committed table has a 2 x 2 block of passing corners"
    table, frame = tables.tables[m], tables.frames[m]
    V, T = table.vdds, table.temps
    p, i, j = _passing_block(table, frame)

    def csv(v, t, op="read_1", q="energy_j"):
        return float(_rows(frame, Corner(p, v, t)).set_index("op").loc[op, q])

    for v in (V[i], V[i + 1]):
        for t in (T[j], T[j + 1]):
            assert table.query(p, v, t, "read_1", "energy_j") == csv(v, t)  # exact, not a blend
    v, t = V[i] + 0.25 * (V[i + 1] - V[i]), T[j] + 0.75 * (T[j + 1] - T[j])
    expected = sum(wv * wt * csv(gv, gt) for gv, wv in ((V[i], 0.75), (V[i + 1], 0.25))
                   for gt, wt in ((T[j], 0.25), (T[j + 1], 0.75)))
    got = table.lookup(p, v, t, "read_1", "energy_j")
    assert got.value == pytest.approx(expected, rel=1e-12) and len(got.rows) == 4
    costs = table.access_costs(Corner(p, v, t))
    assert costs.status.status == "ok" and costs.bit_error_rate == 0.0


def test_reads_that_pass_at_a_slower_clock_run_there_with_no_bit_errors(tables, tmp_path):
    from cosim.report.report import summary, write_outputs
    from cosim.simulate import InferSpec, run_inference

    macro, _, frame, corner = tables.find(_slower_clock, "reads pass only at the read_cycle period")
    rows = _rows(frame, corner).set_index("op")
    read_cycle, min_cycle = rows.loc["read_cycle", "cycle_time_s"], rows.loc["min_cycle", "cycle_time_s"]
    res = run_inference(InferSpec(macro=macro, corner=corner, limit=10, batch_size=10), SETTINGS)
    assert res.system.clock_s == read_cycle > min_cycle  # the memory model clocks the macro at read_cycle
    rep = write_outputs(res, tmp_path, plots=False)
    st = rep["corner_status"]
    assert st["status"] == "reads fail at this clock; slower clock used" and st["usable"]
    assert math.isclose(st["min_cycle_clock_hz"], 1 / min_cycle) and math.isclose(st["clock_hz"], 1 / read_cycle)
    text = summary(rep)
    assert "reads fail at " in text and "where they pass" in text
    assert rep["bit_errors"]["bit_error_rate"] == 0.0 and res.bits_flipped == 0
    assert "Reads fail at this clock" in (tmp_path / "report.html").read_text()


def test_a_sweep_lists_every_corner_with_its_status_and_unusable_ones_without_figures(tables, tmp_path):
    from cosim.cli import cli

    macro, table, frame, bad = tables.find(lambda r: _reads_fail(r) or _writes_fail(r), "the corner is unusable")
    unusable = [bad]
    usable = _corners(frame, _all_ok)[:1]
    assert usable, f"{macro}'s table has no corner where every op passes"
    statuses = [table.corner_status(c.process, c.vdd_v, c.temp_c).status for c in unusable]
    spec = ",".join(f"{c.process}/{c.vdd_v:g}/{c.temp_c:g}" for c in unusable + usable)
    out = tmp_path / "sweep"
    r = CliRunner().invoke(cli, ["infer", "--macro", macro, "--sweep", spec, "--limit", "10", "--batch-size", "10",
                                 "--jobs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = {(x["process"], x["vdd"], x["temp_c"]): x for x in json.loads((out / "sweep.json").read_text())}
    assert len(rows) == 2
    for c, status in zip(unusable, statuses):
        row = rows[(c.process, c.vdd_v, c.temp_c)]
        assert row["status"] == status and not row["usable"] and "accuracy" not in row
        assert str(pytest.raises(UnusableCorner, table.access_costs, c).value) == row["reason"]
        assert not (out / c.name).exists()
    ok = rows[(usable[0].process, usable[0].vdd_v, usable[0].temp_c)]
    assert ok["status"] == "ok" and ok["usable"] and ok["accuracy"] > 0.5 and ok["bit_error_rate"] == 0.0
    assert ok["clock_hz"] == pytest.approx(1 / table.clock_floor(usable[0].process, usable[0].vdd_v,
                                                                 usable[0].temp_c).value)
    png = out / "sweep_vs_vdd.png"
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    assert r.output.count("UNUSABLE: ") == 1 and "1 of 2 corner(s) unusable" in r.output


def test_sweep_grid_is_every_corner_of_the_table(tables):
    from cosim.report.cli import parse_sweep

    m = max(MACROS, key=lambda m: len(tables.frames[m]))
    table, frame = tables.tables[m], tables.frames[m]
    corners = parse_sweep("grid", table)
    in_csv = {(p, v, t) for p, v, t in frame[["process", "vdd_v", "temp_c"]].itertuples(index=False)}
    assert len(corners) == len(in_csv) == len(set(corners))
    assert {(c.process, c.vdd_v, c.temp_c) for c in corners} == in_csv
    assert len({c.temp_c for c in corners}) == frame.temp_c.nunique() > 1
