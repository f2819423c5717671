"""The bit-error (BER) table beside a macro's table: ``characterization/montecarlo/<macro>.csv`` + ``.json``.

Tidy rows, one per corner and operation, from the column Monte Carlo of cosim.characterize.montecarlo: plain
Monte Carlo failures over bits with the Clopper-Pearson interval, the margin's normal-tail estimate with its
bootstrap interval, and the margin's mean and sigma. A corner runs at the clock the macro's committed table ran it
at (montecarlo.table_period_s), so only corners that table holds can be run.

Keys, as for the macro tables (docs/characterization-store.md): a sample is cached by its key (its deck with the
netlist's and model deck's paths replaced by their hashes, its seed, the measurement version) in a folder per
ngspice version, so an interrupted run resumes losing at most the samples in flight. A corner's key hashes its
sample keys, the ngspice version and the statistics settings; a corner the table holds under the key computed now
is kept as it is, not recomputed. A sample the simulator did not complete (cosim.sim.SimError) is never a result:
its corner is not written and is reported. The table is written whole (temporary files renamed into place) under
the lock beside it, re-read there, so the corners another run wrote meanwhile are kept.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cosim import __version__
from cosim.characterize.committed import corner_order, table_lock, write_synced
from cosim.characterize.integrity import read_verified
from cosim.characterize.montecarlo import (MC_MEASUREMENT_VERSION, McSetup, SampleRequest, SampleResult,
                                           clopper_pearson, mc_setup, run_sample, sample_key, sample_requests,
                                           table_period_s, tail_estimate)  # fmt: skip
from cosim.config import Settings
from cosim.errors import CornerError, TableIntegrityError
from cosim.pdk.mismatch import sample_seed
from cosim.sim import SimError, SimOptions
from cosim.table import CharacterizationTable
from cosim.types import Corner

#: bump when the table's layout or the way rows are made from samples changes (the corner key holds it)
TABLE_VERSION = 3
CONFIDENCE = 0.95
#: the tail estimate's bootstrap: resamples of whole samples, and its generator's seed (fixed: same samples, same
#: figures)
RESAMPLES = 400
BOOTSTRAP_SEED = 0

#: op -> (the sample's op it comes from, what counts as a failure, the margin's attribute, its unit)
OPS: dict[str, tuple[str, str, str, str]] = {
    "write_0to1": ("write_0to1", "failed", "margin", "s"),
    "write_1to0": ("write_1to0", "failed", "margin", "s"),
    "read_0": ("read_0", "wrong_data", "margin", "V"),
    "read_1": ("read_1", "wrong_data", "margin", "V"),
    "read_disturb_0": ("read_0", "flipped", "disturb_v", "V"),
    "read_disturb_1": ("read_1", "flipped", "disturb_v", "V"),
}
COLUMNS = ("macro", "process", "vdd_v", "temp_c", "op", "period_s", "samples", "bits", "excluded", "failures",
           "sense_failures", "rate", "rate_lo", "rate_hi",
           "tail_rate", "tail_lo", "tail_hi", "margin_mean", "margin_sigma", "margin_unit", "censored",
           "status", "message", "key")  # fmt: skip
STATUSES = ("ok", "no_tail")
#: the ops whose failures can be the sense amp's: wrong data although the bit lines were right at sense enable
SENSED = ("read_0", "read_1")
_FIX = "restore it (git checkout) or re-run `cosim characterize --monte-carlo` for that macro"
_DTYPES = {"macro": str, "process": str, "op": str, "margin_unit": str, "status": str, "message": object, "key": str}


def mc_table_path(characterization_dir: Path, macro: str) -> Path:
    return Path(characterization_dir) / "montecarlo" / f"{macro}.csv"


def _fail(path: Path, what: str) -> TableIntegrityError:
    return TableIntegrityError(f"{path}: {what}: {_FIX}")


def read_mc_table(csv_path: Path) -> tuple[str, pd.DataFrame, dict]:
    """The BER table at ``csv_path`` and its provenance, after checking the CSV against the sha256 and row count the
    .json records and every row against what a Monte Carlo can give. Raises TableIntegrityError (one line)."""
    csv_path = Path(csv_path)
    text, prov = read_verified(csv_path, _fail)
    if prov.get("table_version") != TABLE_VERSION:
        raise TableIntegrityError(f"{csv_path}: written as BER table version {prov.get('table_version')}, this cosim "
                                  f"reads version {TABLE_VERSION}: move it aside and re-run `cosim characterize "
                                  f"--monte-carlo` at its corners (cached samples are not simulated again)")  # fmt: skip
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=_DTYPES)
    except (ValueError, pd.errors.ParserError) as exc:
        raise _fail(csv_path, f"unreadable CSV ({str(exc).splitlines()[0]})") from None
    check_mc_rows(frame, csv_path, prov.get("word_size"))
    return text, frame, prov


def check_mc_rows(frame: pd.DataFrame, path: Path, word_size: int | None = None) -> None:
    """Refuse rows no Monte Carlo can give: unknown ops or units, counts that do not add up (with ``word_size``:
    bits + excluded = samples x word size), a rate outside its interval, probabilities outside [0, 1]."""
    if tuple(frame.columns) != COLUMNS:
        raise _fail(path, f"columns {list(frame.columns)[:6]}... are not a BER table's")
    if frame.empty:
        return

    def first(mask, what: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            r = frame[mask].iloc[0]
            raise _fail(path, f"{r['process']} {r['vdd_v']} V {r['temp_c']} C {r['op']}: {what}")

    def num(name: str) -> np.ndarray:
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(float)

    first(~frame.op.isin(list(OPS)), "unknown op")
    first(frame.margin_unit != frame.op.map(lambda op: OPS.get(op, ("", "", "", ""))[3]), "wrong margin unit")
    first(~frame.status.isin(STATUSES), "unknown status")
    samples, bits, failures, censored = num("samples"), num("bits"), num("failures"), num("censored")
    excluded = num("excluded")
    first(~(samples >= 1) | ~(bits >= 1) | ~(excluded >= 0), "no samples or bits, or negative excluded")
    if word_size:
        first(bits + excluded != samples * int(word_size), f"bits + excluded is not samples x {word_size} bits")
    first(~(failures >= 0) | ~(failures <= bits), "failures outside 0..bits")
    first(~(censored >= 0) | ~(censored <= failures), "censored margins outside 0..failures")
    sense = num("sense_failures")
    first(~(sense >= 0) | ~(sense <= failures), "sense_failures outside 0..failures")
    first(~frame.op.isin(list(SENSED)).to_numpy() & (sense != 0), "sense_failures on an op that is not a read")
    rate, lo, hi = num("rate"), num("rate_lo"), num("rate_hi")
    first(~np.isclose(rate, failures / bits, rtol=1e-5, atol=0), "rate is not failures / bits")
    first(~((lo >= 0) & (lo <= rate * (1 + 1e-5)) & (rate <= hi * (1 + 1e-5)) & (hi <= 1)),
          "rate outside its interval or the interval outside [0, 1]")  # fmt: skip
    tail, tlo, thi = num("tail_rate"), num("tail_lo"), num("tail_hi")
    fitted = frame.status.to_numpy() == "ok"
    first(fitted & ~((tlo >= 0) & (tlo <= tail * (1 + 1e-5)) & (tail <= thi * (1 + 1e-5)) & (thi <= 1)),
          "tail estimate outside its interval or the interval outside [0, 1]")  # fmt: skip
    first(fitted & ~(num("margin_sigma") >= 0), "negative or missing margin sigma")
    first(~(num("period_s") > 0) | ~(num("period_s") < 1e-6), "period_s outside (0, 1 us)")
    first(frame.duplicated(["process", "vdd_v", "temp_c", "op"]).to_numpy(), "a second row of the same op")


def op_rows(macro: str, corner: Corner, period_s: float, samples: tuple[SampleResult, ...], key: str) -> list[dict]:
    """The table's rows of one corner from its samples (pure).

    A write is judged only where the cell held the old value when it began: a passing write with no margin had no
    flip to time (the cell had already flipped earlier in the run), so it is ``excluded``, not a pass. A read
    passing with no margin (no sense enable found) is counted but not fitted."""
    rows = []
    for name, (op, fails, attr, unit) in OPS.items():
        grid = [[b for b in s.bits if b.op == op] for s in samples]  # rows: samples (what the bootstrap resamples)
        failed = np.array([[bool(getattr(b, fails)) for b in row] for row in grid], dtype=bool)
        margins = np.array([[getattr(b, attr) for b in row] for row in grid], dtype=float)
        nan = ~np.isfinite(margins)
        judged = ~(nan & ~failed) if op.startswith("write") else np.ones_like(failed)
        observed = judged & (failed | ~nan)
        n_failed = int(np.sum(failed & judged))
        plain = clopper_pearson(n_failed, int(judged.sum()), CONFIDENCE)
        notes = []
        if (~judged).any():
            notes.append(f"{int(np.sum(~judged))} bits not judged: the cell already held the written value when the "
                         "write began (it flipped earlier in the run)")  # fmt: skip
        if (judged & ~observed).any():
            notes.append(f"{int(np.sum(judged & ~observed))} passing bits without a margin, left out of the tail fit")
        positive = failed & judged & ~nan & (np.nan_to_num(margins) > 0)
        n_sense = 0
        if name in SENSED:  # the bit lines were right at enable and the cell kept its value: the sense amp read wrong
            n_sense = int(np.sum(positive & ~np.array([[b.flipped for b in row] for row in grid], dtype=bool)))
            if n_sense:
                notes.append(f"{n_sense} of the failures had the bit lines right at sense enable and the cell "
                             "unflipped: the sense amp read wrong (sense_failures; the tail estimate does not see "
                             "them)")  # fmt: skip
        elif positive.any():
            notes.append(f"{int(positive.sum())} of the failures had a positive margin: the tail estimate does not "
                         "see them")  # fmt: skip
        row = {"macro": macro, "process": corner.process, "vdd_v": corner.vdd_v, "temp_c": corner.temp_c, "op": name,
               "period_s": period_s, "samples": len(samples), "bits": int(judged.sum()),
               "excluded": int(np.sum(~judged)), "failures": n_failed, "sense_failures": n_sense, "rate": plain.rate,
               "rate_lo": plain.low, "rate_hi": plain.high, "tail_rate": math.nan, "tail_lo": math.nan, "tail_hi": math.nan,
               "margin_mean": math.nan, "margin_sigma": math.nan, "margin_unit": unit,
               "censored": int(np.sum(observed & nan)), "status": "no_tail", "message": None, "key": key}  # fmt: skip
        finite = margins[observed & ~nan]
        if len(finite) >= 2 and np.ptp(finite) > 0:
            tail = tail_estimate(margins, CONFIDENCE, RESAMPLES, BOOTSTRAP_SEED, observed=observed)
            row.update(tail_rate=tail.probability, tail_lo=tail.low, tail_hi=tail.high, margin_mean=tail.mean,
                       margin_sigma=tail.sigma, status="ok")  # fmt: skip
        else:
            notes.append(f"no tail estimate: {len(finite)} margins, no spread to fit")
        row["message"] = "; ".join(notes) or None
        rows.append(row)
    return rows


def corner_key(sample_keys: list[str], ngspice: str, run_seed: int) -> str:
    """What a corner's rows are determined by: its samples (their keys hold deck, seed, measurement version), the
    simulator, and how rows are made from them."""
    blob = json.dumps({"table_version": TABLE_VERSION, "mc_measurement_version": MC_MEASUREMENT_VERSION,
                       "samples": sample_keys, "ngspice": ngspice, "run_seed": run_seed, "confidence": CONFIDENCE,
                       "resamples": RESAMPLES, "bootstrap_seed": BOOTSTRAP_SEED}, sort_keys=True)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def table_text(rows: list[dict]) -> str:
    """The CSV text of ``rows`` in table order (corner, then op), 6 significant digits."""
    order = list(OPS)
    frame = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    frame = frame.assign(_c=[corner_order(Corner(p, v, t)) for p, v, t in zip(frame.process, frame.vdd_v, frame.temp_c)],
                         _o=[order.index(op) for op in frame.op])  # fmt: skip
    frame = frame.sort_values(["_c", "_o"], kind="stable").drop(columns=["_c", "_o"])
    return frame.to_csv(index=False, float_format="%.6g")


def write_mc_table(csv_text: str, provenance: dict, csv_path: Path) -> None:
    """Write the CSV and its provenance (which records the CSV's sha256 and rows) through temporary files renamed
    into place, the CSV last; a table that could not be read back is never written."""
    check_mc_rows(pd.read_csv(io.StringIO(csv_text), dtype=_DTYPES), csv_path, provenance.get("word_size"))
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    provenance = {**provenance, "table_version": TABLE_VERSION, "csv_sha256": hashlib.sha256(csv_text.encode()).hexdigest(),
                  "csv_rows": csv_text.count("\n") - 1}  # fmt: skip
    tmp_csv, tmp_json = (csv_path.with_suffix(f"{s}.tmp{os.getpid()}") for s in (".csv", ".json"))
    write_synced(tmp_csv, csv_text)
    write_synced(tmp_json, json.dumps(provenance, indent=1) + "\n")
    tmp_json.replace(csv_path.with_suffix(".json"))
    tmp_csv.replace(csv_path)


@dataclass(frozen=True)
class McTableOutcome:
    csv_path: Path
    corners: int  #: corners in the table now
    simulated_samples: int  #: samples simulated in this call (the rest came from the sample cache)
    cached_samples: int
    kept: int  #: corners taken from the table as they were (same key)
    written: bool  #: False when the table on disk already said all of this (left untouched)
    not_simulated: tuple[tuple[str, str], ...] = ()  #: corner name -> the fault that left it out
    wall_s: float = 0.0


def requested_corners(table_corners: list[Corner], processes=None, vdds=None, temps=None) -> list[Corner]:
    """The corners to run: the product of the axes given, each axis not given taking the values the macro's table
    holds (none given: exactly the table's corners). Raises CornerError (one line) naming corners the table lacks:
    the Monte Carlo runs at the table's clock."""
    if processes is None and vdds is None and temps is None:
        return sorted(table_corners, key=corner_order)
    procs = processes or sorted({c.process for c in table_corners})
    vs = vdds or sorted({c.vdd_v for c in table_corners})
    ts = temps or sorted({c.temp_c for c in table_corners})
    held = {c.name for c in table_corners}
    wanted = [Corner(p, v, t) for p in procs for v in vs for t in ts]
    missing = [c for c in wanted if c.name not in held]
    if missing:
        names = ", ".join(c.name for c in missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        c = missing[0]
        raise CornerError(f"the macro's table has no corner {names}: the Monte Carlo runs at the clock the table ran "
                          f"a corner at, so characterize it first (cosim characterize --process {c.process} --vdd "
                          f"{c.vdd_v:g} --temp {c.temp_c:g})")  # fmt: skip
    return sorted(wanted, key=corner_order)


def _worker(req: SampleRequest, index: int, cache: Path):
    try:
        return req.corner, index, run_sample(req, index, cache)
    except SimError as exc:  # a fault is reported, never a sample
        return req.corner, index, f"sample {index} (seed {req.seed}): {str(exc).splitlines()[0][:300]}"


def monte_carlo_table(sp_path: Path, settings: Settings, samples: int, run_seed: int = 1, *,
                      processes: tuple[str, ...] | None = None, vdds: tuple[float, ...] | None = None,
                      temps: tuple[float, ...] | None = None, out_dir: Path | None = None, jobs: int = 2,
                      reuse_table: bool = True, progress: bool = True) -> McTableOutcome:  # fmt: skip
    """Run ``samples`` Monte Carlo samples at each requested corner (:func:`requested_corners`) of the macro
    ``sp_path`` and merge the corners into its BER table (``out_dir``/montecarlo/<macro>.csv, default the
    characterization folder). The clock of each corner comes from the committed macro table in
    ``settings.characterization_dir``."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    from cosim.netlist import load_macro
    from cosim.pdk.sky130 import locate_models
    from cosim.sim import ngspice_version

    start = time.perf_counter()
    macro_netlist = load_macro(sp_path)
    macro = macro_netlist.macro.name
    macro_csv = settings.characterization_dir / f"{macro}.csv"
    if not macro_csv.is_file():
        raise CornerError(f"{macro_csv}: no table for {macro}: the Monte Carlo runs at its clocks, so characterize it "
                          f"first (cosim characterize --macro {macro})")  # fmt: skip
    table = CharacterizationTable.load(macro_csv)
    corners = requested_corners(table.corners(), processes, vdds, temps)
    csv_path = mc_table_path(out_dir or settings.characterization_dir, macro)
    on_disk = read_mc_table(csv_path) if csv_path.exists() or csv_path.with_suffix(".json").exists() else None
    periods = {c: table_period_s(table, c) for c in corners}
    models = locate_models(settings)
    setups: dict[str, McSetup] = {p: mc_setup(macro_netlist, models, p, settings.cache_dir)
                                  for p in dict.fromkeys(c.process for c in corners)}  # fmt: skip
    ngspice = ngspice_version()
    cache = settings.cache_dir / "montecarlo" / macro / ngspice
    sim = SimOptions(threads=1, timeout_s=settings.sim_timeout_s)
    plans: dict[Corner, tuple[list[SampleRequest], list[str], str]] = {}
    old_keys = set(on_disk[1]["key"]) if on_disk is not None and reuse_table else set()
    kept = []
    tasks = []
    cached = 0
    for corner in corners:
        reqs = sample_requests(setups[corner.process], corner, periods[corner],
                               [sample_seed(run_seed, i) for i in range(samples)], sim)  # fmt: skip
        skeys = [sample_key(r) for r in reqs]
        key = corner_key(skeys, ngspice, run_seed)
        plans[corner] = (reqs, skeys, key)
        if key in old_keys:
            kept.append(corner)
            continue
        for i, (r, k) in enumerate(zip(reqs, skeys)):
            cached += (cache / f"{k}.json").exists()
            tasks.append((r, i, cache))

    base = {"macro": macro, "word_size": macro_netlist.macro.word_size, "cosim_version": __version__,
            "ngspice_version": ngspice, "simulator": "ngspice batch process (ngspice -b), one per sample",
            "definitions": "docs/monte-carlo.md", "table_version": TABLE_VERSION,
            "mc_measurement_version": MC_MEASUREMENT_VERSION, "netlist": sp_path.name,
            "netlist_sha256": hashlib.sha256(sp_path.read_bytes()).hexdigest(),
            "clock_from": f"{macro_csv.name}: the largest period_s of the corner's rows (main deck or read retry)",
            "confidence": CONFIDENCE,
            "tail_estimate": {"fit": "normal, failures without a margin left-censored at 0",
                              "interval": "percentile bootstrap over whole samples", "resamples": RESAMPLES,
                              "seed": BOOTSTRAP_SEED},
            "seed_rule": "sample i of run seed R: int.from_bytes(sha256(f'cosim-mc:{R}:{i}')[:4], 'big') % (2**31 - 1)"
                         " + 1 (cosim.pdk.mismatch.sample_seed), as ngspice's .option seed",
            "not_measured": "hold: the samples do not judge a hold cycle on its own (a write is judged at the end of "
                            "the hold cycle after it)"}  # fmt: skip
    finished: dict[Corner, tuple[list[dict], dict]] = {}
    results: dict[Corner, dict[int, SampleResult]] = {c: {} for c in corners}
    faults: dict[Corner, list[str]] = {}
    written = False

    def corner_prov(corner: Corner, got: list[SampleResult]) -> dict:
        reqs, skeys, key = plans[corner]
        setup = setups[corner.process]
        return {"key": key, "period_s": periods[corner], "run_seed": run_seed, "samples": len(got),
                "sample_seeds": [r.seed for r in reqs], "sample_keys": skeys,
                "sample_wall_s": [round(s.wall_s, 2) for s in got], "wall_s": round(sum(s.wall_s for s in got), 2),
                "mismatch_deck": setup.model_deck_path.name, "mismatch_deck_sha256": setup.model_deck_sha256,
                "simulated_netlist_sha256": setup.netlist.sha256, "simulated_devices": setup.netlist.devices}  # fmt: skip

    def write() -> None:
        nonlocal written
        with table_lock(csv_path):
            now = read_mc_table(csv_path) if csv_path.exists() else None
            old_rows = [] if now is None else now[1].to_dict("records")
            old_corners = {} if now is None else dict(now[2].get("corners", {}))
            names = {c.name for c in finished}
            rows = [r for r in old_rows if Corner(r["process"], r["vdd_v"], r["temp_c"]).name not in names]
            rows += [r for c in finished for r in finished[c][0]]
            if not rows:
                return
            text = table_text(rows)
            prov_corners = {k: v for k, v in old_corners.items() if k not in names}
            prov_corners |= {c.name: finished[c][1] for c in finished}
            prov_corners = dict(sorted(prov_corners.items()))
            if now is not None and text == now[0] and prov_corners == old_corners:
                return  # nothing new: the table stays byte for byte
            prov = {**base, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "wall_s": round(time.perf_counter() - start, 2), "corners": prov_corners}
            write_mc_table(text, prov, csv_path)
            written = True

    need = {c: samples for c in corners if c not in kept}
    if tasks:
        bar = tqdm(total=len(tasks), desc=f"{macro} Monte Carlo", unit="sample", disable=not progress)
        out = Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(_worker)(*t) for t in tasks)
        for corner, index, result in out:
            bar.update(1)
            if isinstance(result, str):
                faults.setdefault(corner, []).append(result)
            else:
                results[corner][index] = result
            if len(results[corner]) + len(faults.get(corner, ())) == need[corner] and corner not in faults:
                got = [results[corner][i] for i in range(samples)]
                _, _, key = plans[corner]
                finished[corner] = (op_rows(macro, corner, periods[corner], tuple(got), key), corner_prov(corner, got))
                write()
        bar.close()
    write()
    in_table = len(read_mc_table(csv_path)[1].groupby(["process", "vdd_v", "temp_c"])) if csv_path.exists() else 0
    return McTableOutcome(csv_path, in_table, len(tasks) - cached, cached, len(kept), written,
                          tuple((c.name, "; ".join(faults[c])) for c in sorted(faults, key=corner_order)),
                          time.perf_counter() - start)  # fmt: skip
