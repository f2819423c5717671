"""ngspice 39 (the system's) vs a newer ngspice with KLU, on one real cosim main deck: wall time and every measurement.

    python bench/ngspice_klu.py --ngspice46 /path/to/ngspice [--macro sram_32x256] [--corner tt,1.8,25]

Renders the main deck cosim's sweep runs for the corner (the folded netlist, the reduced model deck, cosim's
initial conditions; the period of the committed table's row for that corner), then runs it with

  39           the system ngspice (cosim's tables are keyed by its version), as rendered
  39 caps      the same, each `.ic v(node)=V` replaced by a 1 aF capacitor node-ground with IC=V (uic honours it)
  new          the other ngspice, its default (Sparse) solver, as rendered
  new caps     the other ngspice, Sparse, capacitor form
  new klu      `.options klu`, as rendered (KLU refuses `.ic` on a node whose diagonal matrix element does not exist:
               ngspice's CKTic can only *find* elements in KLU mode, it cannot create them after setup)
  new klu caps `.options klu`, capacitor form
  klu caps 2t  the same with `set num_threads=2`

and measures each result with cosim's own code (cosim.characterize.point._check_cycle): every access time and
energy, relative to ngspice 39 as rendered. One ngspice run at a time. Writes only under --out (out/ngspice-klu).
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_IC = re.compile(r"v\(([^)]+)\)\s*=\s*(\S+)", re.I)


def caps_form(deck: str) -> tuple[str, int]:
    """Each `.ic v(n)=V` -> `c_ic_<k> n 0 1e-18 ic=V`."""
    out, k = [], 0
    for line in deck.splitlines():
        if line.lower().startswith(".ic "):
            for node, volts in _IC.findall(line):
                k += 1
                out.append(f"c_ic_{k} {node} 0 1e-18 ic={volts}")
        else:
            out.append(line)
    return "\n".join(out) + "\n", k


def with_klu(deck: str) -> str:
    return re.sub(r"^(\.temp .*)$", r"\1\n.options klu", deck, count=1, flags=re.M)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ngspice46", required=True, help="the newer ngspice executable (a wrapper setting SPICE_LIB_DIR is fine)")
    ap.add_argument("--ngspice39", default="ngspice")
    ap.add_argument("--macro", default="sram_32x256")
    ap.add_argument("--corner", default="tt,1.8,25")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "ngspice-klu")
    ap.add_argument("--only", default="", help="comma list of variant names to run (default: all)")
    args = ap.parse_args()

    from cosim.characterize.plan import main_sequence
    from cosim.characterize.point import _check_cycle, _spec
    from cosim.characterize.sweep import sweep_setup
    from cosim.config import load_settings
    from cosim.netlist import load_macro
    from cosim.sim import SimError, SimOptions, run_deck, ngspice_version
    from cosim.testbench import render_deck, stop_time_s
    from cosim.types import Corner

    process, vdd, temp = args.corner.split(",")
    corner = Corner(process, float(vdd), float(temp))
    out = args.out.resolve()
    settings = replace(load_settings(), cache_dir=out / "cache")  # folded netlist and model deck under out/
    setup = sweep_setup(load_macro(settings.netlists_dir / f"{args.macro}.sp"), settings, [corner.process])
    period = setup.period_s
    with open(ROOT / "characterization" / f"{args.macro}.csv") as f:
        for r in csv.DictReader(f):
            if (r["process"], float(r["vdd_v"]), float(r["temp_c"]), r["op"]) == (corner.process, corner.vdd_v, corner.temp_c, "read_1"):
                period = float(r["period_s"])
    req = setup.request(corner)
    seq = main_sequence(req.plan)
    spec = _spec(req, seq, period, 0.0, ())
    deck = render_deck(spec)
    caps, n_ic = caps_form(deck)
    stop = stop_time_s(spec)
    v39, v46 = ngspice_version(args.ngspice39), ngspice_version(args.ngspice46)
    variants = [
        ("39", args.ngspice39, deck, 1),
        ("39 caps", args.ngspice39, caps, 1),
        ("46", args.ngspice46, deck, 1),
        ("46 caps", args.ngspice46, caps, 1),
        ("46 klu", args.ngspice46, with_klu(deck), 1),
        ("46 klu caps", args.ngspice46, with_klu(caps), 1),
        ("46 klu caps 2t", args.ngspice46, with_klu(caps), 2),
    ]
    if args.only:
        keep = {v.strip() for v in args.only.split(",")}
        variants = [v for v in variants if v[0] in keep or v[0] == "39"]
    import json

    meta = json.loads((ROOT / "characterization" / f"{args.macro}.json").read_text())
    same_netlist = setup.simulated.sha256 == meta.get("trimmed_netlist_sha256")
    same_models = setup.decks[corner.process][1].models_sha256 == meta["models"]["decks_sha256"].get(corner.process)
    print(f"simulated netlist and model deck are the committed table's (sha256): netlist {same_netlist}, models {same_models}")
    print(f"{args.macro} main deck at {corner.process}/{corner.vdd_v} V/{corner.temp_c:g} C, period {period * 1e9:.4g} ns, "
          f"stop {stop * 1e9:.4g} ns, {len(spec.initial_conditions)} .ic nodes ({n_ic} capacitors in the caps form), "
          f"netlist {setup.simulated.path.name}; 39 = {v39}, 46 = {v46}")
    results = {}
    for name, exe, text, threads in variants:
        run_dir = out / args.macro / name.replace(" ", "_")
        try:
            r = run_deck(text, run_dir, stop, SimOptions(executable=exe, threads=threads))
        except SimError as exc:
            msg = [l.strip() for l in (exc.stdout + "\n" + exc.stderr).splitlines()
                   if re.search(r"error|warning: the needed|cannot create", l, re.I)][:3]
            results[name] = {"error": str(exc).split(" (deck")[0], "lines": msg}
            print(f"  {name:<15} FAILED: {results[name]['error']}; {' | '.join(msg)}")
            continue
        rows = {m.op: _check_cycle(req, spec, r, m) for m in seq[1]}
        steps = re.search(r"Accepted timepoints\s*=\s*(\d+)", r.stdout) or re.search(r"Accepted timepoints\s*=\s*(\d+)", r.stderr)
        results[name] = {"wall_s": r.wall_s, "rows": rows, "steps": int(steps.group(1)) if steps else None}
        print(f"  {name:<15} {r.wall_s:7.1f} s  " + ", ".join(
            f"{op} {row.status}" for op, row in rows.items() if row.status != "ok") or "all ok")

    base = results.get("39", {}).get("rows")
    print()
    header = f"{'variant':<15} {'wall s':>7} {'vs 39':>6}  " + "  ".join(f"{c:>13}" for c in (
        "max|d access|", "max|d energy|")) + "   per measurement (relative to 39)"
    print(header)
    for name, res in results.items():
        if "error" in res:
            print(f"{name:<15} {'-':>7} {'-':>6}  failed: {res['error']}")
            continue
        speed = results["39"]["wall_s"] / res["wall_s"] if "39" in results and "wall_s" in results["39"] else math.nan
        parts, da, de = [], [], []
        for op, row in res["rows"].items():
            b = base[op]
            for col, acc in (("access_time_s", da), ("energy_j", de)):
                x, y = getattr(row, col), getattr(b, col)
                if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
                    continue
                d = (x - y) / y
                acc.append(abs(d))
                parts.append(f"{op}.{'t' if col == 'access_time_s' else 'E'} {d * 100:+.3f}%")
        print(f"{name:<15} {res['wall_s']:7.1f} {speed:5.2f}x  {max(da, default=math.nan) * 100:12.3f}%  "
              f"{max(de, default=math.nan) * 100:12.3f}%   " + ", ".join(parts))
    print()
    def value(op, row) -> str:
        t = f" t={row.access_time_s * 1e9:.4f} ns" if row.access_time_s is not None else ""
        e = f" E={row.energy_j * 1e12:.4f} pJ" if row.energy_j is not None else ""
        return op + t + e

    print("39 values: " + ", ".join(value(op, row) for op, row in base.items()) if base else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
