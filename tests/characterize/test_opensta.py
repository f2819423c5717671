"""Every corner's Liberty of every committed macro loads in OpenSTA, on a small design that instantiates the macro,
and ``report_checks`` times dout through the clk0 -> dout0 arcs with the tables' values: the latest arrival (max) is
a read of 1 launched by clk0's falling edge, the earliest (min) the sense amp's reset after its rising edge."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from cosim.characterize.arcs import NOMINAL, RAMP_TO_SLEW
from cosim.characterize.arcs_table import read_timing, timing_path
from cosim.characterize.liberty import corner_file_name, export_liberty
from cosim.netlist import load_macro_json
from cosim.table import classify_corner

pytestmark = pytest.mark.sta
MACROS = ("sram_8x16", "sram_16x128", "sram_32x256", "sram_32x512")
PERIOD_NS = 20.0


def _verilog(macro) -> str:
    buses = dict(macro.buses)
    ports = ["clk", "csb", "web", "spare_wen", "addr", "din", "dout"]
    return "\n".join([
        f"module top ({', '.join(ports)});",
        "  input clk, csb, web, spare_wen;",
        f"  input [{buses['addr0'] - 1}:0] addr;",
        f"  input [{buses['din0'] - 1}:0] din;",
        f"  output [{buses['dout0'] - 1}:0] dout;",
        f"  {macro.name} u_sram (.clk0(clk), .csb0(csb), .web0(web), .spare_wen0(spare_wen), .addr0(addr), .din0(din),"
        " .dout0(dout));",
        "endmodule", ""])


def _sta(lib, verilog, tmp_path) -> str:
    script = tmp_path / "check.tcl"
    script.write_text("\n".join([
        f"read_liberty {lib}", f"read_verilog {verilog}", "link_design top",
        f"create_clock -name clk -period {PERIOD_NS} [get_ports clk]",
        f"set_clock_transition {RAMP_TO_SLEW * NOMINAL[1] * 1e9} [get_clocks clk]",  # an ideal clock's slew
        f"set_load {NOMINAL[0] * 1e12} [get_ports dout*]",
        "set_output_delay 0 -clock clk [get_ports dout*]",
        "report_checks -path_delay max -to [get_ports {dout[0]}] -format full -digits 6",
        "report_checks -path_delay min -to [get_ports {dout[0]}] -format full -digits 6", ""]))
    done = subprocess.run(["sta", "-no_init", "-no_splash", "-exit", str(script)], capture_output=True, text=True,
                          timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Error" not in out and "Warning" not in out, out
    return out


def _arcs(report: str, macro: str) -> list[tuple[float, str]]:
    """(incr, edge) of each u_sram/dout0[0] line: ^ rising, v falling."""
    found = re.findall(rf"^\s*(-?[\d.]+)\s+(-?[\d.]+)\s+([v^])\s+u_sram/dout0\[0\] \({macro}\)", report, re.M)
    return [(float(incr), edge) for incr, _, edge in found]


@pytest.mark.parametrize("name", MACROS)
def test_opensta_times_dout_with_the_table_values_at_every_corner(settings, tmp_path, name):
    assert shutil.which("sta"), "OpenSTA (sta) is missing: `make setup` installs it (apt-get install opensta)"
    macro = load_macro_json(settings.netlists_dir / f"{name}.json")
    csv = settings.characterization_dir / f"{name}.csv"
    table = pd.read_csv(csv)
    tpath = timing_path(settings.characterization_dir, name)
    timing = read_timing(tpath)[0] if tpath.is_file() else None
    libs = export_liberty(csv, macro, tmp_path / "lib", cell_lib=settings.sram_cell_lib)
    verilog = tmp_path / "top.v"
    verilog.write_text(_verilog(macro))
    checked = 0
    for (process, vdd, temp), rows in table.groupby(["process", "vdd_v", "temp_c"]):
        lib = tmp_path / "lib" / corner_file_name(name, process, vdd, temp)
        assert lib in libs
        ops = rows.set_index("op")
        verdict = classify_corner({r.op: (r.status, str(r.message), r.cycle_time_s) for r in rows.itertuples()})[0]
        expected = {}
        for op, edge, quantity in (("read_1", "^", "clk_to_dout_rise"), ("read_0", "v", "clk_to_dout_fall")):
            nominal = None
            if timing is not None:
                here = timing[(timing.process == process) & (timing.vdd_v == vdd) & (timing.temp_c == temp)
                              & (timing.quantity == quantity) & (abs(timing.load_f - NOMINAL[0]) < 1e-18)
                              & (abs(timing.input_slew_s - RAMP_TO_SLEW * NOMINAL[1]) < 1e-15)]
                nominal = float(here.value.iloc[0]) if len(here) else None
            if nominal is None and ops.loc[op, "status"] == "ok":
                nominal = float(ops.loc[op, "access_time_s"])
            if nominal is not None and not verdict.startswith("unusable"):
                expected[edge] = nominal * 1e9
        report = _sta(lib, verilog, tmp_path)
        arcs = _arcs(report, name)
        if not expected:
            assert verdict.startswith("unusable") and arcs == [], f"{lib.name}: {verdict}, OpenSTA times dout: {report}"
            continue
        # max: the later of (period/2 + clk fall -> dout rise) and (clk rise -> dout fall), min: the earlier one; a
        # corner whose read of 1 (or 0) fails has one arc only, which both report
        assert len(arcs) == 2 and {edge for _, edge in arcs} == set(expected), report
        got = dict((edge, incr) for incr, edge in arcs)
        for edge, value in expected.items():  # OpenSTA's float32 against the Liberty's 6 digits (67.2363 ns at ss/0.9 V)
            assert got[edge] == pytest.approx(value, rel=1e-6, abs=1.5e-6), (lib.name, edge, report)
        checked += 1
    assert checked >= 1
