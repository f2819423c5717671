"""Trimming the storage array: pure checks on the committed netlists, and one real ngspice comparison."""

from __future__ import annotations

import math
import re

import pytest

from cosim.characterize.plan import make_plan
from cosim.characterize.trim import compare_rows, trim_netlist, trim_summary, write_trimmed
from cosim.netlist import find_bitcell_array, load_macro, read_netlist

MACROS = ("sram_8x16", "sram_16x128", "sram_32x256")
_CELL = re.compile(r"^Xrow_(\d+)_col_(\d+)_bitcell$", re.I)


@pytest.fixture(scope="module", params=MACROS)
def macro_netlist(request, settings):
    return load_macro(settings.netlists_dir / f"{request.param}.sp")


def test_kept_cells_are_exactly_rows_union_cols(macro_netlist):
    plan = make_plan(macro_netlist.macro)
    rows, cols = plan.kept_rows_cols()
    full = macro_netlist.netlist
    trimmed = trim_netlist(full, plan)
    array = find_bitcell_array(full)
    kept = {(int(m[1]), int(m[2])) for e in trimmed.subckt(array.subckt).elements if (m := _CELL.match(e.name))}
    expected = {(c.row, c.col) for c in array.cells if c.row in rows or c.col in cols}
    assert kept == expected
    assert len(kept) < len(array.cells)  # something was removed
    # every cell the plans probe survives
    for a in (plan.address_a, plan.address_b):
        for b in range(macro_netlist.macro.word_size):
            assert plan.cell(a, b) in kept
    # straps: each kept one sits at a kept (row, col); none of the removed positions keeps one
    for e in trimmed.subckt(array.subckt).elements:
        m = re.match(r"^Xrow_(\d+)_col_(\d+)_wlstrap", e.name, re.I)
        if m:
            assert int(m[1]) in rows or int(m[2]) in cols
    # the surviving elements are the original ones, in the original order
    before = full.subckt(array.subckt).elements
    after = trimmed.subckt(array.subckt).elements
    it = iter(before)
    assert all(any(x == y for y in it) for x in after)
    s = trim_summary(full, trimmed)
    assert (s.cells_before, s.cells_after) == (len(array.cells), len(expected))


def test_other_subckts_unchanged(macro_netlist):
    full = macro_netlist.netlist
    trimmed = trim_netlist(full, make_plan(macro_netlist.macro))
    array = find_bitcell_array(full).subckt.lower()
    assert list(trimmed.subckts) == list(full.subckts)
    for name, sub in full.subckts.items():
        if name != array:
            assert trimmed.subckts[name] == sub
    assert trimmed.subckts[array].ports == full.subckts[array].ports
    assert (trimmed.cards, trimmed.elements, trimmed.models, trimmed.top) == (full.cards, full.elements, full.models, full.top)


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
@pytest.mark.slow  # 2-8 min on a loaded 2-core machine
def test_trimmed_matches_untrimmed_in_ngspice(settings, models, tmp_path):
    """sram_8x16 at tt/1.8 V/25 C, main deck (bench/characterize.py also compares the row-switch deck): trimmed and
    untrimmed agree within 3 % on every energy, access/write time and leakage, and the same reads/writes succeed."""
    from cosim.characterize.plan import nominal_period_s
    from cosim.characterize.point import PointRequest, characterize_point
    from cosim.pdk.reduce import build_reduced_deck, write_reduced_deck
    from cosim.types import Corner

    mn = load_macro(settings.netlists_dir / "sram_8x16.sp")
    plan = make_plan(mn.macro)
    corner = Corner("tt", 1.8, 25.0)
    deck = write_reduced_deck(build_reduced_deck(models, "tt", set(mn.macro.devices)), tmp_path)
    trimmed_path = write_trimmed(mn.netlist, plan, tmp_path)
    results, requests = {}, {}
    for label, sp in (("untrimmed", mn.sp_path.resolve()), ("trimmed", trimmed_path)):
        req = PointRequest(plan=plan, corner=corner, netlist_path=sp, model_deck_path=deck,
                           period_s=nominal_period_s(mn.macro), run_dir=tmp_path / label, search_min_cycle=False,
                           check_row_switch=False)  # fmt: skip
        requests[label] = req
        results[label] = characterize_point(req).rows
    # removing cells removes their leakage (measured -1.9 % here): a trimmed sweep takes leakage from the main deck on
    # the untrimmed netlist instead (test_untrimmed_leakage_deck_is_the_main_deck)
    untrimmed_leak = next(r["leakage_w"] for r in results["untrimmed"] if r["op"] == "leakage")
    trimmed_leak = next(r["leakage_w"] for r in results["trimmed"] if r["op"] == "leakage")
    assert trimmed_leak < untrimmed_leak
    diffs = compare_rows(results["untrimmed"], results["trimmed"])
    assert {d["op"] for d in diffs} >= {"write_1to0", "write_0to1", "read_1", "read_0", "write_same", "idle", "leakage"}
    for d in diffs:
        assert d["status_untrimmed"] == d["status_trimmed"], d
        assert d["status_untrimmed"] == "ok", d
        if isinstance(d["untrimmed"], float) and math.isfinite(d["untrimmed"]):
            assert abs(d["rel_diff"]) <= 0.03, d
    statuses = [{r["op"]: (r["status"], r.get("bit_errors")) for r in results[k]} for k in results]
    assert statuses[0] == statuses[1]


@pytest.mark.parametrize("name, auto", [("sram_8x16", False), ("sram_16x128", True)])
def test_auto_trim_only_where_it_removes_a_quarter(settings, tmp_path, name, auto):
    from cosim.characterize.sweep import simulated_netlist

    mn = load_macro(settings.netlists_dir / f"{name}.sp")
    plan = make_plan(mn.macro)
    for trim, expect in ((None, auto), (True, True), (False, False)):
        path, sha, info = simulated_netlist(mn, plan, tmp_path, trim)
        assert (info is not None) == expect
        if expect:
            assert path.parent == tmp_path / "trimmed" and info["cells_after"] < info["cells_before"]
            assert sha != mn.macro.netlist_sha256
        else:
            assert path == mn.sp_path.resolve() and sha == mn.macro.netlist_sha256


def test_untrimmed_leakage_deck_is_the_main_deck(settings, models, tmp_path):
    """The leakage deck of a trimmed point is, text for text, the untrimmed point's main deck (so its leakage is the
    untrimmed one), whatever period the main deck ran at."""
    from cosim.characterize.plan import main_sequence, nominal_period_s
    from cosim.characterize.point import LEAK_S, PointRequest, _spec
    from cosim.characterize.trim import untrimmed_leakage_spec
    from cosim.testbench import render_deck
    from cosim.types import Corner

    mn = load_macro(settings.netlists_dir / "sram_8x16.sp")
    plan = make_plan(mn.macro)
    deck = tmp_path / "models.sp"  # only its path enters the deck text
    base = dict(plan=plan, corner=Corner("ss", 1.6, 125.0), model_deck_path=deck, period_s=nominal_period_s(mn.macro),
                options=("method=gear",))  # fmt: skip
    trimmed = PointRequest(netlist_path=write_trimmed(mn.netlist, plan, tmp_path), **base)
    untrimmed = PointRequest(netlist_path=mn.sp_path.resolve(), **base)
    for period in (base["period_s"], 5.5e-9):
        _, spec = untrimmed_leakage_spec(trimmed, mn.sp_path.resolve(), period)
        assert render_deck(spec) == render_deck(_spec(untrimmed, main_sequence(plan), period, LEAK_S, untrimmed.options))
        assert str(trimmed.netlist_path) not in render_deck(spec)
