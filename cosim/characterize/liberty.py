"""Liberty (.lib) export of a characterization table: one library per corner, values from cosim's SPICE tables only.

Per corner (``<macro>_<process>_<vdd>V_<temp>C.lib``), with the definitions of docs/timing.md:

- units (time 1ns, capacitance 1pF, leakage 1mW, energy 1pF x 1V^2 = pJ), thresholds (delays 50 %, slews 10-90 %),
  one operating_conditions group;
- the macro as a cell: ``area`` (the bitcell array from the cell library's LEF, a lower bound marked as such: the
  netlist-only OpenRAM run has no layout), its pins as the netlist has them (buses at their real width: the word
  plus the spare column, said so), pg_pins, cell_leakage_power (op leakage);
- dout0: two arcs from clk0 as the macro launches them: ``falling_edge`` cell_rise/rise_transition (a read of 1,
  after the sense amp fires) and ``rising_edge`` cell_fall/fall_transition (the sense amp's reset pulls dout low,
  which is when a read of 0 is valid); NLDM tables input slew x load where the timing table
  (characterization/timing/<macro>.csv) has the corner, else scalars from the main table's nominal point;
- inputs: capacitance from SPICE, setup_rising/hold_rising against clk0 (the flop's bisected figures referred to
  the pin by the clock's insertion delay) where the timing table has the corner;
- clk0: capacitance, ``min_period`` (max of min_cycle and read_cycle), internal_power per cycle (write
  ``!csb0 & !web0`` rise = write_0to1, fall = write_1to0; read ``!csb0 & web0`` rise = read_1, fall = read_0;
  deselected ``csb0`` = idle).

A value whose row failed (or is missing) is left out and a comment says why; nothing is filled in.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cosim.characterize.arcs import NOMINAL, RAMP_TO_SLEW
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


def _arc_values(timing: pd.DataFrame | None, c: "CornerValues") -> pd.DataFrame | None:
    if timing is None or timing.empty:
        return None
    here = timing[(timing.process == c.process) & (timing.vdd_v == c.vdd_v) & (timing.temp_c == c.temp_c)]
    return here if len(here) else None


def _one(arcs: pd.DataFrame | None, quantity: str, pin: str | None = None) -> float | None:
    if arcs is None:
        return None
    rows = arcs[arcs.quantity == quantity]
    if pin is not None:
        rows = rows[rows.pin.astype(str) == pin]
    if "input_slew_s" in rows and len(rows) > 1:  # the nominal input slew
        rows = rows[np.isclose(rows.input_slew_s, RAMP_TO_SLEW * NOMINAL[1], rtol=1e-6, atol=0.0)]
    values = rows.value.dropna()
    return float(values.iloc[0]) if len(values) else None


def _grid(arcs: pd.DataFrame | None, quantity: str) -> tuple[list[float], list[float], list[list[float]]] | None:
    """(slews, loads, values[slew][load]) of an NLDM quantity, or None unless the grid is complete."""
    if arcs is None:
        return None
    rows = arcs[arcs.quantity == quantity]
    slews, loads = sorted(set(rows.input_slew_s)), sorted(set(rows.load_f))
    table = rows.pivot_table(index="input_slew_s", columns="load_f", values="value", aggfunc="first")
    if len(slews) < 2 or len(loads) < 2 or table.shape != (len(slews), len(loads)) or table.isna().to_numpy().any():
        return None
    return slews, loads, table.loc[slews, loads].to_numpy().tolist()


def liberty_text(macro: Macro, corner: CornerValues, source: str, timing: pd.DataFrame | None = None,
                 area_um2: tuple[float, str] | None = None) -> str:  # fmt: skip
    """The .lib text of one corner. ``source``: the comment lines naming where the values come from; ``timing``:
    the timing table (cosim.characterize.arcs_table); ``area_um2``: (area, how it was obtained)."""
    from cosim.table import classify_corner

    c = corner
    arcs = _arc_values(timing, c)
    verdict, reason, _ = classify_corner({op: (str(r.get("status")), str(r.get("message") or ""),
                                               float(r.get("cycle_time_s") or math.nan)) for op, r in c.rows.items()})
    unusable = verdict.startswith("unusable")
    lib_name = _ident(f"{macro.name}_{c.process}_{c.vdd_v:g}V_{c.temp_c:g}C")
    out: list[str] = []
    w = out.append
    w("/*")
    for line in source.splitlines():
        w(f" * {_clean(line)}")
    w(f" * Corner: process {c.process}, {c.vdd_v:g} V, {c.temp_c:g} C. Times in ns, capacitances in pF, energies per")
    w(" * clock cycle in pJ (1pF x 1V^2), leakage in mW. Definitions: docs/timing.md. Values whose simulation failed")
    w(" * are left out with a comment; " + ("NLDM tables, pin capacitances and setup/hold from the timing table."
                                           if arcs is not None else "the timing table (NLDM, pin capacitance, "
                                           "setup/hold) has no entry for this corner: scalar arcs only."))
    if unusable:
        w(f" * THIS CORNER IS {verdict.upper()}: {_clean(reason)}. No dout arcs and no min_period are written.")
    w(" */")
    w(f"library ({lib_name}) {{")
    for line in ('delay_model : "table_lookup";', 'time_unit : "1ns";', 'voltage_unit : "1V";', 'current_unit : "1mA";',
                 'leakage_power_unit : "1mW";', 'pulling_resistance_unit : "1kohm";', "capacitive_load_unit (1, pf);",
                 "input_threshold_pct_rise : 50;", "input_threshold_pct_fall : 50;", "output_threshold_pct_rise : 50;",
                 "output_threshold_pct_fall : 50;", "slew_lower_threshold_pct_rise : 10;",
                 "slew_upper_threshold_pct_rise : 90;", "slew_lower_threshold_pct_fall : 10;",
                 "slew_upper_threshold_pct_fall : 90;", "slew_derate_from_library : 1.0;"):
        w(f"  {line}")
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
    grids = {q: _grid(arcs, q) for q in ("clk_to_dout_rise", "clk_to_dout_fall", "dout_rise_transition",
                                         "dout_fall_transition")}
    first = next((g for g in grids.values() if g is not None), None)
    if first is not None:
        slews, loads, _ = first
        w("  lu_table_template (cosim_slew_load) {")
        w("    variable_1 : input_net_transition;")
        w("    variable_2 : total_output_net_capacitance;")
        w(f'    index_1 ("{", ".join(_num(x * 1e9) for x in slews)}");')
        w(f'    index_2 ("{", ".join(_num(x * 1e12) for x in loads)}");')
        w("  }")
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
    if area_um2 is None:
        w("    /* area omitted: no layout (OpenRAM ran netlist-only) and no bitcell LEF found (set PDK_ROOT) */")
    else:
        w(f"    /* area: {_clean(area_um2[1])} */")
        w(f"    area : {_num(area_um2[0])};")
    data_bits = macro.data_bits
    w("    memory () {")
    w("      type : ram;")
    w(f"      address_width : {macro.address_bits};")
    w(f"      /* {macro.word_size} data bits + {data_bits - macro.word_size} spare column(s) (written when spare_wen0 "
      "is high): the pins' real width */")
    w(f"      word_width : {data_bits};")
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
    buses = dict(macro.buses)
    for bus, width in macro.buses:
        direction = directions.get(f"{bus}[0]", "INPUT").lower()
        w(f"    bus ({bus}) {{")
        w(f"      bus_type : {bus}_type;")
        w(f"      direction : {direction};")
        if bus.startswith("dout"):
            w("      memory_read () { address : addr0; }")
            max_load = max(grids["clk_to_dout_rise"][1]) if grids["clk_to_dout_rise"] else None
            if max_load is not None:
                w(f"      max_capacitance : {_num(max_load * 1e12)};")
            w(f"      pin ({bus}[{macro.word_size - 1}:0]) {{")
            if unusable:
                w(f"        /* no timing arcs: the corner is {verdict} */")
            else:
                _dout_timing(w, c, clk, grids)
            w("      }")
            if width > macro.word_size:
                spare = f"{bus}[{width - 1}]" if width - 1 == macro.word_size else f"{bus}[{width - 1}:{macro.word_size}]"
                w(f"      /* {spare}: spare column(s), not read by cosim's measurements: no arc */")
        else:
            if bus.startswith("din"):
                w(f"      memory_write () {{ address : addr0; clocked_on : {clk}; }}")
            _input_pin(w, arcs, bus, clk, f"{bus}[0]")
        w("    }")
    for port, direction in macro.port_directions:
        if "[" in port or direction.upper() in ("POWER", "GROUND") or port.split("[")[0] in buses:
            continue
        w(f"    pin ({port}) {{")
        w(f"      direction : {direction.lower()};")
        if port == clk:
            w("      clock : true;")
            cap = _one(arcs, "pin_capacitance", clk)
            if cap is not None:
                w(f"      capacitance : {_num(cap * 1e12)};")
            mp, why = c.value(*_MIN)
            floor, _ = c.value("read_cycle", "cycle_time_s")  # reads needed a longer period here (cosim.characterize.retry)
            if mp is not None and floor is not None:
                mp = max(mp, floor)
            if unusable:
                w(f"      /* min_period omitted: the corner is {verdict} */")
            elif mp is None:
                w(f"      /* min_period omitted: {why} */")
            else:
                w(f"      min_period : {_num(mp * 1e9)};")
            _clock_power(w, c)
        elif direction.upper() == "INPUT":
            _input_pin(w, arcs, port, clk, port)
        w("    }")
    w("  }")
    w("}")
    return "\n".join(out) + "\n"


def _input_pin(w, arcs: pd.DataFrame | None, name: str, clk: str, measured_pin: str) -> None:
    """Capacitance and setup/hold of an input (every input is captured by the same flop type, clocked by clk_buf)."""
    if arcs is None:
        w("      /* capacitance, setup and hold: not in the timing table at this corner */")
        return
    cap = _one(arcs, "pin_capacitance", measured_pin)
    if cap is None:
        w(f"      /* capacitance omitted: {measured_pin} is not measured (cosim.characterize.arcs.PIN_CAP_PINS) */")
    else:
        w(f"      capacitance : {_num(cap * 1e12)};")
    insertion = _one(arcs, "clock_insertion", clk)
    for kind, ttype in (("setup", "setup_rising"), ("hold", "hold_rising")):
        rise, fall = _one(arcs, f"{kind}_rise"), _one(arcs, f"{kind}_fall")
        if insertion is None or rise is None or fall is None:
            w(f"      /* {kind} omitted: the flop's {kind} or the clock insertion delay is missing */")
            continue
        # referred to the pin: the flop's clock arrives `insertion` after clk0's edge
        sign = -1.0 if kind == "setup" else 1.0
        w("      timing () {")
        w(f'        related_pin : "{clk}";')
        w(f"        timing_type : {ttype};")
        for group, x in (("rise_constraint", rise), ("fall_constraint", fall)):
            w(f'        {group} (scalar) {{ values ("{_num((x + sign * insertion) * 1e9)}"); }}')
        w("      }")


def _dout_timing(w, c: CornerValues, clk: str, grids: dict) -> None:
    """Two arcs: clk0 falling -> dout rising (read of 1), clk0 rising -> dout falling (sense amp reset; read of 0)."""
    for edge, op, delay, transition, sense in (("falling_edge", "read_1", "cell_rise", "rise_transition", "rise"),
                                              ("rising_edge", "read_0", "cell_fall", "fall_transition", "fall")):
        d_grid, t_grid = grids[f"clk_to_dout_{sense}"], grids[f"dout_{sense}_transition"]
        delay_v, why = c.value(op, "access_time_s")
        slew_v, why_s = c.value(op, "slew_s")
        if delay_v is None and d_grid is None:
            w(f"        /* no {edge} arc: {why} */")
            continue
        w("        timing () {")
        w(f'          related_pin : "{clk}";')
        w(f"          timing_type : {edge};")
        w("          timing_sense : non_unate;")
        for group, grid, scalar, why_x in ((delay, d_grid, delay_v, why), (transition, t_grid, slew_v, why_s)):
            _table_group(w, group, grid, scalar, f"{op}, nominal load and slew", why_x)
        w("        }")


def _table_group(w, group: str, grid, scalar: float | None, what: str, why: str) -> None:
    """An NLDM table (slews x loads) when ``grid`` is given, else a scalar, else a comment saying why neither."""
    if grid is not None:
        rows = ", ".join('"' + ", ".join(_num(v * 1e9) for v in row) + '"' for row in grid[2])
        w(f"          {group} (cosim_slew_load) {{ values ({rows}); }}")
    elif scalar is not None:
        w(f'          {group} (scalar) {{ values ("{_num(scalar * 1e9)}"); }}  /* {what} */')
    else:
        w(f"          /* {group} omitted: {why} */")


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


#: the OpenRAM sky130 1rw bitcell whose LEF gives the array's pitch
BITCELL = "sky130_fd_bd_sram__sram_sp_cell_opt1"


def bitcell_array_area(macro: Macro, cell_lib: Path | None) -> tuple[float, str] | None:
    """rows x columns x the bitcell's LEF size (um^2): the storage array only, a lower bound of the macro's area."""
    lef = cell_lib / "lef" / f"{BITCELL}.magic.lef" if cell_lib else None
    if lef is None or not lef.is_file():
        return None
    m = re.search(r"SIZE\s+([0-9.]+)\s+BY\s+([0-9.]+)", lef.read_text())
    if m is None:
        return None
    width, height = float(m.group(1)), float(m.group(2))
    area = macro.rows * macro.columns * width * height
    return area, (f"ESTIMATE, a lower bound: the storage array only, {macro.rows} rows x {macro.columns} columns x "
                  f"{width:g} um x {height:g} um ({lef.name}); periphery not included (OpenRAM ran netlist-only: "
                  "no layout)")


def export_liberty(csv_path: Path, macro: Macro, out_dir: Path, timing_csv: Path | None = None,
                   cell_lib: Path | None = None) -> list[Path]:  # fmt: skip
    """Write one .lib per corner of the table ``csv_path`` (cosim's characterization CSV) into ``out_dir``, with the
    timing table ``timing_csv`` (default: timing/<macro>.csv beside it, when present) and the bitcell LEF of
    ``cell_lib`` for the area."""
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
    from cosim.characterize.arcs_table import read_timing, timing_path

    timing_csv = Path(timing_csv) if timing_csv else timing_path(csv_path.parent, macro.name)
    timing = None
    if timing_csv.is_file():
        timing, tprov = read_timing(timing_csv)
        source.append(f"Timing table {timing_csv.name} (sha256 {tprov.get('csv_sha256')}), {tprov.get('ngspice_version')}.")
    area = bitcell_array_area(macro, cell_lib)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for corner in corners_of(frame):
        path = out_dir / corner_file_name(macro.name, corner.process, corner.vdd_v, corner.temp_c)
        tmp = path.with_suffix(".lib.tmp")
        tmp.write_text(liberty_text(macro, corner, "\n".join(source), timing, area))
        tmp.replace(path)
        paths.append(path)
    return paths
