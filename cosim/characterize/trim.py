"""Trim the storage array of a macro netlist to what a characterization plan touches (as OpenRAM's trim_spice).

A plan reads and writes two words (:meth:`MacroPlan.kept_rows_cols`). Every storage cell on those words' rows keeps
the word-line load, every cell on their columns keeps the bit-line load; a cell on neither carries no signal the
measurements see (its word line stays low, its bit lines are another column's), so it is removed. Only the storage
array subckt changes: periphery, replica column and dummy rows are kept whole. The word-line strap cells
(``Xrow_{r}_col_{c}_wlstrap*``) have no devices; a strap is removed with the cell at the same (row, column).

OpenRAM's own characterizer (``openram/compiler/characterizer/trim_spice.py``) keeps the same cells (those on the
accessed word line or bit lines) and also trims sense amps, write drivers and precharges of other columns; cosim
keeps those, since its plans read and write whole words.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from cosim.characterize.plan import MacroPlan
from cosim.netlist import Netlist, find_bitcell_array

#: storage cells and the word-line straps placed beside them in OpenRAM's sky130 array
_CELL_OR_STRAP = re.compile(r"^Xrow_(\d+)_col_(\d+)_(bitcell|wlstrap\w*)$", re.I)


@dataclass(frozen=True)
class TrimSummary:
    array_subckt: str
    cells_before: int
    cells_after: int
    straps_removed: int


def _keep(name: str, rows: frozenset[int], cols: frozenset[int]) -> bool:
    m = _CELL_OR_STRAP.match(name)
    if m is None:
        return True
    return int(m.group(1)) in rows or int(m.group(2)) in cols


def trim_netlist(netlist: Netlist, plan: MacroPlan) -> Netlist:
    """The netlist with every storage cell (and strap) that is in neither a kept row nor a kept column removed from
    the bitcell array subckt; every other subckt, the ports and the cards are unchanged."""
    array = find_bitcell_array(netlist)
    rows, cols = plan.kept_rows_cols()
    sub = netlist.subckt(array.subckt)
    kept = tuple(e for e in sub.elements if _keep(e.name, rows, cols))
    return netlist.with_subckt(replace(sub, elements=kept))


def trim_summary(before: Netlist, after: Netlist) -> TrimSummary:
    array = find_bitcell_array(before)
    b = before.subckt(array.subckt).elements
    a = after.subckt(array.subckt).elements

    def cells(es):
        return sum(1 for e in es if (m := _CELL_OR_STRAP.match(e.name)) and m.group(3).lower() == "bitcell")

    return TrimSummary(array.subckt, cells(b), cells(a), (len(b) - cells(b)) - (len(a) - cells(a)))


def trimmed_text(netlist: Netlist, plan: MacroPlan) -> str:
    rows, cols = plan.kept_rows_cols()
    head = (
        f"* TRIMMED by cosim.characterize.trim for characterization only (not for LVS): storage cells kept on rows "
        f"{sorted(rows)} and columns {sorted(cols)} of {find_bitcell_array(netlist).subckt}\n"
    )
    return head + trim_netlist(netlist, plan).to_spice()


def write_trimmed(netlist: Netlist, plan: MacroPlan, cache_dir: Path) -> Path:
    """Write the trimmed netlist to ``cache_dir/trimmed/<top>_<sha256[:16]>.sp`` (content-hashed: the same trim is
    written once; write, then rename, so a reader never sees half a file). Returns the path."""
    text = trimmed_text(netlist, plan)
    sha = hashlib.sha256(text.encode()).hexdigest()
    folder = Path(cache_dir) / "trimmed"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{netlist.top}_{sha[:16]}.sp"
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha:
        return path
    tmp = path.with_suffix(f".sp.tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)
    return path


#: measured columns compared between a trimmed and an untrimmed point
COMPARED = ("access_time_s", "cycle_time_s", "energy_j", "leakage_w")


def compare_rows(reference: tuple[dict, ...], trimmed: tuple[dict, ...]) -> list[dict]:
    """Per op and measured column present in both: the two values and the relative difference
    (trimmed - reference) / |reference|; plus the two statuses. Ops missing from either side are listed too."""
    ref = {r["op"]: r for r in reference}
    tri = {r["op"]: r for r in trimmed}
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


def untrimmed_leakage_spec(req, netlist_path: Path, period_s: float):
    """The deck a trimmed point's leakage comes from: the main deck (same sequence, period, options) on the
    untrimmed netlist. Why the whole main sequence: the supply current after the clock stops is still decaying tens
    of ns later (sram_8x16, tt/1.8 V/25 C, clock stopped after 2 settle cycles + 1 idle: 2.9 uW in the first 0.5 ns,
    2.1 uW at 4 ns, 0.52 uW at 55-60 ns), so the table's leakage depends on the history before it and only the
    same deck reproduces the untrimmed value."""
    from cosim.characterize import point as pt
    from cosim.characterize.plan import main_sequence

    full = replace(req, netlist_path=Path(netlist_path))
    return full, pt._spec(full, main_sequence(req.plan), period_s, pt.LEAK_S, req.options)


def full_netlist_leakage(req, netlist_path: Path, period_s: float | None = None) -> dict:
    """Leakage of the *untrimmed* netlist for a trimmed point. Trimming removes cells, and their leakage with it
    (measured at tt/1.8 V/25 C: -1.9 % on sram_8x16 for 15 of 153 cells removed, -3.1 % on sram_16x128 for 1023 of
    2145), so a trimmed table takes its leakage from :func:`untrimmed_leakage_spec`'s deck. ``period_s``: the main
    deck's period (default ``req.period_s``). Returns the leakage row plus ``runs``/``retries``/``deck_sha256``/
    ``wall_s``."""
    import time

    from cosim.characterize import point as pt
    from cosim.measure import mean_power_w
    from cosim.sim import SimError
    from cosim.testbench import stop_time_s

    start = time.perf_counter()
    full, spec = untrimmed_leakage_spec(req, netlist_path, period_s or req.period_s)
    counters = {"runs": 0, "retries": 0}
    extra: dict = {}
    try:
        r, deck = pt._run(full, spec, "leakage_untrimmed", counters)
        t_end = stop_time_s(spec)
        leak = mean_power_w(r.time_s, r.v("v_supply#branch"), req.corner.vdd_v, t_end - pt.LEAK_S / 2, t_end)
        row = {"op": "leakage", "status": "ok", "leakage_w": leak, "message": "main deck on the untrimmed netlist"}
        extra["deck_sha256"] = pt._sha(deck)
    except SimError as exc:
        row = {"op": "leakage", "status": "failed", "message": "untrimmed leakage deck: " + pt._first_line(exc)}
    return {"row": row, **counters, **extra, "wall_s": time.perf_counter() - start}
