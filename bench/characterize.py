"""Characterization speed, from one run: seconds per ngspice deck and per point for a macro at one corner, the full
(untrimmed) netlist vs what a sweep simulates (array, bit slices and rows folded; and the 3 % agreement of every
measurement), the whole default sweep's time that follows (45 points, 2 at a time on 2 cores), the sweep's own
timings from a table's json provenance when there is one, and one small circuit with the whole sky130 library vs
cosim's reduced model deck. --compare picks other pairs (e.g. bits,rows: what row folding changes).

    python bench/characterize.py [--macro sram_8x16] [--corner tt,1.8,25] [--min-cycle] [--no-row-switch]
                                 [--compare full,rows] [--table characterization/]

Every number printed is measured in this run (or read from the table's provenance, said so); nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.pdk.circuits (the model-deck circuit)


#: the netlists a run can compare: (trim, fold_bits, fold_rows) of cosim.characterize.sweep.simulated_netlist
NETLISTS = {"full": (False, False, False), "folded": (True, False, False), "bits": (True, True, False),
            "rows": (True, True, True)}  # fmt: skip


def _point(sp_path: str, netlist: str, corner: tuple, min_cycle: bool, row_switch: bool, run_root: str) -> dict:
    """One point in this (worker) process, with the wall time of every ngspice run."""
    import cosim.characterize.point as point
    from cosim.characterize.plan import make_plan, nominal_period_s
    from cosim.characterize.sweep import simulated_model_deck, simulated_netlist
    from cosim.config import load_settings
    from cosim.netlist import load_macro
    from cosim.pdk.sky130 import locate_models
    from cosim.types import Corner

    settings = load_settings()
    mn = load_macro(sp_path)
    plan = make_plan(mn.macro)
    c = Corner(*corner)
    sim = simulated_netlist(mn, plan, settings.cache_dir, *NETLISTS[netlist])
    deck, _ = simulated_model_deck(locate_models(settings), c.process, mn.macro.devices, sim.path.read_text(),
                                   settings.cache_dir)  # fmt: skip
    decks: list[tuple[str, float]] = []
    original = point.run

    def timed(deck_text, run_dir=None, *args, **kwargs):
        r = original(deck_text, run_dir, *args, **kwargs)
        decks.append((run_dir.name if run_dir else "?", r.wall_s))
        return r

    point.run = timed
    try:
        req = point.PointRequest(plan=plan, corner=c, netlist_path=sim.path, model_deck_path=deck,
                                 period_s=nominal_period_s(mn.macro), run_dir=Path(run_root) / netlist,
                                 search_min_cycle=min_cycle, check_row_switch=row_switch,
                                 storage_cells=sim.storage_cells, threads=1)  # fmt: skip
        res = point.characterize_point(req)
    finally:
        point.run = original
    return {"rows": list(res.rows), "wall_s": res.wall_s, "decks": decks, "netlist": str(sim.path), "info": sim.info}


def _model_deck_run(full: bool) -> float:
    """ngspice seconds of tests/pdk/circuits.py's inverter chain + 6T latch (tt), whole library or reduced deck."""
    from cosim.config import load_settings
    from cosim.pdk.reduce import PFET_LATCH, PFET_PASS, build_reduced_deck, write_reduced_deck
    from cosim.pdk.sky130 import locate_models
    from cosim.sim import run_deck

    sys.path.insert(0, str(ROOT))
    from tests.pdk.circuits import DEVICES, STOP_S, chain_and_latch

    settings = load_settings()
    models = locate_models(settings)
    devices = (DEVICES - {PFET_PASS}) | {PFET_LATCH}  # the library's own pfet_pass wrapper fails in ngspice
    if full:
        line = f'.lib "{models.lib_file}" tt'
    else:
        line = f'.include "{write_reduced_deck(build_reduced_deck(models, "tt", devices), settings.cache_dir)}"'
    return run_deck(chain_and_latch(line, pullup=PFET_LATCH), expect_stop_s=STOP_S).wall_s


def _setup_run(main_deck: str, sp_path: str, process: str, netlist: str, prune_params: bool) -> float:
    """ngspice seconds of a point's main deck cut to a 2 ps transient (its set-up: parsing, expanding, binding),
    with the sweep's model deck (bins and unused parameters pruned) or with the bins pruned only."""
    import re

    from cosim.config import load_settings
    from cosim.netlist import load_macro
    from cosim.pdk import reduce
    from cosim.pdk.sky130 import locate_models
    from cosim.sim import run_deck

    settings = load_settings()
    text = Path(netlist).read_text()
    whole = reduce.build_reduced_deck(locate_models(settings), process, set(load_macro(sp_path).macro.devices))
    deck = reduce.prune_bins(whole, reduce.device_sizes(text))
    if prune_params:
        deck = reduce.prune_params(deck, text)
    path = reduce.write_reduced_deck(deck, settings.cache_dir)
    cut = re.sub(r'(?m)^\.include "[^"]*/models/[^"]*"$', f'.include "{path}"', main_deck)
    cut = re.sub(r"(?m)^\.tran .*$", ".tran 1e-12 2e-12 uic", cut)
    return run_deck(cut, expect_stop_s=2e-12).wall_s


def _ngspice_seconds_by_deck(runs: Path) -> dict[str, tuple[int, float]]:
    """Deck kind (min_cycle, main, leakage, row_switch, read_retry) -> (runs, seconds) from the "Total elapsed time"
    every ngspice log of a sweep's run folder (<cache>/runs/<macro>/<corner>/<deck>/ngspice.log) reports."""
    import re

    out: dict[str, tuple[int, float]] = {}
    for log in runs.glob("*/*/**/ngspice.log"):
        found = re.search(r"Total elapsed time \(seconds\) = ([\d.]+)", log.read_text(errors="replace"))
        if found:
            kind = re.sub(r"_\d+ps$", "", log.relative_to(runs).parts[1])
            n, secs = out.get(kind, (0, 0.0))
            out[kind] = (n + 1, secs + float(found.group(1)))
    return out


def _fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) and math.isfinite(x) else str(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--macro", default="sram_8x16")
    parser.add_argument("--corner", default="tt,1.8,25", help="process,vdd,temp")
    parser.add_argument("--min-cycle", action="store_true", help="include the min-cycle bisection (~6 more decks)")
    parser.add_argument("--no-row-switch", action="store_true", help="skip the row-switch deck")
    parser.add_argument("--no-model-deck", action="store_true", help="skip the full-library vs reduced-deck line")
    parser.add_argument("--table", type=Path, default=ROOT / "characterization", help="folder with <macro>.json")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/cosim-bench-characterize"))
    parser.add_argument("--compare", default="full,rows",
                        choices=["full,folded", "folded,bits", "full,bits", "bits,rows", "full,rows"],
                        help="reference,candidate netlists: full (committed), folded (storage array folded: --no-fold-"
                             "bits), bits (and the alike bit slices: --no-fold-rows), rows (and the alike rows: the "
                             "sweep's default)")
    args = parser.parse_args()

    from cosim.characterize.trim import compare_rows

    p, v, t = args.corner.split(",")
    corner = (p.strip(), float(v), float(t))
    sp = ROOT / "netlists" / f"{args.macro}.sp"
    ref_name, new_name = args.compare.split(",")
    # n_jobs=1: joblib runs both points here, one after the other (no contention between them)
    untrimmed, trimmed = Parallel(n_jobs=1, backend="loky")(
        delayed(_point)(str(sp), name, corner, args.min_cycle, not args.no_row_switch, str(args.runs / args.macro))
        for name in (ref_name, new_name)
    )
    import os

    print(f"{args.macro} at {p}/{v} V/{t} C (ngspice, the decks run one after the other; 1-min load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other work on the machine skews the ratios)")  # fmt: skip
    info = trimmed["info"] or {}
    if "devices_after" in info:
        print(f"  {new_name}: {info['devices_before']} -> {info['devices_after']} devices, bits folded (bit: its "
              f"representative) {info['bits_folded']}")  # fmt: skip
    print(f"  {'deck':<24}{ref_name + ' s':>12}{new_name + ' s':>12}{'ratio':>8}")
    tri = dict(trimmed["decks"])
    for name, secs in untrimmed["decks"]:
        other = tri.get(name, math.nan)
        print(f"  {name:<24}{secs:>12.2f}{other:>12.2f}{secs / other:>8.2f}")
    u, w = untrimmed["wall_s"], trimmed["wall_s"]
    print(f"  {'point (all decks)':<24}{u:>12.2f}{w:>12.2f}{u / w:>8.2f}   (speed-up {ref_name}/{new_name})")
    print(f"  default sweep (45 points, 2 in parallel on 2 cores, one thread each): {ref_name} ~{45 * u / 2 / 60:.0f} min, "
          f"{new_name} ~{45 * w / 2 / 60:.0f} min (target for the 1 KB macro: 15 min)"
          + ("" if args.min_cycle else "; without the min-cycle search: add --min-cycle for the real point"))

    diffs = compare_rows(tuple(untrimmed["rows"]), tuple(trimmed["rows"]))
    print(f"  {'measurement':<30}{ref_name:>11}{new_name:>13}   rel.diff  status ({ref_name}/{new_name})")
    worst = 0.0
    for d in diffs:
        rel = d["rel_diff"]
        if math.isfinite(rel) and d["op"] != "row_switch":
            worst = max(worst, abs(rel))
        print(f"  {d['op'] + ' ' + d['column']:<30}{_fmt(d['untrimmed']):>11}{_fmt(d['trimmed']):>13}"
              f"{rel * 100:>9.2f}%  {d['status_untrimmed']}/{d['status_trimmed']}")  # fmt: skip
    same = [(r.op, r.status) for r in untrimmed["rows"]] == [(r.op, r.status) for r in trimmed["rows"]]
    print(f"  max |rel.diff| (row_switch excluded: a hazard check) = {worst * 100:.2f}%  "
          f"({'within' if worst <= 0.03 else 'OUTSIDE'} 3 %); same statuses: {same}")  # fmt: skip

    prov = args.table / f"{args.macro}.json"
    if prov.is_file():
        d = json.loads(prov.read_text())
        walls = [pt["wall_s"] for pt in d.get("points", {}).values() if pt.get("wall_s") is not None]
        line = f"table {prov} (provenance): {len(walls)} points"
        if walls:
            line += (f", seconds per point mean {statistics.mean(walls):.1f} / median {statistics.median(walls):.1f}"
                     f" / max {max(walls):.1f}, sum {sum(walls):.0f} s")  # fmt: skip
        if d.get("wall_s") is not None:
            line += f", sweep wall time {d['wall_s']:.0f} s ({d.get('simulated_points', '?')} points simulated in it)"
        else:
            line += ", sweep wall time not recorded in this table's provenance"
        retries = [r["wall_s"] for r in d.get("read_retries", {}).values() if r.get("wall_s") is not None]
        line += f", read retries {len(retries)} ({sum(retries):.0f} s)"
        line += f", trimmed: {d.get('trimmed', 'not recorded')}"
        print(line)
    else:
        print(f"table: no {prov}; no sweep timings to show")
    from cosim.config import load_settings

    sweep_runs = load_settings().cache_dir / "runs" / args.macro
    by_deck = _ngspice_seconds_by_deck(sweep_runs)
    if by_deck:
        total = sum(secs for _, secs in by_deck.values())
        parts = ", ".join(f"{kind} {n} runs {secs:.0f} s ({secs / total:.0%})"
                          for kind, (n, secs) in sorted(by_deck.items(), key=lambda kv: -kv[1][1]))  # fmt: skip
        print(f"ngspice time of the last sweep's runs ({sweep_runs}, the last run of each deck): {total:.0f} s: {parts}")

    main_deck = args.runs / args.macro / new_name / "main" / "deck.sp"
    if main_deck.is_file():
        bins, both = (min(_setup_run(main_deck.read_text(), str(sp), p, trimmed["netlist"], pp) for _ in range(2))
                      for pp in (False, True))  # fmt: skip
        print(f"set-up of {new_name}'s main deck (a 2 ps transient, best of 2): model bins pruned {bins:.2f} s, bins "
              f"and unused parameters pruned (the sweep's) {both:.2f} s, ratio {bins / both:.1f}x; a point runs ~8 decks")  # fmt: skip

    if not args.no_model_deck:
        start = time.perf_counter()
        full, reduced = Parallel(n_jobs=1, backend="loky")(delayed(_model_deck_run)(f) for f in (True, False))
        print(f"model deck (inverter chain + 6T latch, tt, one ngspice run each): whole sky130 library {full:.2f} s, "
              f"reduced deck {reduced:.2f} s, ratio {full / reduced:.1f}x  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
