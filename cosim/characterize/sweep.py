"""The PVT sweep: every corner of a grid for one macro, one ngspice per worker process, cached per point.

Parallelism is joblib's: the loky backend on a workstation, or Dask (joblib's `dask` backend with a
`dask.distributed.Client`) on a cluster. Each finished point is written to the point cache at once (write, then
rename), so an interrupted sweep resumes where it stopped; the table is written (write, then rename) only when the
whole grid is done, so a half-written table never replaces a good one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from cosim import __version__
from cosim.characterize.plan import make_plan, nominal_period_s
from cosim.characterize.point import PointRequest, PointResult, characterize_point
from cosim.characterize.retry import main_period_s, merge, needs_retry, retry_key, retry_reads
from cosim.characterize.trim import storage_nodes, trim_netlist, trim_summary, write_trimmed
from cosim.config import Settings
from cosim.errors import CornerError
from cosim.netlist import Netlist, load_macro
from cosim.pdk.reduce import build_reduced_deck, write_reduced_deck
from cosim.pdk.sky130 import locate_models
from cosim.types import PROCESSES, Corner

#: the default grid of `make characterize`
DEFAULT_PROCESSES = PROCESSES
DEFAULT_VDDS_V = (1.6, 1.8, 1.95)
DEFAULT_TEMPS_C = (-40.0, 25.0, 125.0)

COLUMNS = (
    "macro", "process", "vdd_v", "temp_c", "op", "status", "access_time_s", "cycle_time_s", "energy_j",
    "leakage_w", "period_s", "bits_checked", "bit_errors", "message", "point_key",
)  # fmt: skip
#: trim by default when trimming removes at least this fraction of the storage cells
AUTO_TRIM_FRACTION = 0.25
_TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "testbench"
_CODE_FILES = ("testbench/sram.py", "testbench/templates/sram_rw.sp.j2", "characterize/plan.py", "characterize/point.py",
               "measure/waveform.py")  # fmt: skip


@dataclass(frozen=True)
class Grid:
    processes: tuple[str, ...] = DEFAULT_PROCESSES
    vdds_v: tuple[float, ...] = DEFAULT_VDDS_V
    temps_c: tuple[float, ...] = DEFAULT_TEMPS_C

    def corners(self) -> list[Corner]:
        return [Corner(p, v, t) for p, v, t in product(self.processes, self.vdds_v, self.temps_c)]

    def __post_init__(self) -> None:
        for p in self.processes:
            if p not in PROCESSES:
                raise CornerError(f"unknown process corner {p!r}: use one of {', '.join(PROCESSES)}")
        self.corners()  # validates supplies and temperatures


def code_sha256() -> str:
    """Hash of the testbench and measurement code: a change there invalidates cached points."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for rel in _CODE_FILES:
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def point_key(netlist_sha: str, deck_sha: str, code_sha: str, ngspice: str, corner: Corner, period_s: float,
              options: tuple[str, ...]) -> str:  # fmt: skip
    blob = json.dumps([netlist_sha, deck_sha, code_sha, ngspice, asdict(corner), period_s, list(options)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _worker(req: PointRequest, cache_file: Path, key: str) -> dict:
    """Runs in a worker process: one corner, cached atomically as soon as it is done."""
    result = characterize_point(req)
    record = {"key": key, "corner": asdict(req.corner), "rows": list(result.rows), "decks": dict(result.decks),
              "wall_s": result.wall_s, "runs": result.runs, "retries": result.retries}  # fmt: skip
    return _cache(record, cache_file)


def _retry_worker(req: PointRequest, base_period_s: float, cache_file: Path, key: str) -> dict:
    """Runs in a worker process: the read retry of one corner (cosim.characterize.retry), cached atomically."""
    return _cache({"key": key, "corner": asdict(req.corner), **retry_reads(req, base_period_s)}, cache_file)


def _cache(record: dict, cache_file: Path) -> dict:
    """Write a finished record to the cache (write, then rename: an interrupted write leaves no half file)."""
    tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, default=_json_default))
    tmp.replace(cache_file)
    return record


def _json_default(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    raise TypeError(type(x))


def _parallel(worker, tasks: list, desc: str, total: int, initial: int, *, backend: str, scheduler: str | None,
              jobs: int, progress: bool) -> dict:
    """Run ``worker(*args)`` for every (corner, args) of ``tasks`` through joblib (loky, or Dask with a client on
    ``scheduler`` or a local cluster), with a progress bar; -> {corner: record} (records carry their "key")."""
    if not tasks:
        return {}
    from tqdm import tqdm

    ctx = contextlib.nullcontext()
    if backend == "dask":
        from dask.distributed import Client

        ctx = Client(scheduler) if scheduler else Client(processes=True, n_workers=jobs, threads_per_worker=1)
    elif backend != "loky":
        raise ValueError(f"unknown backend {backend!r}: use loky or dask")
    out = {}
    with ctx:  # joblib's dask backend uses the active client
        from joblib import parallel_backend

        with parallel_backend(backend, **({} if backend == "dask" else {"n_jobs": jobs})):
            bar = tqdm(total=total, initial=initial, desc=desc, unit="corner", disable=not progress)
            results = Parallel(n_jobs=jobs if backend == "loky" else -1, return_as="generator_unordered")(
                delayed(worker)(*args) for _, args in tasks
            )
            by_key = {args[-1]: corner for corner, args in tasks}
            for record in results:
                out[by_key[record["key"]]] = record
                bar.update(1)
            bar.close()
    return out


@dataclass(frozen=True)
class SweepOutcome:
    csv_path: Path
    json_path: Path
    points: int
    simulated: int  #: points simulated in this call (the rest came from the cache)
    failed_rows: int
    wall_s: float
    read_retries: int = 0  #: corners whose failed reads were re-run at longer periods (cosim.characterize.retry)
    read_retries_simulated: int = 0  #: of those, simulated in this call


def simulated_netlist(macro_netlist, plan, cache_dir: Path, trim: bool | None) -> tuple[Path, str, dict | None, Netlist]:
    """The netlist file a sweep simulates, its sha256, what was folded (None: the committed netlist as is) and the
    parsed netlist. ``trim=None`` folds when that removes at least :data:`AUTO_TRIM_FRACTION` of the cells."""
    sp_path = macro_netlist.sp_path
    folded = trim_netlist(macro_netlist.netlist, plan)
    summary = trim_summary(macro_netlist.netlist, folded)
    if trim is None:
        trim = summary.cells_after <= (1 - AUTO_TRIM_FRACTION) * summary.cells_before
    if not trim:
        return sp_path.resolve(), _sha_file(sp_path), None, macro_netlist.netlist
    path = write_trimmed(macro_netlist.netlist, plan, cache_dir, folded)
    info = {"rows_kept": sorted(plan.kept_rows()), "cells_before": summary.cells_before,
            "cell_instances_after": summary.cells_after, "cells_folded": summary.cells_folded,
            "file": path.name}  # fmt: skip
    return path, _sha_file(path), info, folded


def sweep_macro(
    sp_path: Path,
    settings: Settings,
    grid: Grid = Grid(),
    *,
    out_dir: Path | None = None,
    jobs: int = 2,
    backend: str = "loky",
    scheduler: str | None = None,
    options: tuple[str, ...] = (),
    progress: bool = True,
    search_min_cycle: bool = True,
    trim: bool | None = None,
) -> SweepOutcome:
    """Characterize one macro over ``grid``. ``trim``: simulate the netlist with its storage array folded
    (:mod:`cosim.characterize.trim`: the accessed rows cell by cell, every other row of a column as one mult=N cell;
    bench/characterize.py and tests/characterize/test_trim.py compare it with the full netlist); False simulates the
    committed netlist as is; None (default) folds when that removes at least :data:`AUTO_TRIM_FRACTION` of the
    cell instances (every committed macro)."""
    import time

    start = time.perf_counter()
    macro_netlist = load_macro(sp_path)
    macro = macro_netlist.macro
    models = locate_models(settings)
    plan = make_plan(macro)
    period = nominal_period_s(macro)
    from cosim.sim import ngspice_version

    ngspice = ngspice_version()
    code = code_sha256()
    netlist_sha = _sha_file(sp_path)
    sim_path, sim_sha, trim_info, sim_netlist = simulated_netlist(macro_netlist, plan, settings.cache_dir, trim)
    trim = trim_info is not None
    cells = storage_nodes(sim_netlist, plan)
    key_netlist = sim_sha  # the folded text itself, so any change of the folding changes the key
    cache = settings.cache_dir / "points" / macro.name
    cache.mkdir(parents=True, exist_ok=True)

    decks = {}
    for process in grid.processes:
        reduced = build_reduced_deck(models, process, set(macro.devices))
        decks[process] = (write_reduced_deck(reduced, settings.cache_dir), reduced)
    # ngspice's OpenMP threads per run: the cores left per parallel point (one each when points fill the cores)
    threads = max(1, (os.cpu_count() or 1) // jobs) if backend == "loky" else 1
    todo, records, requests = [], {}, {}
    for corner in grid.corners():
        deck_path, reduced = decks[corner.process]
        key = point_key(key_netlist, reduced.sha256, code, ngspice, corner, period, options + (f"min_cycle={search_min_cycle}",))
        requests[corner] = PointRequest(plan=plan, corner=corner, netlist_path=sim_path, model_deck_path=deck_path,
                                        period_s=period, run_dir=settings.cache_dir / "runs" / macro.name / corner.name,
                                        options=options, search_min_cycle=search_min_cycle, storage_cells=cells,
                                        threads=threads)  # fmt: skip
        cache_file = cache / f"{key}.json"
        if cache_file.exists():
            records[corner] = json.loads(cache_file.read_text())
            continue
        todo.append((corner, (requests[corner], cache_file, key)))
    run = dict(backend=backend, scheduler=scheduler, jobs=jobs, progress=progress)
    records.update(_parallel(_worker, todo, f"{macro.name}", len(grid.corners()), len(records), **run))

    # second stage: corners whose main deck read wrong data are re-run at longer periods (cosim.characterize.retry)
    retries, retry_todo = {}, []
    for corner in grid.corners():
        if not needs_retry(records[corner]["rows"]):
            continue
        key = retry_key(records[corner]["key"])
        cache_file = cache / f"{key}.retry.json"
        if cache_file.exists():
            retries[corner] = json.loads(cache_file.read_text())
        else:
            retry_todo.append((corner, (requests[corner], main_period_s(records[corner]["rows"]), cache_file, key)))
    total = len(retries) + len(retry_todo)
    retries.update(_parallel(_retry_worker, retry_todo, f"{macro.name} read retries", total, len(retries), **run))

    rows = []
    for corner in grid.corners():
        rec = records[corner]
        for row in merge(rec["rows"], retries.get(corner)):
            rows.append({"macro": macro.name, "process": corner.process, "vdd_v": corner.vdd_v,
                         "temp_c": corner.temp_c, **row, "point_key": rec["key"]})  # fmt: skip
    frame = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    out_dir = out_dir or settings.characterization_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{macro.name}.csv"
    json_path = out_dir / f"{macro.name}.json"
    provenance = {
        "macro": macro.name,
        "word_size": macro.word_size,
        "num_words": macro.words,
        "words_per_row": macro.words_per_row,
        "cosim_version": __version__,
        "ngspice_version": ngspice,
        "simulator": "ngspice batch process (ngspice -b), one per deck: cosim.sim.ngspice",
        "models": {
            "source": models.source,
            "library": models.lib_file.name,
            "decks_sha256": {p: decks[p][1].sha256 for p in grid.processes},
            "files": {p: list(decks[p][1].files) for p in grid.processes},
        },
        "netlist": str(sp_path.name),
        "netlist_sha256": netlist_sha,
        "trimmed": bool(trim),
        "trimmed_netlist_sha256": sim_sha if trim else None,
        "trim": trim_info,
        "wall_s": None,  # filled below
        "testbench_sha256": code,
        "options": list(options),
        "nominal_period_s": period,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "grid": {"process": list(grid.processes), "vdd_v": list(grid.vdds_v), "temp_c": list(grid.temps_c)},
        "points": {
            rec["key"]: {"corner": Corner(**rec["corner"]).name, "wall_s": round(rec["wall_s"], 2), "runs": rec["runs"],
                         "retries": rec["retries"], "decks_sha256": rec["decks"]}
            for rec in (records[c] for c in grid.corners())
        },  # fmt: skip
        "read_retries": {
            rec["key"]: {"corner": Corner(**rec["corner"]).name, "wall_s": round(rec["wall_s"], 2), "runs": rec["runs"],
                         "retries": rec["retries"], "decks_sha256": rec["decks"], "read_cycle": rec["read_cycle"]}
            for rec in (retries[c] for c in grid.corners() if c in retries)
        },  # fmt: skip
    }
    wall = time.perf_counter() - start
    provenance["wall_s"] = round(wall, 2)  # this call's wall time (cached points cost nothing here)
    provenance["simulated_points"] = len(todo)
    provenance["simulated_read_retries"] = len(retry_todo)
    tmp_csv, tmp_json = csv_path.with_suffix(".csv.tmp"), json_path.with_suffix(".json.tmp")
    frame.to_csv(tmp_csv, index=False, float_format="%.6g")
    tmp_json.write_text(json.dumps(provenance, indent=1) + "\n")
    tmp_json.replace(json_path)
    tmp_csv.replace(csv_path)
    return SweepOutcome(csv_path, json_path, len(grid.corners()), len(todo),
                        int((frame["status"] != "ok").sum()), wall, len(retries), len(retry_todo))  # fmt: skip
