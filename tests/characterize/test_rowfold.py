"""Row folding (cosim.characterize.rowfold): the accessed rows stay, alike rows fold with their total multiplicity
kept device type by device type, the unused lines are decoder inputs the accessed rows do not use, a row that
differs is never folded, and (real ngspice) a point on the row-folded netlist measures what the bit-folded one does."""

from __future__ import annotations

import collections
import dataclasses

import pytest

from cosim.characterize import bitfold, rowfold
from cosim.characterize.plan import make_plan
from cosim.characterize.trim import storage_nodes, trim_netlist
from cosim.netlist import load_macro


@pytest.fixture(scope="module", params=["sram_8x16", "sram_32x256"])
def bits(request, settings):
    mn = load_macro(settings.netlists_dir / f"{request.param}.sp")
    plan = make_plan(mn.macro)
    netlist = trim_netlist(mn.netlist, plan)
    return plan, bitfold.fold_bits(netlist, plan, storage_nodes(netlist, plan))


def _multiplicity(elements) -> collections.Counter:
    total: collections.Counter = collections.Counter()
    for e in elements:
        if e.kind == "X":
            p = {k.lower(): v for k, v in e.params}
            total[(e.ref.lower(), p.get("w"), p.get("l"))] += float(p.get("m", 1)) * float(p.get("mult", 1))
    return total


def _word_lines_of(netlist, nodes: set[str]) -> set[str]:
    """The gate nets of the access devices that connect to these storage nodes (those of kept bit slices)."""
    return {e.nodes[1] for e in netlist.top_subckt.elements
            if e.ref and e.ref.lower() == rowfold.ACCESS_DEVICE and nodes & set(e.nodes)}  # fmt: skip


def test_rows_fold_with_their_multiplicity_and_the_accessed_rows_stay(bits):
    plan, fold = bits
    rows = rowfold.fold_rows(fold.netlist, plan, fold.storage_cells)
    assert rows.devices_after < rows.devices_before == fold.devices_after
    before, after = fold.netlist.top_subckt.elements, rows.netlist.top_subckt.elements
    assert _multiplicity(before) == _multiplicity(after)
    # ties and the storage cells the sequences set are all still there
    assert [e for e in before if e.kind != "X"] == [e for e in after if e.kind != "X"]
    assert rows.storage_cells == fold.storage_cells
    prefix = plan.instance.lower() + "."
    accessed = _word_lines_of(fold.netlist, {q[len(prefix):] for a in (plan.address_a, plan.address_b)
                                             for q in plan.word_nodes(a)})  # fmt: skip
    assert len(accessed) == 2 and not accessed & (set(rows.representative) | set(rows.representative.values()))
    # an unused line feeds no device of an accessed row, and only gates of anything left
    accessed_nets = {n for e in before if e.kind == "X" and set(e.nodes) & accessed for n in e.nodes}
    for line in rows.unused_lines:
        on = [e for e in before if line in e.nodes]
        assert len(on) >= 2 and line not in accessed_nets
        assert sum(e.nodes[1] == line for e in on) >= 2


def test_a_row_that_differs_is_not_folded(bits):
    plan, fold = bits
    rows = rowfold.fold_rows(fold.netlist, plan, fold.storage_cells)
    folded_line, rep = next(iter(rows.representative.items()))
    # widen the word-line driver of one folded row: it is no longer like its representative, so it stays
    elements = list(fold.netlist.top_subckt.elements)
    k = next(i for i, e in enumerate(elements) if e.kind == "X" and folded_line in e.nodes[:1])
    elements[k] = dataclasses.replace(elements[k], params=tuple((n, "9" if n.lower() == "w" else v)
                                                                for n, v in elements[k].params))  # fmt: skip
    top = dataclasses.replace(fold.netlist.top_subckt, elements=tuple(elements))
    changed = rowfold.fold_rows(fold.netlist.with_subckt(top), plan, fold.storage_cells)
    assert folded_line not in changed.representative
    assert changed.devices_after > rows.devices_after


@pytest.mark.spice
def test_row_folded_point_measures_what_the_bit_folded_one_does(settings, models, tmp_path):
    """Real ngspice, sram_8x16 at ss/1.6 V/125 C (main deck and leakage): every number of the row-folded netlist
    within 1e-3 of the bit-folded one's, leakage within 1e-2 (the unused lines lose the removed rows' gate load)."""
    from cosim.types import Corner
    from tests.characterize.folding import assert_same_numbers, main_and_leakage

    corner = Corner("ss", 1.6, 125.0)
    bits = main_and_leakage(settings, models, corner, tmp_path, fold_bits=True, fold_rows=False)
    rows = main_and_leakage(settings, models, corner, tmp_path, fold_bits=True, fold_rows=True)
    assert_same_numbers(bits, rows, rel=1e-3, rel_leakage=1e-2)
