"""Real ngspice runs of the tiny macro: data read back, ff faster than ss, positive energies and leakage; the
minimum-cycle search brackets a real pass/fail boundary; the row-switch hazard is reported, not hidden."""

from __future__ import annotations

import pytest
from joblib import Parallel, delayed

from cosim.characterize.plan import make_plan, nominal_period_s
from cosim.characterize.point import PointRequest, characterize_point
from cosim.netlist import load_macro
from cosim.types import Corner

pytestmark = pytest.mark.spice


def _request(settings, models, corner: Corner, **kw) -> PointRequest:
    """What a sweep simulates (its own netlist step): the folded netlist (array, bit slices, rows), every storage cell
    at a definite value."""
    from cosim.characterize.sweep import simulated_model_deck, simulated_netlist

    macro = load_macro(settings.netlists_dir / "sram_8x16.sp")
    plan = make_plan(macro.macro)
    sim = simulated_netlist(macro, plan, settings.cache_dir, True, fold_bits=True, fold_rows=True)
    deck, _ = simulated_model_deck(models, corner.process, macro.macro.devices, sim.path.read_text(),
                                   settings.cache_dir)  # fmt: skip
    kw.setdefault("period_s", nominal_period_s(macro.macro))
    return PointRequest(plan=plan, corner=corner, netlist_path=sim.path, model_deck_path=deck,
                        storage_cells=sim.storage_cells, **kw)  # fmt: skip


def _rows(result) -> dict[str, dict]:
    return {row.op: row for row in result.rows}


def test_tiny_macro_at_two_corners(settings, models):
    # 6 ns: long enough at ss (the nominal 4 ns is not; the sweep's min-cycle search finds that itself)
    reqs = [_request(settings, models, Corner(p, 1.8, 25.0), search_min_cycle=False, check_row_switch=False, period_s=6e-9)
            for p in ("ff", "ss")]  # fmt: skip
    ff, ss = (_rows(r) for r in Parallel(n_jobs=2, backend="loky")(delayed(characterize_point)(q) for q in reqs))
    for rows in (ff, ss):
        for op in ("read_0", "read_1", "write_0to1", "write_1to0", "write_same"):
            assert rows[op].status == "ok", rows[op]
            assert rows[op].bit_errors == 0 and rows[op].bits_checked == 8
            assert rows[op].energy_j > 0
        assert rows["idle"].energy_j > 0
        assert rows["leakage"].leakage_w > 0
        # a write flipping every bit costs more than rewriting the same value
        assert rows["write_0to1"].energy_j > rows["write_same"].energy_j
    for op in ("read_1", "read_0", "write_1to0", "write_0to1"):
        assert 0 < ff[op].access_time_s < ss[op].access_time_s, op
    for rows in (ff, ss):  # docs/timing.md: each read timed from the edge that launches it, valid by the next edge
        assert (rows["read_1"].timed_from, rows["read_0"].timed_from) == ("clk_fall", "clk_rise")
        assert 6e-9 / 2 + rows["read_1"].access_time_s <= 6e-9 and rows["read_0"].access_time_s < 6e-9
        assert 0 < rows["read_0"].slew_s < rows["read_1"].slew_s < 6e-9  # dout's 1 rises slowly (no output buffer)
    assert ff["leakage"].leakage_w > ss["leakage"].leakage_w  # fast devices leak more


def test_row_switch_hazard_is_measured(settings, models):
    """Write one row and read another in the very next cycle: SPICE shows the new row's word line glitching on
    while the old enable is still high, so the read row is overwritten (see cosim/characterize/plan.py)."""
    from cosim.characterize.plan import row_switch_sequence
    from cosim.characterize.point import _check_cycle, _run, _spec

    req = _request(settings, models, Corner("tt", 1.8, 25.0))
    seq = row_switch_sequence(req.plan)
    spec = _spec(req, seq, req.period_s, 0.0, ())
    r, _, spec = _run(req, spec, "row_switch", {"runs": 0, "retries": 0})
    (hazard,) = (_check_cycle(req, spec, r, m) for m in seq[1])
    # measured on sram_8x16 at tt/1.8/25: every bit of the read row is overwritten with the written data
    assert hazard.status == "failed" and hazard.bit_errors == 8, hazard
    assert "expected 0x0" in hazard.message


def test_min_cycle_search_brackets_pass_and_fail(settings, models):
    from cosim.characterize.point import _passes

    req = _request(settings, models, Corner("tt", 1.8, 25.0))
    counters, decks = {"runs": 0, "retries": 0}, {}
    ok, reference = _passes(req, req.period_s, counters, decks)
    assert ok and 0 < reference < req.period_s / 2  # the read's clk fall -> dout rise, within the half period
    assert not _passes(req, req.period_s / 4, counters, decks, reference)[0]  # 1 ns: the word line never opens long enough
    assert counters["runs"] == 2 and "min_cycle" in decks


def test_trailing_cycle_is_cut_without_changing_a_measurement(settings, models):
    """A min-cycle deck stops a tenth into its unmeasured trailing cycle (the read is sampled just after that
    cycle's edge): every measured number is the one the whole-cycle deck gives, bit for bit."""
    from dataclasses import replace

    from cosim.characterize.plan import min_cycle_sequence
    from cosim.characterize.point import _check_cycle, _run, _spec
    from cosim.testbench import stop_time_s

    req = _request(settings, models, Corner("ss", 1.8, 25.0), period_s=6e-9)
    seq = min_cycle_sequence(req.plan)
    cut = _spec(req, seq, req.period_s, 0.0, ())
    whole = replace(cut, last_cycle_fraction=1.0)
    assert stop_time_s(whole) - stop_time_s(cut) == pytest.approx(0.9 * req.period_s)
    rows = []
    for spec in (cut, whole):
        r, _, spec = _run(req, spec, "min_cycle", {"runs": 0, "retries": 0})
        assert r.time_s[-1] == pytest.approx(stop_time_s(spec))
        rows.append([_check_cycle(req, spec, r, m) for m in seq[1]])
    assert rows[0] == rows[1]
    assert [row.status for row in rows[0]] == ["ok", "ok"] and all(row.bits_checked == 8 for row in rows[0])

