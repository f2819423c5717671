import math

import pandas as pd
import pytest

from cosim.errors import CornerError, InterpolationRefused, TableIntegrityError, TableRangeError, UnusableCorner
from cosim.table import CharacterizationTable
from cosim.types import Corner
from tests.tablegen import energy, restamp, write_table


@pytest.fixture()
def table(tmp_path):
    return CharacterizationTable.load(write_table(tmp_path))


def test_exact_grid_point_is_returned_exactly(table):
    v = table.lookup("tt", 1.8, 25.0, "read_1", "energy_j")
    assert v.value == energy("read_1", "tt", 1.8, 25.0)
    assert not v.interpolated and v.rows[0].weight == 1.0 and v.rows[0].point_key == "tt_1.8_25.0"


def test_bilinear_interpolation_inside_grid(table):
    v = table.lookup("ff", 1.7, 75.0, "write_0to1", "energy_j")
    assert v.value == pytest.approx(energy("write_0to1", "ff", 1.7, 75.0), rel=1e-12)
    assert v.interpolated and len(v.rows) == 4
    assert sum(r.weight for r in v.rows) == pytest.approx(1.0)
    # the value is the rows it cites, blended by their weights
    assert v.value == pytest.approx(sum(r.weight * energy("write_0to1", "ff", r.vdd_v, r.temp_c) for r in v.rows),
                                    rel=1e-12)
    # on a grid line only two rows are used
    line = table.lookup("tt", 1.8, 0.0, "idle", "energy_j")
    assert len(line.rows) == 2 and line.value == pytest.approx(energy("idle", "tt", 1.8, 0.0), rel=1e-12)


@pytest.mark.parametrize("vdd,temp", [(1.5, 25.0), (2.0, 25.0), (1.8, -50.0), (1.8, 130.0)])
def test_outside_grid_raises(table, vdd, temp):
    with pytest.raises(TableRangeError, match="never extrapolate"):
        table.query("tt", vdd, temp, "read_0", "energy_j")


def test_unknown_names(table):
    with pytest.raises(CornerError):
        table.query("xx", 1.8, 25.0, "read_0", "energy_j")
    with pytest.raises(TableRangeError, match="not characterized"):
        table.query("sf", 1.8, 25.0, "read_0", "energy_j")
    with pytest.raises(TableRangeError, match="unknown op"):
        table.query("tt", 1.8, 25.0, "read_2", "energy_j")
    with pytest.raises(TableRangeError, match="unknown quantity"):
        table.query("tt", 1.8, 25.0, "read_0", "energy_w")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(TableRangeError, match="make characterize"):
        CharacterizationTable.load(tmp_path / "nope.csv")
    path = write_table(tmp_path)
    df = pd.read_csv(path).drop(columns=["energy_j"])
    df.to_csv(path, index=False)
    with pytest.raises(TableIntegrityError, match="sha256 is not the one sram_test.json records"):
        CharacterizationTable.load(path)
    restamp(path)
    with pytest.raises(TableRangeError, match="missing column.*energy_j"):
        CharacterizationTable.load(path)
    path = write_table(tmp_path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(TableIntegrityError, match="unreadable provenance"):
        CharacterizationTable.load(path)
    path = write_table(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(TableRangeError, match="provenance file"):
        CharacterizationTable.load(path)


def test_access_costs_formulas(table):
    c = table.access_costs(Corner("tt", 1.8, 25.0))
    e = lambda op: energy(op, "tt", 1.8, 25.0)  # noqa: E731
    assert c.read_base_j == e("read_0")
    assert c.read_energy_j(16) == pytest.approx(e("read_1"), rel=1e-12)
    assert c.write_energy_j(0, 0) == e("write_same")
    assert c.write_energy_j(16, 0) == pytest.approx(e("write_0to1"), rel=1e-12)
    assert c.write_energy_j(0, 16) == pytest.approx(e("write_1to0"), rel=1e-12)
    assert c.bit_error_rate == 0.0 and c.bit_error_rate_upper95 == pytest.approx(3 / 32)
    assert set(c.sources) >= {"read_base_j", "read_per_one_j", "leakage_w", "min_cycle_s", "bit_error_rate"}
    assert all(r.process == "tt" for rows in c.sources.values() for r in rows)
    # moving to a shorter clock removes leakage energy of the difference
    c2 = c.at_period(5e-9)
    assert c2.idle_j == pytest.approx(c.idle_j - c.leakage_w * 5e-9)


def test_failed_rows_refused_and_passing_rows_bit_errors_counted(tmp_path):
    t = CharacterizationTable.load(write_table(tmp_path, failed_read_at=("ss", 1.6, 125.0)))
    with pytest.raises(TableRangeError, match="failed in simulation"):
        t.query("ss", 1.6, 125.0, "read_0", "energy_j")
    t = CharacterizationTable.load(write_table(tmp_path, bit_errors_at=("ss", 1.6, 125.0)))
    c = t.access_costs(Corner("ss", 1.6, 125.0))  # errors counted on rows that passed: the rate is theirs
    assert c.bit_error_rate == pytest.approx(1 / 32)
    assert math.isclose(t.access_costs(Corner("ss", 1.8, 125.0)).bit_error_rate, 0.0)


def test_failed_reads_with_no_passing_period_make_the_corner_unusable_not_a_bit_error_rate(tmp_path):
    """Reads that fail in simulation are systematic: never a random bit-error rate. With no read_cycle period at
    which they pass the corner is unusable, one line naming the macro, the corner, the ops and the fix."""
    t = CharacterizationTable.load(write_table(tmp_path, failed_read_at=("ss", 1.6, 125.0)))
    st = t.corner_status("ss", 1.6, 125.0)
    assert not st.usable and st.status == "unusable: reads fail at every clock tried"
    assert set(st.failed_ops) == {"read_0", "read_1"}
    with pytest.raises(UnusableCorner) as info:
        t.access_costs(Corner("ss", 1.6, 125.0))
    line = str(info.value)
    assert "\n" not in line and info.value.status == st.status
    for part in ("sram_test at ss 1.6 V 125 C is unusable: reads fail at every clock tried", "read_0 failed: read back "
                 "wrong data", "pick another corner", str(t.path)):
        assert part in line, part


def test_failed_writes_make_the_corner_unusable(tmp_path):
    path = write_table(tmp_path)
    df = pd.read_csv(path)
    here = (df["process"] == "ss") & (df["vdd_v"] == 1.6) & (df["temp_c"] == 125.0) & (df["op"] == "write_0to1")
    df.loc[here, ["status", "message"]] = ["failed", "stored 0x0, expected 0xffff"]
    df.to_csv(path, index=False)
    restamp(path)
    t = CharacterizationTable.load(path)
    with pytest.raises(UnusableCorner, match=r"ss 1.6 V 125 C is unusable: writes fail \(write_0to1 failed: stored "
                                             r"0x0, expected 0xffff\)") as info:
        t.access_costs(Corner("ss", 1.6, 125.0))
    assert info.value.status == "unusable: writes fail"
    assert t.corner_status("ss", 1.8, 125.0).status == "ok"


def test_between_grid_points_that_disagree_on_pass_fail_is_refused(tmp_path):
    """ss 1.6 V 125 C's reads failed: a query between it and passing neighbours is refused (pass/fail is never
    interpolated); between passing neighbours the numbers still interpolate."""
    t = CharacterizationTable.load(write_table(tmp_path, failed_read_at=("ss", 1.6, 125.0)))
    for query in (lambda: t.lookup("ss", 1.7, 100.0, "read_0", "energy_j"),
                  lambda: t.lookup("ss", 1.7, 100.0, "read_0", "bits_checked", allow_failed=True),
                  lambda: t.access_costs(Corner("ss", 1.6, 100.0))):
        with pytest.raises(InterpolationRefused) as info:
            query()
        line = str(info.value)
        assert "\n" not in line and str(t.path) in line and "never interpolated" in line
        assert "ss 1.6 V 125 C" in line and "failed" in line and "characterize this corner" in line
    c = t.access_costs(Corner("ss", 1.8, 100.0))  # neighbours ss 1.8 V 25 C and 125 C both pass
    assert c.read_base_j == pytest.approx(energy("read_0", "ss", 1.8, 100.0), rel=1e-12)
    assert c.status.status == "ok"


def test_rows_at_different_periods_are_combined_at_one(tmp_path):
    path = write_table(tmp_path)
    df = pd.read_csv(path)
    df.loc[df["op"] == "idle", "period_s"] = 20e-9  # idle measured at twice the read period
    df.to_csv(path, index=False)
    restamp(path)
    t = CharacterizationTable.load(path)
    c = t.access_costs(Corner("tt", 1.8, 25.0))
    leak = t.query("tt", 1.8, 25.0, "leakage", "leakage_w")
    assert c.period_s == 10e-9
    assert c.idle_j == pytest.approx(energy("idle", "tt", 1.8, 25.0) - leak * 10e-9, rel=1e-12)
    assert any(r.op == "leakage" for r in c.sources["idle_j"])


def test_row_switch_hazard_and_words_per_row(tmp_path):
    c = CharacterizationTable.load(write_table(tmp_path, words_per_row=4)).access_costs(Corner("tt", 1.7, 30.0))
    assert c.row_switch_hazard is True and c.words_per_row == 4 and len(c.sources["row_switch_hazard"]) == 4
    c = CharacterizationTable.load(write_table(tmp_path, row_switch_errors=False)).access_costs(Corner("tt", 1.8, 25.0))
    assert c.row_switch_hazard is False
    path = write_table(tmp_path)
    df = pd.read_csv(path)
    df[df["op"] != "row_switch"].to_csv(path, index=False)
    restamp(path)
    assert CharacterizationTable.load(path).access_costs(Corner("tt", 1.8, 25.0)).row_switch_hazard is None


def test_read_cycle_floor_raises_the_min_cycle(tmp_path):
    """A corner whose reads needed a longer period (op read_cycle, cosim.characterize.retry) is clocked no faster
    than that; an empty read_cycle (reads passed at the main period) or none at all leaves min_cycle alone."""
    path = write_table(tmp_path)
    df = pd.read_csv(path)
    extra = df[df["op"] == "min_cycle"].copy()
    extra["op"] = "read_cycle"
    extra["cycle_time_s"] = float("nan")
    extra.loc[(extra["process"] == "ss") & (extra["vdd_v"] == 1.6) & (extra["temp_c"] == 25.0), "cycle_time_s"] = 9e-9
    pd.concat([df, extra]).to_csv(path, index=False)
    restamp(path)
    t = CharacterizationTable.load(path)
    slow = t.access_costs(Corner("ss", 1.6, 25.0))
    assert slow.min_cycle_s == 9e-9
    assert {r.op for r in slow.sources["min_cycle_s"]} == {"min_cycle", "read_cycle"}
    plain = t.access_costs(Corner("tt", 1.8, 25.0))
    assert plain.min_cycle_s == t.query("tt", 1.8, 25.0, "min_cycle", "cycle_time_s")
    assert {r.op for r in plain.sources["min_cycle_s"]} == {"min_cycle"}
    # between grid points the floor is taken per point first, so the slow neighbour still counts
    between = t.access_costs(Corner("ss", 1.7, 25.0))
    assert between.min_cycle_s == pytest.approx(0.5 * 9e-9 + 0.5 * t.query("ss", 1.8, 25.0, "min_cycle", "cycle_time_s"))
    assert "read_cycle" in {r.op for r in between.sources["min_cycle_s"]}


def test_columns_match_the_characterization_writer():
    from cosim.characterize.sweep import COLUMNS as WRITTEN
    from cosim.table import COLUMNS

    assert tuple(WRITTEN) == COLUMNS


def _edit_row(path, op: str, **values) -> None:
    df = pd.read_csv(path)
    row = df.index[(df["op"] == op)][0]
    for k, v in values.items():
        df.loc[row, k] = v
    df.to_csv(path, index=False)
    restamp(path)
    restamp(path)


@pytest.mark.parametrize("op, values, refusal", [
    ("read_0", {"energy_j": -3.1e-12}, "read_0: energy_j outside"),
    ("read_0", {"energy_j": 2e-6, "status": "failed", "bit_errors": 8.0}, "read_0: energy_j outside .* failed row"),
    ("leakage", {"leakage_w": 1.6}, "leakage: leakage_w outside"),
    ("read_1", {"bit_errors": 40.0}, "read_1: bit_errors > bits_checked"),
    ("read_1", {"access_time_s": 0.0}, "read_1: access_time_s outside"),
])  # fmt: skip
def test_physically_impossible_rows_are_refused(tmp_path, op, values, refusal):
    path = write_table(tmp_path)
    _edit_row(path, op, **values)
    with pytest.raises(TableIntegrityError, match=refusal):
        CharacterizationTable.load(path)


def test_a_failed_cycle_may_hand_charge_back(tmp_path):
    # a write that did not flip its cells can return charge to the supply (sram_8x16 sf/0.9 V/25 C write_same:
    # -6.9e-17 J): a failed row's energy is bounded in size only, an ok row's must be positive
    path = write_table(tmp_path)
    _edit_row(path, "write_same", energy_j=-6.9e-17, status="failed", bits_checked=8.0, bit_errors=8.0,
              message="stored 0xff, expected 0x0")
    CharacterizationTable.load(path)  # read, not refused
    _edit_row(path, "write_same", status="ok", bit_errors=0.0, message="")
    with pytest.raises(TableIntegrityError, match="write_same: energy_j outside \\(0"):
        CharacterizationTable.load(path)


def test_a_csv_cut_inside_a_number_is_refused_with_one_line(tmp_path):
    path = write_table(tmp_path)
    text = path.read_text()
    path.write_text(text[: text.index("e-12", len(text) // 2)] + "\n")  # cut after a mantissa: 3.1 pJ -> 3.1 J
    with pytest.raises(TableIntegrityError) as info:
        CharacterizationTable.load(path)
    assert "sha256 is not the one" in str(info.value) and "\n" not in str(info.value)


def test_corners_are_the_grid_points_the_committed_tables_hold():
    # a table grows corner by corner, so it need not fill processes x supplies x temperatures; whatever lists its
    # corners (report, --sweep grid) must take exactly those with rows
    from pathlib import Path

    from cosim.report.cli import parse_sweep

    for path in sorted((Path(__file__).resolve().parents[1] / "characterization").glob("sram_*.csv")):
        table = CharacterizationTable.load(path)
        rows = pd.read_csv(path)
        held = {(p, float(v), float(t)) for p, v, t in zip(rows.process, rows.vdd_v, rows.temp_c)}
        assert {(c.process, c.vdd_v, c.temp_c) for c in table.corners()} == held, path.name
        assert parse_sweep("grid", table) == table.corners()
        for c in table.corners():
            table.corner_status(c.process, c.vdd_v, c.temp_c)  # every listed corner has its rows
