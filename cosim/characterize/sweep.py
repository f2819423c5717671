"""The PVT sweep: every corner of a grid for one macro, one ngspice per worker process, cached per point.

Parallelism is joblib's: the loky backend on a workstation, or Dask (joblib's `dask` backend with a
`dask.distributed.Client`) on a cluster. A worker takes one corner to the end (its point, then its read retry when
it needs one) and writes each to the point cache at once (write, then rename), so an interrupted sweep resumes where
it stopped. The table is rewritten (write, then rename) as corners finish, as long as it keeps every corner it held
(cosim.characterize.committed): what a sweep finished survives the machine, and a half-done sweep never replaces a
fuller table. Corners already in the table with the key computed now are taken from it, not simulated again.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from itertools import product
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from cosim.files import write_atomic
from cosim import __version__
from cosim.characterize import keys
from cosim.characterize.committed import (COLUMNS, corner_order, missing_corners, read_committed, table_csv_text,
                                          table_lock, write_table)
from cosim.characterize.keys import MEASUREMENT_VERSION
from cosim.characterize.plan import MacroPlan, make_plan, nominal_period_s
from cosim.characterize.point import PointRequest, characterize_point, key_decks
from cosim.characterize.records import PointRecord, RetryRecord
from cosim.characterize.retry import main_period_s, merge, needs_retry, retry_key, retry_reads
from cosim.characterize.bitfold import fold_bits as fold_bits_of
from cosim.characterize.bitfold import write_bitfolded
from cosim.characterize.rowfold import fold_rows as fold_rows_of
from cosim.characterize.rowfold import write_rowfolded
from cosim.characterize.trim import storage_nodes, trim_netlist, trim_summary, trimmed_text, write_trimmed
from cosim.config import Settings
from cosim.errors import CornerError
from cosim.sim import SimError, SimOptions
from cosim.netlist import Macro, MacroNetlist, load_macro
from cosim.pdk.reduce import ReducedDeck, build_reduced_deck, device_sizes, prune_bins, prune_params, write_reduced_deck
from cosim.pdk.sky130 import ModelLibrary, locate_models
from cosim.types import PROCESSES, Corner

#: the default grid of `make characterize`
DEFAULT_PROCESSES = PROCESSES
DEFAULT_VDDS_V = (1.6, 1.8, 1.95)
DEFAULT_TEMPS_C = (-40.0, 25.0, 125.0)

#: trim by default when trimming removes at least this fraction of the storage cells
AUTO_TRIM_FRACTION = 0.25


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
        names: dict[str, Corner] = {}
        for corner in self.corners():  # validates supplies and temperatures
            if names.setdefault(corner.name, corner) != corner:
                raise CornerError(f"corners {names[corner.name]} and {corner} share the name {corner.name}: "
                                  "give supplies and temperatures that differ by more")


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def simulated_model_deck(models: ModelLibrary, process: str, devices, netlist_text: str, cache_dir: Path) -> tuple[Path, ReducedDeck]:  # fmt: skip
    """The model deck a point simulates: the reduced deck of `devices` at `process`, less the size bins no instance
    of the simulated netlist (`netlist_text`) falls in (cosim.pdk.reduce.prune_bins) and the parameters neither the
    deck nor the netlist refers to (prune_params); written under the cache."""
    reduced = prune_bins(build_reduced_deck(models, process, set(devices)), device_sizes(netlist_text))
    reduced = prune_params(reduced, netlist_text)
    return write_reduced_deck(reduced, cache_dir), reduced


@dataclass(frozen=True)
class CornerOutcome:
    """What a worker hands back for one corner: its finished records, or the fault that left it not simulated."""

    key: str
    point: PointRecord | None = None
    retry: RetryRecord | None = None
    simulated_point: bool = False
    simulated_retry: bool = False
    error: str | None = None


def _corner_worker(req: PointRequest, cache: Path, key: str, record: PointRecord | None) -> CornerOutcome:
    """Runs in a worker process: one corner to the end, each stage cached atomically as soon as it is done: the
    point (unless ``record`` is already finished), then the read retry when its main deck read wrong data
    (cosim.characterize.retry). A simulator fault (cosim.sim.SimError) is not a result: nothing of that stage is
    cached, and the corner comes back with ``error`` set."""
    simulated_point = record is None
    try:
        if record is None:
            result = characterize_point(req)
            record = _cache(PointRecord(key, req.corner, tuple(result.rows), MappingProxyType(dict(result.decks)),
                                        result.wall_s, result.runs, result.retries), cache / f"{key}.json")
        retry = None
        if needs_retry(record.rows):
            rkey = retry_key(key)
            retry = _cache(retry_reads(req, main_period_s(record.rows), rkey), cache / f"{rkey}.retry.json")
    except SimError as exc:
        return CornerOutcome(key, error=str(exc).splitlines()[0][:400])
    return CornerOutcome(key, record, retry, simulated_point, retry is not None)


def _cache(record, cache_file: Path):
    """Write a finished record to the cache (write, fsync, then rename: an interrupted write leaves no half file)."""
    write_atomic(cache_file, record.to_json())
    return record


def _load(cache_file: Path, kind=PointRecord):
    """A cached record of ``kind``, or None when there is none; an unreadable one (cut short, another schema) is
    treated as missing, and named."""
    if not cache_file.exists():
        return None
    try:
        return kind.from_json(cache_file.read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"{cache_file}: unreadable point cache file ({exc}); simulating that stage again", stacklevel=2)
        return None


def _parallel(worker, tasks: list, desc: str, total: int, initial: int, *, backend: str, scheduler: str | None,
              jobs: int, progress: bool):
    """Run ``worker(*args)`` for every args of ``tasks`` through joblib (loky, or Dask with a client on
    ``scheduler`` or a local cluster), with a progress bar; yields each result as it finishes."""
    if not tasks:
        return
    from tqdm import tqdm

    ctx = contextlib.nullcontext()
    if backend == "dask":
        from dask.distributed import Client

        ctx = Client(scheduler) if scheduler else Client(processes=True, n_workers=jobs, threads_per_worker=1)
    elif backend != "loky":
        raise ValueError(f"unknown backend {backend!r}: use loky or dask")
    with ctx:  # joblib's dask backend uses the active client
        from joblib import parallel_backend

        with parallel_backend(backend, **({} if backend == "dask" else {"n_jobs": jobs})):
            with tqdm(total=total, initial=initial, desc=desc, unit="corner", disable=not progress) as bar:
                results = Parallel(n_jobs=jobs if backend == "loky" else -1, return_as="generator_unordered")(
                    delayed(worker)(*args) for args in tasks
                )
                for result in results:
                    bar.update(1)
                    yield result


@dataclass(frozen=True)
class SweepOutcome:
    csv_path: Path
    json_path: Path
    points: int  #: corners in the table (the grid asked for and every corner the table already held)
    simulated: int  #: points simulated in this call (the rest came from the cache or the committed table)
    failed_rows: int
    wall_s: float
    read_retries: int = 0  #: corners whose failed reads were re-run at longer periods (cosim.characterize.retry)
    read_retries_simulated: int = 0  #: of those, simulated in this call
    written: bool = True  #: False when the table on disk already said all of this (left untouched)
    #: corner name -> the simulator fault that left it not simulated (nothing of it is in the table or the cache)
    not_simulated: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SimulatedNetlist:
    """The netlist file a sweep simulates and what it is."""

    path: Path
    sha256: str
    info: dict | None  #: what was folded (None: the committed netlist as is), recorded in the provenance
    storage_cells: tuple[str, ...]  #: ngspice paths of its storage cells (each gets a definite initial value)


def _rebuilt(macro_netlist, cache_dir: Path) -> tuple[Path, str]:
    """The committed netlist as written back from its parsed cards (cosim.netlist.spice): what ngspice reads is
    only what the reader accepted, never the file's own bytes (comments and all)."""
    text = f"* {macro_netlist.sp_path.name} rebuilt from its parsed cards by cosim.netlist\n" + macro_netlist.netlist.to_spice()
    sha = hashlib.sha256(text.encode()).hexdigest()
    path = cache_dir / "netlists" / f"{macro_netlist.macro.name}_{sha[:16]}.sp"
    if not path.exists():
        write_atomic(path, text)
    return path, sha


def simulated_netlist(macro_netlist, plan, cache_dir: Path, trim: bool | None, fold_bits: bool = False,
                      fold_rows: bool = False) -> SimulatedNetlist:  # fmt: skip
    """The netlist a sweep simulates. ``trim=None`` folds the storage array when that removes at least
    :data:`AUTO_TRIM_FRACTION` of the cells; ``fold_bits`` also folds the alike bit slices of a folded array
    (cosim.characterize.bitfold), and ``fold_rows`` then the alike rows (cosim.characterize.rowfold). An unfolded
    netlist (``trim=False``) is simulated whole, as rebuilt from its parsed cards."""
    folded = trim_netlist(macro_netlist.netlist, plan)
    summary = trim_summary(macro_netlist.netlist, folded)
    if trim is None:
        trim = summary.cells_after <= (1 - AUTO_TRIM_FRACTION) * summary.cells_before
    netlist = folded if trim else macro_netlist.netlist
    cells = storage_nodes(netlist, plan)
    info = None
    if trim:
        info = {"rows_kept": sorted(plan.kept_rows()), "cells_before": summary.cells_before,
                "cell_instances_after": summary.cells_after, "cells_folded": summary.cells_folded}  # fmt: skip
    if fold_bits and trim:
        fold = fold_bits_of(netlist, plan, cells)
        head = trimmed_text(macro_netlist.netlist, plan, folded).splitlines()[0] + "\n"
        head += (f"* BIT SLICES FOLDED by cosim.characterize.bitfold (characterization only): {fold.devices_before} "
                 f"-> {fold.devices_after} devices\n")  # fmt: skip
        info = info | {"bits_folded": {str(b): r for b, r in fold.representative.items() if b != r},
                       "devices_before": fold.devices_before, "devices_after": fold.devices_after}  # fmt: skip
        if not fold_rows:
            path = write_bitfolded(fold, head, cache_dir)
            return SimulatedNetlist(path, _sha_file(path), info | {"file": path.name}, fold.storage_cells)
        rows = fold_rows_of(fold.netlist, plan, fold.storage_cells)
        head += (f"* ROWS FOLDED by cosim.characterize.rowfold (characterization only): {rows.devices_before} -> "
                 f"{rows.devices_after} devices\n")  # fmt: skip
        path = write_rowfolded(rows, head, cache_dir)
        info = info | {"rows_folded": rows.representative, "unused_lines": list(rows.unused_lines),
                       "devices_after": rows.devices_after}  # fmt: skip
        return SimulatedNetlist(path, _sha_file(path), info | {"file": path.name}, rows.storage_cells)
    if not trim:
        return SimulatedNetlist(*_rebuilt(macro_netlist, cache_dir), None, cells)
    path = write_trimmed(macro_netlist.netlist, plan, cache_dir, folded)
    return SimulatedNetlist(path, _sha_file(path), info | {"file": path.name}, cells)


@dataclass(frozen=True)
class SweepSetup:
    """What every corner of a macro's sweep shares: the simulated netlist, the model decks, the ngspice version and
    measurement version its points are keyed by (cosim.characterize.keys)."""

    macro_netlist: MacroNetlist
    plan: MacroPlan
    models: ModelLibrary
    period_s: float  #: nominal clock period
    ngspice: str
    measurement_version: int
    simulated: SimulatedNetlist
    decks: dict  #: process -> (reduced model deck path, ReducedDeck)

    def request(self, corner: Corner, options: tuple[str, ...] = (), search_min_cycle: bool = True,
                run_dir: Path | None = None, sim: SimOptions = SimOptions()) -> PointRequest:
        return PointRequest(plan=self.plan, corner=corner, netlist_path=self.simulated.path,
                            model_deck_path=self.decks[corner.process][0], period_s=self.period_s, run_dir=run_dir,
                            options=options, search_min_cycle=search_min_cycle,
                            storage_cells=self.simulated.storage_cells, sim=sim)

    def key(self, corner: Corner, options: tuple[str, ...] = (), search_min_cycle: bool = True) -> str:
        """The point key of ``corner``: the decks it renders (the folded netlist's and the model deck's text keyed by
        their hashes), ngspice, the options and the measurement version."""
        deck_path, reduced = self.decks[corner.process]
        paths = {str(self.simulated.path): self.simulated.sha256, str(deck_path): reduced.sha256}
        decks = {name: keys.deck_identity(text, paths)
                 for name, text in key_decks(self.request(corner, options, search_min_cycle)).items()}
        return keys.point_key(decks=decks, netlist_sha256=self.simulated.sha256, models_sha256=reduced.sha256,
                              ngspice=self.ngspice, corner=corner, period_s=self.period_s,
                              options=options + (f"min_cycle={search_min_cycle}",),
                              measurement_version=self.measurement_version)


def sweep_setup(macro_netlist: MacroNetlist, settings: Settings, processes, trim: bool | None = None,
                fold_bits: bool = True, fold_rows: bool = True) -> SweepSetup:  # fmt: skip
    """Fold the macro's netlist and build its model decks for ``processes`` (both cached under the cache dir)."""
    from cosim.sim import ngspice_version

    macro = macro_netlist.macro
    models = locate_models(settings)
    plan = make_plan(macro)
    simulated = simulated_netlist(macro_netlist, plan, settings.cache_dir, trim, fold_bits, fold_bits and fold_rows)
    sim_text = simulated.path.read_text()
    decks = {p: simulated_model_deck(models, p, macro.devices, sim_text, settings.cache_dir) for p in dict.fromkeys(processes)}
    return SweepSetup(macro_netlist, plan, models, nominal_period_s(macro), ngspice_version(), MEASUREMENT_VERSION,
                      simulated, decks)  # fmt: skip


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
    reuse_table: bool = True,
    fold_bits: bool = True,
    fold_rows: bool = True,
) -> SweepOutcome:
    """Characterize one macro over ``grid`` plus every corner its table (``out_dir``/<macro>.csv) already holds.

    ``trim``: simulate the netlist with its storage array folded (:mod:`cosim.characterize.trim`: the accessed rows
    cell by cell, every other row of a column as one mult=N cell; bench/characterize.py and
    tests/characterize/test_trim.py compare it with the full netlist); False simulates the committed netlist as is;
    None (default) folds when that removes at least :data:`AUTO_TRIM_FRACTION` of the cell instances (every
    committed macro). ``fold_bits`` (default): on a folded array, simulate one bit slice per data class
    (cosim.characterize.bitfold: the same numbers, 2-3x faster); ``fold_rows`` (default, with ``fold_bits``): and
    one row per class of alike rows (cosim.characterize.rowfold). ``reuse_table``: take a corner from the table on
    disk when its point key is the one computed now (cosim.characterize.committed), as from the point cache.

    The table is written whenever a corner finishes and the table then holds every corner the one on disk held
    (write, then rename): an interrupted sweep keeps what it finished, and a table never shrinks before the sweep
    ends (after a code change every corner is simulated anew, and the new table replaces the old one when whole).
    """
    import time

    start = time.perf_counter()
    macro_netlist = load_macro(sp_path)
    csv_path = (out_dir or settings.characterization_dir) / f"{macro_netlist.macro.name}.csv"
    on_disk = read_committed(csv_path)
    corners = sorted(set(grid.corners()) | set(on_disk.corners), key=corner_order)
    setup = sweep_setup(macro_netlist, settings, [c.process for c in corners], trim, fold_bits, fold_rows)
    macro, period, decks = setup.macro_netlist.macro, setup.period_s, setup.decks
    simulated = setup.simulated
    sim_sha, trim_info = simulated.sha256, simulated.info
    cache = settings.cache_dir / "points" / macro.name
    cache.mkdir(parents=True, exist_ok=True)
    # ngspice's OpenMP threads per run: the cores left per parallel point (one each when points fill the cores)
    threads = max(1, (os.cpu_count() or 1) // jobs) if backend == "loky" else 1
    sim = SimOptions(threads=threads, timeout_s=settings.sim_timeout_s)
    finished: dict[Corner, tuple[PointRecord, RetryRecord | None]] = {}
    todo = []
    for corner in corners:
        key = setup.key(corner, options, search_min_cycle)
        rkey = retry_key(key)
        record = _load(cache / f"{key}.json") or (on_disk.points.get(key) if reuse_table else None)
        retry = _load(cache / f"{rkey}.retry.json", RetryRecord) or (on_disk.retries.get(rkey) if reuse_table else None)
        if record is not None and (record.main_rows_from_retry or rkey) != rkey:
            record = None  # the table holds another retry's main rows, not this point's own: simulate it again
        if record is not None and (retry is not None or not needs_retry(record.rows)):
            finished[corner] = (record, retry)
            continue
        # a run directory per sweep process: two sweeps sharing the cache never write into each other's runs
        run_dir = settings.cache_dir / "runs" / macro.name / corner.name / f"pid{os.getpid()}"
        todo.append((setup.request(corner, options, search_min_cycle, run_dir, sim), cache, key, record))

    info = TableContext(macro, sp_path, setup.models, decks, trim_info, sim_sha, setup.measurement_version,
                        setup.ngspice, options, period)
    counts = {"points": 0, "retries": 0}
    written = False
    held = set(on_disk.corners)
    faults: dict[Corner, str] = {}

    def write_if_grown() -> None:
        """Merge into the table on disk, under its lock, re-read there: corners another sweep wrote meanwhile and
        this one does not simulate are kept as they are."""
        nonlocal written
        if not held <= set(finished):
            return  # the table on disk has corners this sweep has not finished yet: keep it until it does
        with table_lock(csv_path):
            now = read_committed(csv_path)
            table = {**{c: r for c, r in now.records().items() if c not in finished}, **finished}
            if not table:
                return  # nothing finished: no table rather than an empty one
            for process in {c.process for c in table} - set(decks):  # corners another sweep added
                decks[process] = simulated_model_deck(setup.models, process, macro.devices,
                                                      simulated.path.read_text(), settings.cache_dir)
            frame, provenance = _table(table, info, counts, time.perf_counter() - start)
            text = table_csv_text(frame)
            same_keys = (set(provenance["points"]), set(provenance["read_retries"])) == (set(now.points),
                                                                                          set(now.retries))
            if csv_path.exists() and text == now.csv_text and same_keys:
                return  # nothing new: the committed table stays byte for byte
            write_table(text, provenance, csv_path)
            written = True

    # the table's own corners first: the table is rewritten only once it holds all of them again
    todo.sort(key=lambda args: args[0].corner not in held)
    run = dict(backend=backend, scheduler=scheduler, jobs=jobs, progress=progress)
    by_key = {args[2]: args[0].corner for args in todo}
    for result in _parallel(_corner_worker, todo, macro.name, len(corners), len(finished), **run):
        corner = by_key[result.key]
        if result.error is not None:
            faults[corner] = result.error
            held.discard(corner)  # not simulated now: the table keeps what it held of it
            continue
        finished[corner] = (result.point, result.retry)
        counts["points"] += result.simulated_point
        counts["retries"] += result.simulated_retry
        write_if_grown()
    write_if_grown()
    frame, _ = _table(finished, info, counts, 0.0)
    return SweepOutcome(csv_path, csv_path.with_suffix(".json"), len(finished), counts["points"],
                        int((frame["status"] != "ok").sum()) if len(frame) else 0, time.perf_counter() - start,
                        sum(r is not None for _, r in finished.values()), counts["retries"], written,
                        tuple((c.name, faults[c]) for c in sorted(faults, key=corner_order)))  # fmt: skip


@dataclass(frozen=True)
class TableContext:
    """What a sweep's table says besides its corners' records: the macro and how it was simulated."""

    macro: Macro
    sp_path: Path
    models: ModelLibrary
    decks: dict  #: process -> (reduced model deck path, ReducedDeck)
    trim_info: dict | None
    sim_sha: str
    measurement_version: int
    ngspice: str
    options: tuple[str, ...]
    period: float


def _table(finished: dict, info: TableContext, counts: dict, wall_s: float) -> tuple[pd.DataFrame, dict]:
    """The tidy table and its provenance for the finished corners (pure)."""
    macro = info.macro
    corners = sorted(finished, key=corner_order)
    rows = []
    for corner in corners:
        rec, retry = finished[corner]
        for row in merge(rec.rows, retry):
            rows.append({"macro": macro.name, "process": corner.process, "vdd_v": corner.vdd_v,
                         "temp_c": corner.temp_c, **row.as_dict(), "point_key": rec.key})  # fmt: skip
    frame = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    decks, trim_info = info.decks, info.trim_info
    processes = [p for p in PROCESSES if any(c.process == p for c in corners)]
    provenance = {
        "macro": macro.name,
        "word_size": macro.word_size,
        "num_words": macro.words,
        "words_per_row": macro.words_per_row,
        "cosim_version": __version__,
        "ngspice_version": info.ngspice,
        "simulator": "ngspice batch process (ngspice -b), one per deck: cosim.sim.ngspice",
        "models": {
            "source": info.models.source,
            "library": info.models.lib_file.name,
            "decks_sha256": {p: decks[p][1].models_sha256 for p in processes},
            "files": {p: list(decks[p][1].files) for p in processes},
            # what ngspice read: the deck less the size bins no instance falls in and the parameters nothing refers
            # to (cosim.pdk.reduce.prune_bins, prune_params)
            "simulated_decks_sha256": {p: decks[p][1].sha256 for p in processes},
            "size_bins_kept": {p: decks[p][1].bins_kept for p in processes if decks[p][1].bins_dropped},
            "param_lines_kept": {p: decks[p][1].params_kept for p in processes if decks[p][1].params_dropped},
        },
        "netlist": str(info.sp_path.name),
        "netlist_sha256": _sha_file(info.sp_path),
        "trimmed": trim_info is not None,
        "trimmed_netlist_sha256": info.sim_sha if trim_info is not None else None,
        "trim": trim_info,
        "wall_s": round(wall_s, 2),  # the writing call's wall time (corners taken from a cache cost nothing here)
        "key_schema": keys.KEY_SCHEMA,
        "measurement_version": info.measurement_version,
        "options": list(info.options),
        "nominal_period_s": info.period,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "grid": {"process": processes, "vdd_v": sorted({c.vdd_v for c in corners}),
                 "temp_c": sorted({c.temp_c for c in corners})},  # fmt: skip
        #: corners of that grid's product not in the table yet (a sweep still under way)
        "missing_corners": missing_corners(corners),
        "points": {
            rec.key: {"corner": rec.corner.name, "wall_s": round(rec.wall_s, 2), "runs": rec.runs,
                      "retries": rec.retries, "decks_sha256": dict(rec.decks)}
            for rec, _ in (finished[c] for c in corners)
        },  # fmt: skip
        "read_retries": {
            retry.key: {"corner": retry.corner.name, "wall_s": round(retry.wall_s, 2), "runs": retry.runs,
                        "retries": retry.retries, "decks_sha256": dict(retry.decks),
                        "read_cycle": retry.read_cycle.as_dict()}
            for _, retry in (finished[c] for c in corners) if retry is not None
        },  # fmt: skip
        "simulated_points": counts["points"],
        "simulated_read_retries": counts["retries"],
    }
    return frame, provenance
