"""Fold the storage array of a macro netlist down to what a characterization plan touches.

A plan reads and writes two words (:meth:`MacroPlan.kept_rows`): the cells on those words' rows switch; every other
storage cell only sits on its column's bit lines with its word line low, holding a value. cosim gives every such
cell the same value (0: :func:`storage_nodes` and the initial conditions of cosim.characterize.point), so within a
column all of them are identical circuits in identical states: same bit lines, same supplies, word lines driven low
by identical drivers. N identical devices in the same state carry N times the current and charge of one, which is
what SPICE's multiplier ``m`` computes; so each column's unaccessed cells are replaced by *one* cell whose devices
carry ``mult=N`` (sky130's instance parameter, made effective by cosim.pdk.reduce.honor_mult), connected to the
column's bit lines and to the word line of the first folded row. Bit-line load, bit-line leakage and array leakage
are kept (to the solver's tolerance, not approximated), unlike removing the cells as OpenRAM's trim_spice does
(which cosim did at first: -3.1 % leakage on sram_16x128). Word-line straps have no devices and go with their row.

Only the storage array subckt changes: periphery, replica column and dummy rows are kept whole.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from cosim.files import write_atomic
from cosim.characterize.plan import MacroPlan
from cosim.errors import NetlistError
from cosim.netlist import Netlist, find_bitcell_array
from cosim.netlist.spice import Element, Subckt

#: storage cells and the word-line straps placed beside them in OpenRAM's sky130 array
_CELL_OR_STRAP = re.compile(r"^Xrow_(\d+)_col_(\d+)_(bitcell|wlstrap\w*)$", re.I)
FOLD_PREFIX = "Xfold_col_"  #: instance name of a column's folded cell: Xfold_col_{col}
_FOLDED = re.compile(rf"^{FOLD_PREFIX}(\d+)(?:_\d+)?$", re.I)


@dataclass(frozen=True)
class TrimSummary:
    array_subckt: str
    cells_before: int
    cells_after: int  #: cell instances simulated: kept cells + one folded cell per column
    cells_folded: int  #: cells stood for by the folded instances


def _body_key(netlist: Netlist, ref: str) -> tuple:
    sub = netlist.subckt(ref)
    return sub.ports, sub.elements, sub.params, sub.cards


def folded_cell_subckt(netlist: Netlist, ref: str, n: int) -> Subckt:
    """The cell subckt ``ref`` with every device multiplied by ``n`` (``mult=n``)."""
    sub = netlist.subckt(ref)
    devices = []
    for e in sub.elements:
        if e.kind != "X" or netlist.is_subckt(e.ref) or any(k.lower() in ("mult", "m") for k, _ in e.params):
            raise NetlistError(
                f"{netlist.path or '<netlist>'}: cannot fold cell {ref}: element {e.name} is not a plain PDK device "
                "call; characterize it untrimmed (--trim no)"
            )
        devices.append(replace(e, params=(*e.params, ("mult", str(n)))))
    return replace(sub, name=f"cosim_fold_{sub.name}_x{n}", elements=tuple(devices))


def trim_netlist(netlist: Netlist, plan: MacroPlan) -> Netlist:
    """``netlist`` with the storage array folded: cells on the plan's rows kept as they are, the rest of each column
    replaced by one ``mult=N`` cell (module doc). Every other subckt, the ports and the cards are unchanged."""
    array = find_bitcell_array(netlist)
    rows = plan.kept_rows()
    sub = netlist.subckt(array.subckt)
    kept: list[Element] = []
    folded: dict[int, list[Element]] = {}
    for e in sub.elements:
        m = _CELL_OR_STRAP.match(e.name)
        if m is None or int(m.group(1)) in rows:
            kept.append(e)
        elif m.group(3).lower() == "bitcell":
            folded.setdefault(int(m.group(2)), []).append(e)
    canonical: dict[tuple, str] = {}  # mirrored cell variants (opt1/opt1a) are the same circuit: fold them together
    new_subckts: dict[str, Subckt] = {}
    for col, cells in sorted(folded.items()):
        groups: dict[str, list[Element]] = {}
        for e in cells:
            groups.setdefault(canonical.setdefault(_body_key(netlist, e.ref), e.ref), []).append(e)
        for k, (ref, members) in enumerate(groups.items()):
            first = members[0]
            differ = {i for e in members for i, (a, b) in enumerate(zip(e.nodes, first.nodes)) if a != b}
            if len(differ) > 1 or any(len(e.nodes) != len(first.nodes) for e in members):
                raise NetlistError(
                    f"{netlist.path or '<netlist>'}: cells of column {col} in {sub.name} differ in more than their "
                    "word line; cannot fold them (--trim no)"
                )
            cell = folded_cell_subckt(netlist, ref, len(members))
            new_subckts[cell.name.lower()] = cell
            name = f"{FOLD_PREFIX}{col}" + (f"_{k}" if k else "")
            kept.append(Element(name=name, nodes=first.nodes, ref=cell.name))
    out = netlist.with_subckt(replace(sub, elements=tuple(kept)))
    for cell in new_subckts.values():
        out = out.with_subckt(cell)
    return out


def trim_summary(before: Netlist, after: Netlist) -> TrimSummary:
    array = find_bitcell_array(before)
    a = after.subckt(array.subckt).elements
    real = sum(1 for e in a if (m := _CELL_OR_STRAP.match(e.name)) and m.group(3).lower() == "bitcell")
    folds = [e for e in a if _FOLDED.match(e.name)]
    n = sum(int(re.search(r"_x(\d+)$", e.ref).group(1)) for e in folds)
    return TrimSummary(array.subckt, len(array.cells), real + len(folds), n)


def storage_nodes(netlist: Netlist, plan: MacroPlan) -> tuple[str, ...]:
    """ngspice paths of every storage cell instance of the (folded or full) array, e.g.
    ``x_sram.xbank0...xbitcell_array.xrow_3_col_5_bitcell``: what gets a definite initial value."""
    array = find_bitcell_array(netlist)
    prefix = ".".join(p.lower() for p in (plan.instance, *array.path))
    names = [e.name for e in netlist.subckt(array.subckt).elements
             if _FOLDED.match(e.name) or ((m := _CELL_OR_STRAP.match(e.name)) and m.group(3).lower() == "bitcell")]  # fmt: skip
    return tuple(f"{prefix}.{n.lower()}" for n in names)


def trimmed_text(netlist: Netlist, plan: MacroPlan, folded: Netlist | None = None) -> str:
    """The folded netlist's text; ``folded``: :func:`trim_netlist`'s result when the caller already has it."""
    rows = sorted(plan.kept_rows())
    head = (
        f"* FOLDED by cosim.characterize.trim for characterization only (not for LVS): storage cells kept on rows "
        f"{rows} of {find_bitcell_array(netlist).subckt}; every other row's cells folded into one mult=N cell per column\n"
    )
    return head + (folded if folded is not None else trim_netlist(netlist, plan)).to_spice()


def write_trimmed(netlist: Netlist, plan: MacroPlan, cache_dir: Path, folded: Netlist | None = None) -> Path:
    """Write the folded netlist to ``cache_dir/trimmed/<top>_<sha256[:16]>.sp`` (content-hashed: the same fold is
    written once; write, then rename, so a reader never sees half a file). Returns the path."""
    text = trimmed_text(netlist, plan, folded)
    sha = hashlib.sha256(text.encode()).hexdigest()
    folder = Path(cache_dir) / "trimmed"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{netlist.top}_{sha[:16]}.sp"
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha:
        return path
    return write_atomic(path, text)


#: measured columns compared between a trimmed and an untrimmed point
COMPARED = ("access_time_s", "cycle_time_s", "energy_j", "leakage_w")


def compare_rows(reference, trimmed) -> list[dict]:
    """Per op and measured column present in both: the two values and the relative difference
    (trimmed - reference) / |reference|; plus the two statuses. Ops missing from either side are listed too.
    Rows are cosim.characterize.records.MeasurementRow."""
    ref = {r.op: r.as_dict() for r in reference}
    tri = {r.op: r.as_dict() for r in trimmed}
    out = []
    for op in dict.fromkeys([*ref, *tri]):
        a, b = ref.get(op, {}), tri.get(op, {})
        for col in COMPARED:
            x, y = a.get(col), b.get(col)
            if x is None and y is None:
                continue
            rel = (y - x) / abs(x) if isinstance(x, float) and isinstance(y, float) and x != 0 else float("nan")
            out.append({"op": op, "column": col, "untrimmed": x, "trimmed": y, "rel_diff": rel,
                        "status_untrimmed": a.get("status"), "status_trimmed": b.get("status")})  # fmt: skip
    return out
