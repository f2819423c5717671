"""Liberty (.lib) export of a characterization table: one library per corner, values from cosim's SPICE table only.

What goes in, per corner (``<macro>_<process>_<vdd>V_<temp>C.lib``):

- units (time 1ns, voltage 1V, current 1mA, leakage power 1mW, capacitance 1pF: internal energy is then in pJ,
  1pF x 1V^2), nom_process/nom_voltage/nom_temperature and one operating_conditions group for the corner;
- the macro as a cell with its pins from the netlist's json: buses (din0, dout0, addr0, ...), scalar inputs (csb0,
  web0, clk0, spare_wen0), pg_pins for the supplies;
- clk0: ``min_period`` (op min_cycle), internal_power per cycle (as OpenRAM's lib.py: write ``!csb0 & !web0`` rise =
  write_0to1, fall = write_1to0; read ``!csb0 & web0`` rise = read_1, fall = read_0; deselected ``csb0`` = idle,
  rise and fall);
- dout0: one timing arc from clk0 (rising_edge), cell_rise = read_1 access time, cell_fall = read_0 access time,
  as scalar tables (cosim measures one load and one input slew);
- cell_leakage_power (op leakage).

A value whose row failed (or is missing/NaN) is left out and a comment says why; nothing is filled in. Setup/hold,
pin capacitances, transitions and area are not measured by cosim and are not written.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cosim.errors import CosimError
from cosim.netlist import Macro

_MIN = ("min_cycle", "cycle_time_s")


@dataclass(frozen=True)
class CornerValues:
    """The table's values at one corner: op -> (value or None, why missing)."""

    process: str
    vdd_v: float
    temp_c: float
    rows: dict  #: op -> row dict

    def value(self, op: str, column: str) -> tuple[float | None, str]:
        row = self.rows.get(op)
        if row is None:
            return None, f"no {op} row in the table"
        if row.get("status") != "ok":
            msg = row.get("message")
            msg = msg if isinstance(msg, str) and msg else "no message"
            return None, f"{op} {row.get('status')} at this corner ({_clean(msg)})"
        x = row.get(column)
        if x is None or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
            return None, f"{op} has no {column} at this corner"
        return float(x), ""


def _clean(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")[:200]


def corner_file_name(macro: str, process: str, vdd_v: float, temp_c: float) -> str:
    return f"{macro}_{process}_{vdd_v:g}V_{temp_c:g}C.lib"


def _ident(text: str) -> str:
    return text.replace(".", "p").replace("-", "m")


def _num(x: float) -> str:
    return f"{x:.6g}"


def liberty_text(macro: Macro, corner: CornerValues, source: str) -> str:
    """The .lib text of one corner. ``source``: the comment lines naming where the values come from."""
    c = corner
    lib_name = _ident(f"{macro.name}_{c.process}_{c.vdd_v:g}V_{c.temp_c:g}C")
    out: list[str] = []
    w = out.append
    w("/*")
    for line in source.splitlines():
        w(f" * {_clean(line)}")
    w(f" * Corner: process {c.process}, {c.vdd_v:g} V, {c.temp_c:g} C. Times in ns, energies per clock cycle in pJ")
    w(" * (1pF x 1V^2), leakage in mW. Values not measured by cosim (setup/hold, pin capacitance, transitions, area)")
    w(" * are not written; values whose simulation failed are left out with a comment.")
    w(" */")
    w(f"library ({lib_name}) {{")
    w('  delay_model : "table_lookup";')
    w('  time_unit : "1ns";')
    w('  voltage_unit : "1V";')
    w('  current_unit : "1mA";')
    w('  leakage_power_unit : "1mW";')
    w('  pulling_resistance_unit : "1kohm";')
    w("  capacitive_load_unit (1, pf);")
    w("  input_threshold_pct_rise : 50;")
    w("  input_threshold_pct_fall : 50;")
    w("  output_threshold_pct_rise : 50;")
    w("  output_threshold_pct_fall : 50;")
    w(f"  /* sky130 process corner {c.process}: Liberty wants a number; 1.0 is the nominal process factor */")
    w("  nom_process : 1.0;")
    w(f"  nom_voltage : {_num(c.vdd_v)};")
    w(f"  nom_temperature : {_num(c.temp_c)};")
    oc = _ident(f"{c.process}_{c.vdd_v:g}V_{c.temp_c:g}C")
    w(f"  operating_conditions ({oc}) {{")
    w("    process : 1.0;")
    w(f"    voltage : {_num(c.vdd_v)};")
    w(f"    temperature : {_num(c.temp_c)};")
    w("  }")
    w(f"  default_operating_conditions : {oc};")
    for p in macro.power:
        w(f"  voltage_map ({p}, {_num(c.vdd_v)});")
    for g in macro.ground:
        w(f"  voltage_map ({g}, 0);")
    buses = dict(macro.buses)
    for bus, width in macro.buses:
        w(f"  type ({bus}_type) {{")
        w("    base_type : array;")
        w("    data_type : bit;")
        w(f"    bit_width : {width};")
        w(f"    bit_from : {width - 1};")
        w("    bit_to : 0;")
        w("    downto : true;")
        w("  }")
    w(f"  cell ({macro.name}) {{")
    w("    memory () {")
    w("      type : ram;")
    w(f"      address_width : {macro.address_bits};")
    w(f"      word_width : {macro.word_size};")
    w("    }")
    w("    interface_timing : true;")
    w("    dont_touch : true;")
    w("    dont_use : true;")
    for p in macro.power:
        w(f"    pg_pin ({p}) {{ voltage_name : {p}; pg_type : primary_power; }}")
    for g in macro.ground:
        w(f"    pg_pin ({g}) {{ voltage_name : {g}; pg_type : primary_ground; }}")
    leak, why = c.value("leakage", "leakage_w")
    if leak is None:
        w(f"    /* cell_leakage_power omitted: {why} */")
    else:
        w(f"    cell_leakage_power : {_num(leak * 1e3)};")
    rs = c.rows.get("row_switch")
    if rs is not None and rs.get("status") != "ok":
        w("    /* cosim row_switch check failed at this corner: a read of another row right after a write returned")
        w(f"       wrong data ({_clean(str(rs.get('message')))}); accesses must not switch rows back to back */")

    directions = dict(macro.port_directions)
    clk = "clk0"
    for bus, width in macro.buses:
        direction = directions.get(f"{bus}[0]", "INPUT").lower()
        w(f"    bus ({bus}) {{")
        w(f"      bus_type : {bus}_type;")
        w(f"      direction : {direction};")
        if bus.startswith("dout"):
            w(f"      memory_read () {{ address : addr0; }}")
            # the word's bits are measured; spare columns (bits word_size..) are not read by cosim's plans
            w(f"      pin ({bus}[{macro.word_size - 1}:0]) {{")
            _dout_timing(w, c, clk)
            w("      }")
            if width > macro.word_size:
                w(f"      /* {bus}[{width - 1}:{macro.word_size}]: spare column(s), not measured: no timing arc */")
        elif bus.startswith("din"):
            w(f"      memory_write () {{ address : addr0; clocked_on : {clk}; }}")
        w("    }")
    for port, direction in macro.port_directions:
        if "[" in port or direction.upper() in ("POWER", "GROUND") or port.split("[")[0] in buses:
            continue
        w(f"    pin ({port}) {{")
        w(f"      direction : {direction.lower()};")
        if port == clk:
            w("      clock : true;")
            mp, why = c.value(*_MIN)
            floor, _ = c.value("read_cycle", "cycle_time_s")  # reads needed a longer period here (cosim.characterize.retry)
            if mp is not None and floor is not None:
                mp = max(mp, floor)
            if mp is None:
                w(f"      /* min_period omitted: {why} */")
            else:
                w(f"      min_period : {_num(mp * 1e9)};")
            _clock_power(w, c)
        w("    }")
    w("  }")
    w("}")
    return "\n".join(out) + "\n"


def _dout_timing(w, c: CornerValues, clk: str) -> None:
    rise, why_r = c.value("read_1", "access_time_s")
    fall, why_f = c.value("read_0", "access_time_s")
    if rise is None and fall is None:
        w(f"        /* no timing arc: {why_r}; {why_f} */")
        return
    w("        timing () {")
    w(f'          related_pin : "{clk}";')
    w("          timing_type : rising_edge;")
    w("          timing_sense : non_unate;")
    for group, x, why in (("cell_rise", rise, why_r), ("cell_fall", fall, why_f)):
        if x is None:
            w(f"          /* {group} omitted: {why} */")
        else:
            w(f'          {group} (scalar) {{ values ("{_num(x * 1e9)}"); }}')
    w("        }")


def _clock_power(w, c: CornerValues) -> None:
    for when, rise_op, fall_op in (
        ("!csb0 & !web0", "write_0to1", "write_1to0"),
        ("!csb0 & web0", "read_1", "read_0"),
        ("csb0", "idle", "idle"),
    ):
        rise, why_r = c.value(rise_op, "energy_j")
        fall, why_f = c.value(fall_op, "energy_j")
        if rise is None and fall is None:
            w(f'      /* internal_power when "{when}" omitted: {why_r}; {why_f} */')
            continue
        w("      internal_power () {")
        w(f'        when : "{when}";')
        for group, x, why, op in (("rise_power", rise, why_r, rise_op), ("fall_power", fall, why_f, fall_op)):
            if x is None:
                w(f"        /* {group} omitted: {why} */")
            else:
                w(f'        {group} (scalar) {{ values ("{_num(x * 1e12)}"); }}  /* {op} */')
        w("      }")


def corners_of(frame: pd.DataFrame) -> list[CornerValues]:
    out = []
    for (process, vdd, temp), group in frame.groupby(["process", "vdd_v", "temp_c"], sort=True):
        rows = {}
        for rec in group.to_dict("records"):
            rows[rec["op"]] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
        out.append(CornerValues(str(process), float(vdd), float(temp), rows))
    return out


def export_liberty(csv_path: Path, macro: Macro, out_dir: Path) -> list[Path]:
    """Write one .lib per corner of the table ``csv_path`` (cosim's characterization CSV) into ``out_dir``."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise CosimError(f"{csv_path}: no characterization table; run 'make characterize' (or cosim characterize --macro {macro.name})")
    data = csv_path.read_bytes()
    frame = pd.read_csv(csv_path)
    frame = frame[frame["macro"] == macro.name]
    if frame.empty:
        raise CosimError(f"{csv_path}: no rows for macro {macro.name}")
    source = [f"Generated by cosim.characterize.liberty from cosim's ngspice characterization table",
              f"{csv_path.name} (sha256 {hashlib.sha256(data).hexdigest()})."]  # fmt: skip
    prov = csv_path.with_suffix(".json")
    if prov.is_file():
        try:
            d = json.loads(prov.read_text())
            source.append(f"Provenance {prov.name}: simulator {d.get('ngspice_version')}, netlist {d.get('netlist')} "
                          f"sha256 {d.get('netlist_sha256')}, trimmed {d.get('trimmed', 'not recorded')}, "
                          f"created {d.get('created')}.")  # fmt: skip
        except json.JSONDecodeError:
            source.append(f"Provenance {prov.name}: unreadable JSON")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for corner in corners_of(frame):
        path = out_dir / corner_file_name(macro.name, corner.process, corner.vdd_v, corner.temp_c)
        tmp = path.with_suffix(".lib.tmp")
        tmp.write_text(liberty_text(macro, corner, "\n".join(source)))
        tmp.replace(path)
        paths.append(path)
    return paths
