"""A generated SRAM macro: its netlist (``netlists/<name>.sp``) and description (``netlists/<name>.json``).

OpenRAM's sky130 hierarchy (1 rw port, one bank), from the top subckt ``<name>`` down:

- ``Xbank0`` (``<name>_bank``): ``Xbitcell_array`` (``<name>_sky130_capped_replica_bitcell_array``: the array with
  its end caps) -> ``Xreplica_bitcell_array`` (``<name>_sky130_replica_bitcell_array``: array + replica column +
  dummy rows) -> ``Xbitcell_array`` (``<name>_sky130_bitcell_array``): the storage cells, instances
  ``Xrow_{row}_col_{col}_bitcell`` of ``sky130_fd_bd_sram__sram_sp_cell_opt1``/``opt1a`` (alternating rows, mirrored
  layouts, same circuit), with word-line strap cells (``Xrow_{r}_col_{c}_wlstrap*``, no devices) between columns.
  Row ``r`` is word line ``wl_0_{r}`` (row address ``r``); column ``c`` is bit lines ``bl_0_{c}``/``br_0_{c}``.
  ``Xport_data0`` (``<name>_port_data``): precharge array, sense amps, write drivers (and the column mux when
  words_per_row > 1). ``Xport_address0`` (``<name>_port_address``): row decoder and word-line drivers.
- ``Xcontrol0`` (``<name>_control_logic_rw``): control logic and its clock buffers and delay chain.
- ``Xrow_address0``/``Xdata_dff0``/``Xspare_wen_dff0``: input flops (``sky130_fd_bd_sram__openram_dff``).

Dummy rows/columns of the replica array reuse the name pattern ``Xrow_{r}_col_{c}_bitcell`` with dummy/replica
cells; :func:`find_bitcell_array` picks the one array whose cells are neither.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from cosim.errors import NetlistError
from cosim.netlist.spice import Netlist, read_netlist

MACRO_SCHEMA = "cosim.macro/1"

#: OpenRAM's name for a storage-cell instance in its sky130 bitcell array
BITCELL_INSTANCE = re.compile(r"^Xrow_(\d+)_col_(\d+)_bitcell$", re.I)
BITCELL_PATTERN = "Xrow_{row}_col_{col}_bitcell"
_NOT_STORAGE = ("dummy", "replica")

_BUS_BIT = re.compile(r"^(.*)\[(\d+)\]$")


def port_buses(ports: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Bus name -> width for ``name[i]`` ports (bits 0..width-1 must all be there)."""
    bits: dict[str, set[int]] = {}
    for p in ports:
        m = _BUS_BIT.match(p)
        if m:
            bits.setdefault(m.group(1), set()).add(int(m.group(2)))
    buses = {}
    for name, idx in bits.items():
        if idx != set(range(len(idx))):
            raise NetlistError(f"bus {name} has bits {sorted(idx)}; a bus must have bits 0..n-1")
        buses[name] = len(idx)
    return buses


@dataclass(frozen=True)
class Bitcell:
    row: int
    col: int
    name: str  #: instance name in the array subckt, e.g. Xrow_3_col_5_bitcell
    model: str  #: the cell subckt it instantiates

    def path(self, array_path: tuple[str, ...]) -> tuple[str, ...]:
        return (*array_path, self.name)


@dataclass(frozen=True)
class BitcellArray:
    path: tuple[str, ...]  #: instance path from the top subckt to the array instance
    subckt: str  #: the array's subckt name
    cells: tuple[Bitcell, ...]  #: sorted by (row, col)
    pattern: str = BITCELL_PATTERN

    @property
    def rows(self) -> int:
        return 1 + max(c.row for c in self.cells)

    @property
    def cols(self) -> int:
        return 1 + max(c.col for c in self.cells)

    def ngspice_node(self, row: int, col: int, net: str, top_instance: str = "X0") -> str:
        """The flattened ngspice name of ``net`` inside the cell at (row, col) when the macro is instantiated as
        ``top_instance``: e.g. ``x0.xbank0.xbitcell_array.xreplica_bitcell_array.xbitcell_array.xrow_3_col_5_bitcell.q``
        (ngspice lower-cases names and joins the instance path with dots). Storage nodes of the sky130 cell are
        ``Q`` and ``Q_bar``."""
        cell = self.cell(row, col)
        return ".".join(p.lower() for p in (top_instance, *self.path, cell.name, net))

    def cell(self, row: int, col: int) -> Bitcell:
        if 0 <= row < self.rows and 0 <= col < self.cols:
            c = self.cells[row * self.cols + col]  # cells are complete and sorted by (row, col)
            if (c.row, c.col) == (row, col):
                return c
        raise NetlistError(f"no bitcell at row {row}, column {col} in {self.subckt} ({self.rows}x{self.cols})")


def find_bitcell_array(netlist: Netlist) -> BitcellArray:
    """The storage array: the one subckt whose ``Xrow_{r}_col_{c}_bitcell`` instances are storage cells (not dummy
    or replica), and the unique instance path from the top subckt to it."""
    holders = []
    for sub in netlist.subckts.values():
        cells = []
        for e in sub.elements:
            m = BITCELL_INSTANCE.match(e.name)
            if m and e.ref and not any(k in e.ref.lower() for k in _NOT_STORAGE):
                cells.append(Bitcell(int(m.group(1)), int(m.group(2)), e.name, e.ref))
        if cells:
            holders.append((sub, tuple(sorted(cells, key=lambda c: (c.row, c.col)))))
    where = netlist.path or "<netlist>"
    if len(holders) != 1:
        names = ", ".join(s.name for s, _ in holders) or "none"
        raise NetlistError(f"{where}: expected one subckt holding {BITCELL_PATTERN} storage cells, found {names}")
    sub, cells = holders[0]
    paths = list(_paths_to(netlist, netlist.top, sub.name.lower(), ()))
    if len(paths) != 1:
        raise NetlistError(f"{where}: the bitcell array {sub.name} is placed {len(paths)} times below {netlist.top}; expected once")
    return BitcellArray(path=paths[0], subckt=sub.name, cells=cells)


def _paths_to(netlist: Netlist, current: str, target: str, prefix: tuple[str, ...]):
    for e in netlist.subckt(current).elements:
        if e.kind != "X" or not netlist.is_subckt(e.ref):
            continue
        here = (*prefix, e.name)
        if e.ref.lower() == target:
            yield here
        else:
            yield from _paths_to(netlist, e.ref, target, here)


@dataclass(frozen=True)
class Macro:
    """The .json description of a macro (see cosim.openram.generate for how it is made)."""

    name: str
    words: int
    word_size: int
    words_per_row: int
    rows: int  #: storage rows, spare rows included
    columns: int  #: storage columns, spare columns included (replica/dummy excluded)
    spare_rows: int
    spare_columns: int
    address_bits: int
    ports: tuple[str, ...]  #: in .SUBCKT order
    port_directions: tuple[tuple[str, str], ...]  #: (port, INPUT/OUTPUT/POWER/GROUND)
    buses: tuple[tuple[str, int], ...]  #: (bus, width), e.g. ("din0", 9)
    power: tuple[str, ...]
    ground: tuple[str, ...]
    bitcell_array_path: tuple[str, ...]
    bitcell_array_subckt: str
    devices: tuple[str, ...]
    openram_version: str
    config: str
    config_sha256: str
    netlist_sha256: str
    fixes: tuple[str, ...]

    def bus_width(self, bus: str) -> int:
        for name, width in self.buses:
            if name == bus:
                return width
        raise NetlistError(f"{self.name} has no bus {bus}; it has {', '.join(n for n, _ in self.buses)}")

    @property
    def data_bits(self) -> int:
        """Width of din0/dout0: word_size plus the spare columns."""
        return self.bus_width("dout0")


def load_macro_json(path: Path | str) -> Macro:
    path = Path(path)
    if not path.is_file():
        raise NetlistError(f"{path}: no macro description; run 'make netlists' to regenerate it")
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NetlistError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); regenerate it with 'make netlists'") from None
    if d.get("schema") != MACRO_SCHEMA:
        raise NetlistError(f"{path}: schema {d.get('schema')!r}, expected {MACRO_SCHEMA!r}; regenerate it with 'make netlists'")
    try:
        return Macro(
            name=d["name"],
            words=int(d["words"]),
            word_size=int(d["word_size"]),
            words_per_row=int(d["words_per_row"]),
            rows=int(d["rows"]),
            columns=int(d["columns"]),
            spare_rows=int(d["spare_rows"]),
            spare_columns=int(d["spare_columns"]),
            address_bits=int(d["address_bits"]),
            ports=tuple(d["ports"]),
            port_directions=tuple((p, d["port_directions"][p]) for p in d["ports"]),
            buses=tuple(sorted((k, int(v)) for k, v in d["buses"].items())),
            power=tuple(d["supplies"]["power"]),
            ground=tuple(d["supplies"]["ground"]),
            bitcell_array_path=tuple(d["bitcell_array"]["path"]),
            bitcell_array_subckt=d["bitcell_array"]["subckt"],
            devices=tuple(d["devices"]),
            openram_version=d["openram_version"],
            config=d["config"],
            config_sha256=d["config_sha256"],
            netlist_sha256=d["netlist_sha256"],
            fixes=tuple(d.get("fixes", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NetlistError(f"{path}: missing or bad field {exc}; regenerate it with 'make netlists'") from None


@dataclass(frozen=True)
class MacroNetlist:
    """A macro's parsed netlist and its description, checked against each other."""

    macro: Macro
    netlist: Netlist
    sp_path: Path

    @property
    def bitcell_array(self) -> BitcellArray:
        return find_bitcell_array(self.netlist)


def load_macro(sp_path: Path | str) -> MacroNetlist:
    """Read ``<name>.sp`` and the ``<name>.json`` beside it; cross-check ports, organisation and hashes."""
    sp_path = Path(sp_path)
    macro = load_macro_json(sp_path.with_suffix(".json"))
    netlist = read_netlist(sp_path, top=macro.name)
    where = f"{sp_path}"
    actual = hashlib.sha256(sp_path.read_bytes()).hexdigest()
    if actual != macro.netlist_sha256:
        raise NetlistError(
            f"{where}: sha256 {actual[:12]}... differs from the .json's {macro.netlist_sha256[:12]}... (edited by hand?); "
            "regenerate both with 'make netlists'"
        )
    if tuple(netlist.ports) != macro.ports:
        raise NetlistError(
            f"{where}: the top subckt's ports differ from {sp_path.with_suffix('.json').name}'s; regenerate both with 'make netlists'"
        )
    array = find_bitcell_array(netlist)
    if (array.rows, array.cols) != (macro.rows, macro.columns) or array.path != macro.bitcell_array_path:
        raise NetlistError(
            f"{where}: the bitcell array is {array.rows}x{array.cols} at {'/'.join(array.path)}, the .json says "
            f"{macro.rows}x{macro.columns} at {'/'.join(macro.bitcell_array_path)}; regenerate with 'make netlists'"
        )
    if macro.rows * macro.words_per_row != macro.words + macro.spare_rows * macro.words_per_row:
        raise NetlistError(f"{where}: {macro.rows} rows x {macro.words_per_row} words/row != {macro.words} words + spare rows")
    if tuple(netlist.device_models()) != macro.devices:
        raise NetlistError(f"{where}: device models {netlist.device_models()} differ from the .json's {macro.devices}")
    return MacroNetlist(macro=macro, netlist=netlist, sp_path=sp_path)
