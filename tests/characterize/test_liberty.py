"""Liberty export: every produced .lib parses with liberty-parser and carries the table's measured values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from liberty.parser import parse_liberty

from cosim.characterize.liberty import corner_file_name, export_liberty
from cosim.netlist import load_macro_json
from tests.tablegen import restamp

#: a real table: sram_8x16 characterized by cosim (ngspice 39) at tt/1.8 V/25 C, with its provenance json
DATA = Path(__file__).parent / "data"


def _sources() -> list[Path]:
    """The test table, and every committed characterization table of sram_8x16 (all corners) when there is one."""
    from cosim.config import load_settings

    committed = load_settings().characterization_dir / "sram_8x16.csv"
    return [DATA / "sram_8x16.csv"] + ([committed] if committed.is_file() else [])


@pytest.fixture(params=_sources(), ids=lambda p: str(p.parent.name))
def table(request, tmp_path) -> Path:
    src: Path = request.param
    for f in (src, src.with_suffix(".json")):
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    return tmp_path / src.name


def _macro(settings):
    return load_macro_json(settings.netlists_dir / "sram_8x16.json")


def _value(frame, process, vdd, temp, op, column):
    row = frame[(frame.process == process) & (frame.vdd_v == vdd) & (frame.temp_c == temp) & (frame.op == op)]
    assert len(row) == 1
    return row.iloc[0]


def _pin(cell, name):
    return next(p for p in cell.get_groups("pin") if str(p.args[0]) == name)


def test_every_corner_parses_and_round_trips(settings, table, tmp_path):
    macro = _macro(settings)
    frame = pd.read_csv(table)
    paths = export_liberty(table, macro, tmp_path / "lib")
    corners = frame[["process", "vdd_v", "temp_c"]].drop_duplicates()
    assert len(paths) == len(corners) >= 1
    for path in paths:
        lib = parse_liberty(path.read_text())
        cell = lib.get_groups("cell")[0]
        assert str(cell.args[0]) == macro.name
        process = str(lib.get_groups("operating_conditions")[0].args[0]).split("_")[0]
        vdd, temp = float(lib["nom_voltage"]), float(lib["nom_temperature"])
        assert path.name == corner_file_name(macro.name, process, vdd, temp)
        assert lib["time_unit"] == "1ns"
        leak = _value(frame, process, vdd, temp, "leakage", "leakage_w")
        if leak.status == "ok":
            assert float(cell["cell_leakage_power"]) == pytest.approx(leak.leakage_w * 1e3, rel=1e-5)
        clk = _pin(cell, "clk0")
        assert clk["clock"] in (True, "true")
        mc = _value(frame, process, vdd, temp, "min_cycle", "cycle_time_s")
        if mc.status == "ok":
            assert float(clk["min_period"]) == pytest.approx(mc.cycle_time_s * 1e9, rel=1e-5)
        powers = {str(g["when"]).strip("\"").strip(): g for g in clk.get_groups("internal_power")}
        read = _value(frame, process, vdd, temp, "read_1", "energy_j")
        if read.status == "ok":
            rise = powers["!csb0 & web0"].get_groups("rise_power")[0]["values"]
            assert float(str(rise[0]).strip('"')) == pytest.approx(read.energy_j * 1e12, rel=1e-5)
        dout = next(b for b in cell.get_groups("bus") if str(b.args[0]) == "dout0")
        timing = dout.get_groups("pin")[0].get_groups("timing")[0]
        r0 = _value(frame, process, vdd, temp, "read_0", "access_time_s")
        if r0.status == "ok":
            fall = timing.get_groups("cell_fall")[0]["values"]
            assert float(str(fall[0]).strip('"')) == pytest.approx(r0.access_time_s * 1e9, rel=1e-5)
        # every port of the macro is declared (as a bus, a pin or a pg_pin)
        declared = {str(g.args[0]) for kind in ("bus", "pin", "pg_pin") for g in cell.get_groups(kind)}
        for port in macro.ports:
            assert port.split("[")[0] in declared
        text = path.read_text()
        assert "sha256" in text and table.name in text


def test_failed_values_are_left_out(settings, table, tmp_path):
    """A failed row's value is not written (a comment says so); the others still are."""
    macro = _macro(settings)
    frame = pd.read_csv(table)
    frame.loc[frame.op == "min_cycle", "status"] = "failed"
    frame.loc[frame.op == "read_0", "status"] = "failed"
    frame.loc[frame.op == "read_0", "message"] = "read 0xff, expected 0x0"
    frame.to_csv(table, index=False)
    restamp(table)
    for path in export_liberty(table, macro, tmp_path / "lib"):
        lib = parse_liberty(path.read_text())
        cell = lib.get_groups("cell")[0]
        clk = _pin(cell, "clk0")
        assert clk["min_period"] is None
        powers = {str(g["when"]).strip("\"").strip(): g for g in clk.get_groups("internal_power")}
        assert powers["!csb0 & web0"].get_groups("fall_power") == []
        assert len(powers["!csb0 & web0"].get_groups("rise_power")) == 1
        timing = next(b for b in cell.get_groups("bus") if str(b.args[0]) == "dout0").get_groups("pin")[0].get_groups("timing")[0]
        assert timing.get_groups("cell_fall") == [] and len(timing.get_groups("cell_rise")) == 1
        text = path.read_text()
        assert "min_period omitted: min_cycle failed" in text and "read_0 failed at this corner" in text


def test_cli_writes_libraries(settings, table, tmp_path):
    from cosim.cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["liberty", "--macro", "sram_8x16", "--table", str(table), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(table)
    expected = {corner_file_name("sram_8x16", p, v, t) for p, v, t in frame[["process", "vdd_v", "temp_c"]].itertuples(index=False)}
    assert {p.name for p in out.glob("*.lib")} == expected
