"""Liberty export of the committed sram_8x16 tables: every corner's .lib parses with liberty-parser and carries the
tables' measured values with the definitions of docs/timing.md (OpenSTA reads them in test_opensta.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from liberty.parser import parse_liberty

from cosim.characterize.arcs import NOMINAL, RAMP_TO_SLEW
from cosim.characterize.arcs_table import read_timing, timing_path
from cosim.characterize.liberty import corner_file_name, export_liberty
from cosim.netlist import load_macro_json
from cosim.table import classify_corner
from tests.tablegen import restamp

MACRO = "sram_8x16"


@pytest.fixture
def tables(settings, tmp_path):
    """Copies of the committed main and timing tables of sram_8x16 (tests edit them)."""
    src = settings.characterization_dir
    for f in (src / f"{MACRO}.csv", src / f"{MACRO}.json"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "timing").mkdir()
    for suffix in (".csv", ".json"):
        shutil.copy(timing_path(src, MACRO).with_suffix(suffix), tmp_path / "timing" / f"{MACRO}{suffix}")
    return tmp_path / f"{MACRO}.csv"


def _row(frame, process, vdd, temp, op):
    row = frame[(frame.process == process) & (frame.vdd_v == vdd) & (frame.temp_c == temp) & (frame.op == op)]
    assert len(row) == 1
    return row.iloc[0]


def _group(parent, kind, name):
    return next(g for g in parent.get_groups(kind) if str(g.args[0]) == name)


def _values(group) -> np.ndarray:
    return np.array([[float(x) for x in str(row).strip('"').split(",")] for row in group["values"]])


def _timing(pin, timing_type):
    return next(t for t in pin.get_groups("timing") if str(t["timing_type"]) == timing_type)


def test_every_corner_parses_and_carries_the_tables_values(settings, tables, tmp_path):
    macro = load_macro_json(settings.netlists_dir / f"{MACRO}.json")
    frame = pd.read_csv(tables)
    timing, _ = read_timing(timing_path(tables.parent, MACRO))
    paths = export_liberty(tables, macro, tmp_path / "lib", cell_lib=settings.sram_cell_lib)
    corners = frame[["process", "vdd_v", "temp_c"]].drop_duplicates()
    assert len(paths) == len(corners) >= 1
    nldm_corners = 0
    for path in paths:
        lib = parse_liberty(path.read_text())
        cell = lib.get_groups("cell")[0]
        assert str(cell.args[0]) == macro.name
        process = str(lib.get_groups("operating_conditions")[0].args[0]).split("_")[0]
        vdd, temp = float(lib["nom_voltage"]), float(lib["nom_temperature"])
        assert path.name == corner_file_name(macro.name, process, vdd, temp)
        assert lib["time_unit"] == "1ns" and float(lib["slew_upper_threshold_pct_rise"]) == 90
        # the buses at the pins' real width; the memory word says so
        for bus, width in macro.buses:
            assert int(_group(lib, "type", f"{bus}_type")["bit_width"]) == width
        assert int(cell.get_groups("memory")[0]["word_width"]) == macro.data_bits
        assert float(cell["area"]) > 0 and "ESTIMATE" in path.read_text()
        leak = _row(frame, process, vdd, temp, "leakage")
        if leak.status == "ok":
            assert float(cell["cell_leakage_power"]) == pytest.approx(leak.leakage_w * 1e3, rel=1e-5)
        clk = _group(cell, "pin", "clk0")
        mc = _row(frame, process, vdd, temp, "min_cycle")
        rc = frame[(frame.process == process) & (frame.vdd_v == vdd) & (frame.temp_c == temp) & (frame.op == "read_cycle")]
        floor = rc.cycle_time_s.dropna()
        rows = frame[(frame.process == process) & (frame.vdd_v == vdd) & (frame.temp_c == temp)]
        verdict = classify_corner({r.op: (r.status, str(r.message), r.cycle_time_s) for r in rows.itertuples()})[0]
        if mc.status == "ok" and not verdict.startswith("unusable"):
            want = max([mc.cycle_time_s, *floor.tolist()])
            assert float(clk["min_period"]) == pytest.approx(want * 1e9, rel=1e-5)
        powers = {str(g["when"]).strip('"').strip(): g for g in clk.get_groups("internal_power")}
        read = _row(frame, process, vdd, temp, "read_1")
        if read.status == "ok":
            assert _values(powers["!csb0 & web0"].get_groups("rise_power")[0])[0, 0] == pytest.approx(read.energy_j * 1e12, rel=1e-5)
        dout = _group(_group(cell, "bus", "dout0"), "pin", f"dout0[{macro.word_size - 1}:0]")
        here = timing[(timing.process == process) & (timing.vdd_v == vdd) & (timing.temp_c == temp)]
        if verdict.startswith("unusable"):  # said so, and no figure of it
            assert dout.get_groups("timing") == [] and clk["min_period"] is None
            assert f"THIS CORNER IS {verdict.upper()}" in path.read_text()
            continue
        for op, timing_type, delay, quantity in (("read_1", "falling_edge", "cell_rise", "clk_to_dout_rise"),
                                                 ("read_0", "rising_edge", "cell_fall", "clk_to_dout_fall")):
            row = _row(frame, process, vdd, temp, op)
            if len(here):  # NLDM: slews x loads, the timing table's values
                arc = _timing(dout, timing_type)
                got = _values(arc.get_groups(delay)[0])
                grid = here[here.quantity == quantity].pivot_table(index="input_slew_s", columns="load_f", values="value")
                np.testing.assert_allclose(got, grid.to_numpy() * 1e9, rtol=1e-5)
                nominal = grid.loc[np.isclose(grid.index, RAMP_TO_SLEW * NOMINAL[1], rtol=1e-6, atol=0), np.isclose(grid.columns, NOMINAL[0], rtol=1e-6, atol=0)]
                # the timing table's nominal point is the main table's measurement, at 1.5x the period
                assert float(nominal.iloc[0, 0]) == pytest.approx(row.access_time_s, rel=0.03), (op, process, vdd, temp)
            elif row.status == "ok":
                arc = _timing(dout, timing_type)
                assert _values(arc.get_groups(delay)[0])[0, 0] == pytest.approx(row.access_time_s * 1e9, rel=1e-5)
                assert row.timed_from == ("clk_fall" if op == "read_1" else "clk_rise")
            else:
                assert timing_type not in {str(t["timing_type"]) for t in dout.get_groups("timing")}
        if len(here):
            nldm_corners += 1
            cap = here[(here.quantity == "pin_capacitance") & (here.pin == "csb0")].value.iloc[0]
            assert float(_group(cell, "pin", "csb0")["capacitance"]) == pytest.approx(cap * 1e12, rel=1e-5)
            insertion = here[(here.quantity == "clock_insertion")
                             & np.isclose(here.input_slew_s, RAMP_TO_SLEW * NOMINAL[1], rtol=1e-6, atol=0)].value.iloc[0]
            setup = here[here.quantity == "setup_rise"].value.iloc[0]
            arc = _timing(_group(cell, "bus", "din0"), "setup_rising")
            assert _values(arc.get_groups("rise_constraint")[0])[0, 0] == pytest.approx((setup - insertion) * 1e9, rel=1e-5)
        # every port of the macro is declared (as a bus, a pin or a pg_pin)
        declared = {str(g.args[0]) for kind in ("bus", "pin", "pg_pin") for g in cell.get_groups(kind)}
        for port in macro.ports:
            assert port.split("[")[0] in declared
    assert nldm_corners >= 1


def test_failed_values_are_left_out(settings, tables, tmp_path):
    """A failed row's value is not written (a comment says so); a corner that is unusable says so and has neither
    dout arcs nor min_period."""
    macro = load_macro_json(settings.netlists_dir / f"{MACRO}.json")
    frame = pd.read_csv(tables)
    reads_1_fail = {f"{MACRO}_{p}_{v:g}V_{t:g}C.lib" for p, v, t in  # failed already in the table (fs, 1.0 V)
                    frame[(frame.op == "read_1") & (frame.status == "failed")][["process", "vdd_v", "temp_c"]]
                    .itertuples(index=False)}
    frame.loc[frame.op == "read_0", ["status", "message"]] = ["failed", "read 0xff, expected 0x0"]
    frame.loc[frame.op == "read_0", ["access_time_s", "slew_s"]] = np.nan
    frame.loc[frame.op == "read_cycle", ["status", "message", "cycle_time_s"]] = ["failed", "reads fail at 8 ns", np.nan]
    frame.to_csv(tables, index=False)
    restamp(tables)
    shutil.rmtree(tables.parent / "timing")  # scalar arcs from the main table only
    for path in export_liberty(tables, macro, tmp_path / "lib"):
        text = path.read_text()
        cell = parse_liberty(text).get_groups("cell")[0]
        clk = _group(cell, "pin", "clk0")
        assert clk["min_period"] is None
        powers = {str(g["when"]).strip('"').strip(): g for g in clk.get_groups("internal_power")}
        if path.name in reads_1_fail:  # no read energy at all
            assert "!csb0 & web0" not in powers
        else:
            assert powers["!csb0 & web0"].get_groups("fall_power") == []  # read_0's energy: its row failed
            assert len(powers["!csb0 & web0"].get_groups("rise_power")) == 1
        dout = _group(_group(cell, "bus", "dout0"), "pin", f"dout0[{macro.word_size - 1}:0]")
        assert dout.get_groups("timing") == []
        # unusable: the reads made to fail here, or (sf and fs below 1.6 V) the table's own failed writes first
        assert ("THIS CORNER IS UNUSABLE: READS FAIL AT EVERY CLOCK TRIED" in text
                or "THIS CORNER IS UNUSABLE: WRITES FAIL" in text), path.name
        assert "min_period omitted: the corner is unusable" in text
        assert path.name in reads_1_fail or "fall_power omitted: read_0 failed" in text
        assert "area omitted" in text


def test_cli_writes_libraries(settings, tables, tmp_path):
    from cosim.cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["liberty", "--macro", MACRO, "--table", str(tables), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tables)
    expected = {corner_file_name(MACRO, p, v, t) for p, v, t in frame[["process", "vdd_v", "temp_c"]].itertuples(index=False)}
    assert {p.name for p in out.glob("*.lib")} == expected
