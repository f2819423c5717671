"""Trimming the storage array: pure checks on the committed netlists, and one real ngspice comparison."""

from __future__ import annotations

import math
import re

import pytest

from cosim.characterize.plan import make_plan
from cosim.characterize.trim import FOLD_PREFIX, compare_rows, storage_nodes, trim_netlist, trim_summary, write_trimmed
from cosim.netlist import find_bitcell_array, load_macro, read_netlist

MACROS = ("sram_8x16", "sram_16x128", "sram_32x256")
_CELL = re.compile(r"^Xrow_(\d+)_col_(\d+)_bitcell$", re.I)


@pytest.fixture(scope="module", params=MACROS)
def macro_netlist(request, settings):
    return load_macro(settings.netlists_dir / f"{request.param}.sp")


def _cells(netlist, array_subckt):
    return {(int(m[1]), int(m[2])): e for e in netlist.subckt(array_subckt).elements if (m := _CELL.match(e.name))}


def test_fold_keeps_accessed_rows_and_stands_for_every_other_cell(macro_netlist):
    plan = make_plan(macro_netlist.macro)
    rows = plan.kept_rows()
    full = macro_netlist.netlist
    folded = trim_netlist(full, plan)
    array = find_bitcell_array(full)
    kept = _cells(folded, array.subckt)
    assert set(kept) == {(c.row, c.col) for c in array.cells if c.row in rows}
    # every cell the plans probe survives as itself
    for a in (plan.address_a, plan.address_b):
        for b in range(macro_netlist.macro.word_size):
            assert plan.cell(a, b) in kept
    # one folded cell per column, on that column's bit lines, multiplying exactly the cells it replaces
    full_cells = _cells(full, array.subckt)
    folds = [e for e in folded.subckt(array.subckt).elements if e.name.startswith(FOLD_PREFIX)]
    columns = sorted({c.col for c in array.cells})
    assert sorted(int(e.name[len(FOLD_PREFIX):]) for e in folds) == columns
    for e in folds:
        col = int(e.name[len(FOLD_PREFIX):])
        replaced = [full_cells[(r, c)] for (r, c) in full_cells if c == col and r not in rows]
        body = folded.subckt(e.ref)
        assert {dict(d.params)["mult"] for d in body.elements} == {str(len(replaced))}
        assert e.nodes[:6] == replaced[0].nodes[:6]  # bit lines and supplies of the column; word line of a folded row
        assert e.nodes in {c.nodes for c in replaced}
        # the folded cell is the cell: same devices, terminals and sizes, only mult added
        cell = full.subckt(replaced[0].ref)
        assert [(d.name, d.nodes, d.ref, d.params + (("mult", str(len(replaced))),)) for d in cell.elements] == [
            (d.name, d.nodes, d.ref, d.params) for d in body.elements
        ]
    s = trim_summary(full, folded)
    assert s.cells_before == len(array.cells)
    assert s.cells_after == len(kept) + len(folds) < s.cells_before
    assert s.cells_folded + len(kept) == len(array.cells)


def test_other_subckts_unchanged(macro_netlist):
    full = macro_netlist.netlist
    folded = trim_netlist(full, make_plan(macro_netlist.macro))
    array = find_bitcell_array(full).subckt.lower()
    assert list(folded.subckts)[: len(full.subckts)] == list(full.subckts)
    assert all(n.startswith("cosim_fold_") for n in list(folded.subckts)[len(full.subckts):])
    for name, sub in full.subckts.items():
        if name != array:
            assert folded.subckts[name] == sub
    assert folded.subckts[array].ports == full.subckts[array].ports
    assert (folded.cards, folded.elements, folded.models, folded.top) == (full.cards, full.elements, full.models, full.top)


def test_storage_nodes_name_every_cell_instance(macro_netlist):
    plan = make_plan(macro_netlist.macro)
    full = macro_netlist.netlist
    folded = trim_netlist(full, plan)
    everything = storage_nodes(full, plan)
    assert len(everything) == len(find_bitcell_array(full).cells)
    assert plan.q_node(plan.address_a, 0).rsplit(".", 1)[0] in everything
    some = storage_nodes(folded, plan)
    assert len(some) == trim_summary(full, folded).cells_after
    assert set(some) - set(everything) == {n for n in some if ".xfold_col_" in n}


def test_fold_refuses_a_cell_it_cannot_multiply(settings):
    from dataclasses import replace

    from cosim.errors import NetlistError
    from cosim.netlist.spice import Element

    mn = load_macro(settings.netlists_dir / "sram_8x16.sp")
    array = find_bitcell_array(mn.netlist)
    ref = array.cells[-1].model  # a cell of a folded row
    cell = mn.netlist.subckt(ref)
    odd = replace(cell, elements=(*cell.elements, Element("R1", ("BL", "BR"), "1k")))
    with pytest.raises(NetlistError, match="cannot fold cell"):
        trim_netlist(mn.netlist.with_subckt(odd), make_plan(mn.macro))


def test_written_trim_parses_with_all_ports(macro_netlist, tmp_path):
    macro = macro_netlist.macro
    plan = make_plan(macro)
    path = write_trimmed(macro_netlist.netlist, plan, tmp_path)
    again = write_trimmed(macro_netlist.netlist, plan, tmp_path)
    assert path == again and path.parent == tmp_path / "trimmed"
    assert list((tmp_path / "trimmed").iterdir()) == [path]  # content-hashed, no temporaries left
    back = read_netlist(path, top=macro.name)
    assert back == trim_netlist(macro_netlist.netlist, plan)
    assert back.ports == macro.ports  # the top still instantiates with every port
    assert back.device_models() == macro_netlist.netlist.device_models()
    find_bitcell_array(back)  # the array is still found


@pytest.mark.spice
@pytest.mark.slow  # ~1 min of CPU: four ngspice runs of the tiny macro
def test_folded_matches_full_netlist_in_ngspice(settings, models, tmp_path):
    """sram_8x16 at tt/1.8 V/25 C, main and leakage decks (bench/characterize.py also compares min cycle and the
    row-switch deck, and the 256 B macro): the netlist a sweep simulates (array, bit slices and rows folded) and the
    full netlist agree within 3 % on every energy, access/write time and leakage (folding is exact up to the solver:
    ~0.02 % expected), and the same reads/writes succeed."""
    from cosim.characterize.plan import nominal_period_s
    from cosim.characterize.point import PointRequest, characterize_point
    from cosim.characterize.sweep import simulated_model_deck, simulated_netlist
    from cosim.types import Corner

    mn = load_macro(settings.netlists_dir / "sram_8x16.sp")
    plan = make_plan(mn.macro)
    corner = Corner("tt", 1.8, 25.0)
    results = {}
    for label, trim in (("untrimmed", False), ("trimmed", True)):
        sim = simulated_netlist(mn, plan, tmp_path, trim, fold_bits=trim, fold_rows=trim)
        deck, _ = simulated_model_deck(models, "tt", mn.macro.devices, sim.path.read_text(), tmp_path)
        req = PointRequest(plan=plan, corner=corner, netlist_path=sim.path, model_deck_path=deck,
                           period_s=nominal_period_s(mn.macro), run_dir=tmp_path / label, search_min_cycle=False,
                           check_row_switch=False, storage_cells=sim.storage_cells)  # fmt: skip
        results[label] = characterize_point(req).rows
    diffs = compare_rows(results["untrimmed"], results["trimmed"])
    assert {d["op"] for d in diffs} >= {"write_1to0", "write_0to1", "read_1", "read_0", "write_same", "idle", "leakage"}
    for d in diffs:
        assert d["status_untrimmed"] == d["status_trimmed"] == "ok", d
        assert math.isfinite(d["untrimmed"]) and abs(d["rel_diff"]) <= 0.03, d
    statuses = [{r.op: (r.status, r.bit_errors) for r in results[k]} for k in results]
    assert statuses[0] == statuses[1]


@pytest.mark.parametrize("trim, folded", [(None, True), (True, True), (False, False)])
def test_sweep_folds_by_default(settings, tmp_path, trim, folded):
    from cosim.characterize.sweep import simulated_netlist

    mn = load_macro(settings.netlists_dir / "sram_8x16.sp")
    plan = make_plan(mn.macro)
    sim = simulated_netlist(mn, plan, tmp_path, trim)
    path, sha, info = sim.path, sim.sha256, sim.info
    assert (info is not None) == folded
    if folded:
        assert path.parent == tmp_path / "trimmed" and info["cell_instances_after"] < info["cells_before"]
        assert sha != mn.macro.netlist_sha256 and sim.storage_cells == storage_nodes(read_netlist(path, top=mn.macro.name), plan)
        assert len(sim.storage_cells) == info["cell_instances_after"]
    else:
        # the whole netlist, as written back from its parsed cards (never the file's own bytes)
        assert path.parent == tmp_path / "netlists" and read_netlist(path, top=mn.macro.name) == mn.netlist
        assert sim.storage_cells == storage_nodes(mn.netlist, plan)
