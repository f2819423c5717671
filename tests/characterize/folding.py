"""Shared by the folding tests: one sram_8x16 point (main deck and leakage, no min-cycle search, no row switch) on
a netlist folded a given way, and the comparison of two such points."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosim.types import Corner


def main_and_leakage(settings, models, corner: Corner, cache: Path, fold_bits: bool, fold_rows: bool) -> dict[str, dict]:
    """Rows by op of a point at 1.5x the nominal period on the array-folded netlist, bits/rows folded as asked."""
    from cosim.characterize.plan import make_plan, nominal_period_s
    from cosim.characterize.point import PointRequest, characterize_point
    from cosim.characterize.sweep import simulated_model_deck, simulated_netlist
    from cosim.netlist import load_macro

    mn = load_macro(settings.netlists_dir / "sram_8x16.sp")
    plan = make_plan(mn.macro)
    sim = simulated_netlist(mn, plan, cache, True, fold_bits=fold_bits, fold_rows=fold_rows)
    deck, _ = simulated_model_deck(models, corner.process, mn.macro.devices, sim.path.read_text(), cache)
    req = PointRequest(plan=plan, corner=corner, netlist_path=sim.path, model_deck_path=deck,
                       period_s=nominal_period_s(mn.macro) * 1.5, search_min_cycle=False, check_row_switch=False,
                       storage_cells=sim.storage_cells)  # fmt: skip
    return {r.op: r.as_dict() for r in characterize_point(req).rows}


def assert_same_numbers(reference: dict[str, dict], candidate: dict[str, dict], rel: float, rel_leakage: float) -> None:
    """Same ops, all ok, access times and energies within ``rel``, leakage within ``rel_leakage``."""
    assert candidate.keys() == reference.keys() and "leakage" in candidate
    for op, ref in reference.items():
        got = candidate[op]
        assert got["status"] == ref["status"] == "ok", (op, got, ref)
        for q, tol in (("access_time_s", rel), ("energy_j", rel), ("leakage_w", rel_leakage)):
            if q in ref and ref[q] == ref[q]:
                assert got[q] == pytest.approx(ref[q], rel=tol), (op, q)
