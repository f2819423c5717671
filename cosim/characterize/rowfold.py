"""Fold a bit-folded macro's alike word-line rows into one row per class (``cosim characterize --fold-rows``).

Why: once the storage array and the bit slices are folded (cosim.characterize.trim, cosim.characterize.bitfold),
most of what is left is per row: every word line has its row-decoder gate, its word-line driver and its replica-
column cell (sram_32x256: 1,720 of 2,445 transistors on 66 word lines). The sequences access two words, so two rows;
every other row's word line stays low. Such a row's decoder gate sees the predecoded address lines it is wired to:
a line the two accessed rows do not use is never selected, so it stays low for the whole run, like every other such
line. Two rows whose gates are wired to the same lines the accessed rows use, and to unused lines in the same places,
are then the same circuit with the same stimulus in the same state, and N of them carry N times the current and
charge of one: one row per class is simulated with its devices times N (bitfold._mult: the call line's ``m``, or
``mult`` on the cells' special devices), the others are removed.

What changes: the unused lines lose the gate load of the removed rows' decoders and the class representative's
line carries it N times. The lines never switch, so their drivers charge nothing more or less; what they leak is
kept (the devices stay, times N). The accessed rows, the rows whose cells are folded storage cells and anything
else that matches no other row are kept as they are.

How, without trusting names: the word lines are the gate nets of the cells' access devices (special_nfet_pass);
each row is grown from its word line by bitfold.grow_slices (nets that several rows reach at the same step are
shared: predecoded lines, the word-line enable, bit lines, supplies); a shared net is an *unused line* when the
accessed rows do not touch it and it is a gate input of two or more other rows (provenance lists them); two rows fold only if they are device for device the same
(models, parameters, their own nets one-to-one), with the same shared nets where those are not unused lines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cosim.characterize.bitfold import _SHARED, FlatDevice, folded_netlist, grow_slices, write_folded
from cosim.characterize.plan import MacroPlan
from cosim.errors import NetlistError
from cosim.netlist import Netlist

ACCESS_DEVICE = "sky130_fd_pr__special_nfet_pass"  #: the cells' access transistors: their gates are word lines
_GATE = 1  #: terminal order of the sky130 fets: d g s b
_UNUSED = "<unused line>"


@dataclass(frozen=True)
class RowFold:
    netlist: Netlist  #: one flat subckt (the macro's top, same ports)
    storage_cells: tuple[str, ...]  #: ngspice paths of the storage cells left
    representative: dict[str, str]  #: word line -> the word line whose row stands for it (folded rows only)
    unused_lines: tuple[str, ...]  #: the shared nets taken as never selected
    devices_before: int
    devices_after: int


def _signature(devices: list[FlatDevice], unused: set[str], common: set[str]) -> tuple:
    """A row as a comparable value: models, parameters and nets in netlist order, shared nets by name (unused lines
    all alike), its own nets numbered by first appearance (equal signatures: own nets one-to-one)."""
    own: dict[str, int] = {}
    out = []
    for d in devices:
        nets = tuple(
            _UNUSED if n in unused else n if n in common else own.setdefault(n, len(own)) for n in d.nodes
        )
        out.append((d.ref.lower(), d.params, nets))
    return tuple(out)


def fold_rows(netlist: Netlist, plan: MacroPlan, storage_cells: tuple[str, ...]) -> RowFold:
    """``netlist`` (flat: the bit-folded netlist's single subckt) with its alike rows folded (module doc)."""
    top = netlist.top_subckt
    where = netlist.path or "<netlist>"
    devices, others = [], []
    for e in top.elements:
        if e.kind == "X" and not netlist.is_subckt(e.ref):
            devices.append(FlatDevice(e.name.lower(), tuple(e.nodes), e.ref, tuple(e.params)))
        elif e.kind == "X":
            raise NetlistError(f"{where}: cannot fold rows of a hierarchical netlist (instance {e.name}): fold the "
                               "bit slices first, or characterize with --no-fold-rows")  # fmt: skip
        else:
            others.append(e)
    power = {plan.ports.power.lower(), plan.ports.ground.lower()}
    shared = {p for p in top.ports if p.lower() in power} | {"0"}
    word_lines = sorted({d.nodes[_GATE] for d in devices if d.ref.lower() == ACCESS_DEVICE} - shared)
    if not word_lines:
        raise NetlistError(f"{where}: no word lines found (no {ACCESS_DEVICE} cells): characterize with --no-fold-rows")
    labels = grow_slices(devices, {i: (wl,) for i, wl in enumerate(word_lines)}, shared)
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    rows = [r for r in members if r != _SHARED]
    nets = {r: {n for i in members[r] for n in devices[i].nodes} for r in rows}
    reach: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        for n in nets[r]:
            reach[n].add(r)
    # ports count as shared: a row holding a port net (it would lose the port if folded) matches no other row
    common = set(shared) | set(top.ports) | {n for n, rs in reach.items() if len(rs) > 1}
    common |= {n for i in members.get(_SHARED, ()) for n in devices[i].nodes}
    # rows that stay as they are: the accessed ones (their cells are probed), and any a tie or source touches
    prefix = plan.instance.lower() + "."
    probed = {q[len(prefix):] for a in (plan.address_a, plan.address_b) for q in plan.word_nodes(a)}
    accessed = {r for r in rows if nets[r] & probed}
    if len(accessed) != len(plan.kept_rows()):
        raise NetlistError(f"{where}: found {len(accessed)} rows holding the accessed words' cells, expected one per "
                           "accessed row: characterize with --no-fold-rows")  # fmt: skip
    touched = {n for e in others for n in e.nodes}
    pinned = accessed | {r for r in rows if nets[r] & touched}
    # unused lines: shared nets the accessed rows do not touch that are gate inputs of two or more other rows
    # (decoded address lines the accessed rows are not wired to: never selected)
    gate_rows: dict[str, set[int]] = defaultdict(set)
    for i, d in enumerate(devices):
        if labels[i] != _SHARED and labels[i] not in pinned:
            gate_rows[d.nodes[_GATE]].add(labels[i])
    used_by_accessed = {n for r in accessed for n in nets[r]}
    unused = {n for n in common - shared - used_by_accessed - touched if len(gate_rows.get(n, ())) >= 2}

    classes: dict[tuple, list[int]] = defaultdict(list)
    for r in rows:
        if r not in pinned:
            classes[_signature([devices[i] for i in members[r]], unused, common)].append(r)
    count: dict[int, int] = {}
    representative: dict[str, str] = {}
    removed: set[int] = set()
    for group in classes.values():
        rep = group[0]
        count[rep] = len(group)
        for r in group[1:]:
            representative[word_lines[r]] = word_lines[rep]
            removed.update(members[r])
    folded, cells = folded_netlist(netlist, plan, devices, removed, lambda i: count.get(labels[i], 1), others,
                                   storage_cells)  # fmt: skip
    return RowFold(folded, cells, representative, tuple(sorted(unused)), len(devices), len(devices) - len(removed))


def write_rowfolded(fold: RowFold, head: str, cache_dir: Path) -> Path:
    """The row-folded netlist, written by bitfold.write_folded as ``<top>_rows_<sha>.sp``."""
    return write_folded(fold.netlist, head, cache_dir, "rows")
