"""The product's verb: simulate a model on a dataset held in SRAM macros at a corner -> every access charged from
the tables. `simulate(model, data, hardware, corner, options)` is the public front door (`cosim.simulate`);
`run_inference(InferSpec)` is the stage underneath it, which the CLI's sweeps and the benchmarks call directly.

What is simulated (model, data, `Hardware`, corner) is kept apart from how it is run (`RunOptions`: batch size,
seed, subset, calibration count), as VlsirTools keeps Sim apart from SimOptions.

The images are run in batches through cosim.engine.run(record=True); each batch's recorded layer inputs/outputs
are charged by the memory model (vectorised) and, where the macro's Monte Carlo table gives the corner cell
failures, the engine reads through the chip's fault map (cosim.memory.faults). Nothing here invents a number:
SRAM figures come from table rows, off-chip and MAC energies from the accelerator file (marked NOT SPICE-derived),
accuracy from the labels. A corner where a macro
cannot hold the network (its writes fail, or its reads fail at every clock the table tried) raises
cosim.errors.UnusableCorner before any work; one where reads pass only at a slower clock runs at that clock.
"""

from __future__ import annotations

import hashlib
import sys
import types
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch

from cosim.config import Settings, load_settings
from cosim.errors import ConfigError
from cosim.memory.accelerator import Accelerator, load_accelerator
from cosim.memory.faults import (FAULT_MODELS, NO_FAILURES, CellFailureRates, PerAccessHook, cell_failure_rates,
                                  chip_faults, chip_seed)
from cosim.memory.ledger import COMPONENTS
from cosim.memory.system import (MemorySystem, build_system, charge_batch, initial_act_state, next_act_state,
                                 preload_energy)
from cosim.table import AccessCosts, CharacterizationTable, table_path
from cosim.types import Corner


@dataclass(frozen=True)
class InferSpec:
    model: str = "digits"
    dataset: str | None = None  #: None: the dataset the model was trained on (its metadata)
    macro: str | None = None  #: overrides both memories' macro of the accelerator file
    corner: Corner = Corner("tt", 1.8, 25.0)
    accelerator: Path | None = None  #: None: cosim/memory/default_accelerator.toml
    banks: tuple[int, int] | None = None  #: (weights, activations): overrides the accelerator file's bank counts
    limit: int | None = None  #: first N test images (seeded subset)
    batch_size: int = 500  #: images per engine call; batches run side by side, one per core
    seed: int = 0  #: subset seed; with `chip`, the chip's fault map; per corner, the per-access generator's
    bit_errors: bool = True  #: inject the corner's cell failures (Monte Carlo table) into the engine's reads
    fault_model: str = "map"  #: "map": a chip instance's persistent fault map; "per_access": fresh flips per read
    chip: int = 0  #: which chip instance (its fault map is drawn from seed and chip, the same at every corner; per
    #: access, which draw)


@dataclass(frozen=True)
class InferResult:
    spec: InferSpec
    acc: Accelerator
    system: MemorySystem
    tables: tuple[CharacterizationTable, ...]
    labels: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    classes: tuple[str, ...]
    energy_per_image_j: np.ndarray  #: [N] everything charged to that image (without the once-per-run preload)
    layer_energy_j: dict  #: component -> [L] summed over images
    layer_names: tuple[str, ...]
    layer_ops: tuple[str, ...]
    counts: dict  #: totals over the run: sram_reads, sram_writes, offchip_bytes per layer [L], and per memory
    preload: dict
    bits_read: int
    bits_flipped: int
    model_sha256: str
    dataset_source: str
    wall_s: float
    engine_s: float  #: summed over the batches, which run side by side: engine_s + memory_s can exceed wall_s
    memory_s: float
    extra: dict = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return int(self.labels.size)


def _model_hash(qmodel) -> str:
    h = hashlib.sha256()
    for layer in qmodel.layers:
        h.update(layer.name.encode())
        for t in (layer.weight, layer.bias, layer.fixed_multiplier, layer.fixed_shift):
            if t is not None:
                h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def load_costs(settings: Settings, macro: str, corner: Corner,
               tables: Mapping[str, CharacterizationTable] | None = None) -> tuple[CharacterizationTable, AccessCosts]:
    """The macro's table (from ``tables`` when the caller loaded it already, else from the characterization dir)
    and its access costs at ``corner``."""
    table = tables.get(macro) if tables else None
    if table is None:
        table = CharacterizationTable.load(table_path(settings.characterization_dir, macro))
    return table, table.access_costs(corner)


def _accelerator(spec: InferSpec) -> Accelerator:
    acc = load_accelerator(spec.accelerator)
    if spec.macro:
        acc = acc.with_macro(spec.macro)
    if spec.banks:
        acc = acc.with_banks(*spec.banks)
    return acc


def check_corner(spec: InferSpec, settings: Settings | None = None,
                 tables: Mapping[str, CharacterizationTable] | None = None) -> None:
    """Refuse now, before a model is loaded or calibrated, a corner the tables cannot run ``spec`` at: one where a
    macro is unusable (cosim.errors.UnusableCorner: writes fail, reads fail at every clock tried), one between grid
    points that disagree on pass/fail (InterpolationRefused) or outside the grid (TableRangeError)."""
    settings = load_settings() if settings is None else settings
    acc = _accelerator(spec)
    for macro in dict.fromkeys((acc.weights.macro, acc.activations.macro)):
        load_costs(settings, macro, spec.corner, tables)


def failure_rates(settings: Settings, acc: Accelerator, spec: InferSpec, kw: AccessCosts, ka: AccessCosts
                  ) -> tuple[CellFailureRates, CellFailureRates]:
    """The weight and activation memories' cell failure rates at the run's corner (none with bit errors off)."""
    if not spec.bit_errors:
        return NO_FAILURES, NO_FAILURES
    rw = cell_failure_rates(settings.characterization_dir, acc.weights.macro, spec.corner, kw.bit_error_rate)
    ra = rw if (acc.activations.macro == acc.weights.macro and ka.bit_error_rate == kw.bit_error_rate) else \
        cell_failure_rates(settings.characterization_dir, acc.activations.macro, spec.corner, ka.bit_error_rate)
    return rw, ra


def fault_summary(spec: InferSpec, rates_w: CellFailureRates, rates_a: CellFailureRates, faults) -> dict:
    """What the run injected: the model, the rates per memory and where they come from, the chip's weak cells."""
    active = rates_w.any or rates_a.any
    out = {"model": (spec.fault_model if active else "none"), "chip": spec.chip, "memories": {}}
    for name, rates, fmap in (("weights", rates_w, faults and faults.weights),
                              ("activations", rates_a, faults and faults.activations)):
        m = {"one_reads_zero": rates.one_reads_zero, "zero_reads_one": rates.zero_reads_one,
             "sense_one_reads_zero": rates.sense_one_reads_zero, "sense_zero_reads_one": rates.sense_zero_reads_one,
             "source": rates.source, "montecarlo_ops": dict(rates.ops), "montecarlo_period_s": rates.period_s}
        if fmap:
            (w0, w1), (s0, s1) = fmap.weak_cells, fmap.weak_sense_amps
            m |= {"cells": fmap.words * fmap.word_bits, "weak_cells_read_0_holding_1": w0,
                  "weak_cells_read_1_holding_0": w1, "sense_amps": fmap.banks * fmap.word_bits,
                  "weak_sense_amps_read_0_holding_1": s0, "weak_sense_amps_read_1_holding_0": s1}
        out["memories"][name] = m
    return out


def bits_read_by(layers, bits: dict, images: int, batches: int) -> int:
    """The bits the engine's reads take from SRAM over a run (what a read hook sees): every input code once per
    image, every weight code once per batch."""
    per_image = sum(int(x[0].numel()) * bits[(L.name, "input")] for L in layers
                    for x in (L.input, *getattr(L, "extra_inputs", ())) if x.dim())
    per_batch = sum(int(L.weight.numel()) * bits[(L.name, "weight")] for L in layers if L.weight is not None)
    return images * per_image + batches * per_batch


def bit_widths(layers) -> dict:
    out = {}
    for L in layers:
        out[(L.name, "input")] = int(L.input_bits)
        if L.weight is not None:
            out[(L.name, "weight")] = int(L.weight_bits)
    return out


def committed_model(name: str, settings: Settings):
    """A committed model (cosim/models) quantized as runs use it, the dataset it was trained on, and its provenance
    (the weights file and its sha256, the training metadata)."""
    from cosim.engine import quantize_trained
    from cosim.models import load_trained, weights_path

    _, meta = load_trained(name)
    wp = weights_path(name)
    source = {"model_file": str(wp), "model_file_sha256": hashlib.sha256(wp.read_bytes()).hexdigest(),
              "model_metadata": {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool))}}
    return quantize_trained(name, settings), meta["dataset"], source


def run_inference(spec: InferSpec, settings: Settings | None = None, *,
                  progress: Callable[[int], None] | None = None, on_start: Callable[[int], None] | None = None,
                  qmodel=None, data=None, tables: Mapping[str, CharacterizationTable] | None = None,
                  source: Mapping | None = None) -> InferResult:
    """Run ``spec``; ``on_start(n_images)`` once inputs are loaded, ``progress(n)`` after each batch of n images.
    ``qmodel``, ``data`` and ``tables`` (macro -> table) skip loading what the caller already holds; ``source``
    (model_file, its sha256, ...) is the provenance of a ``qmodel`` the caller built."""
    from cosim.engine import run
    from cosim.data import load_dataset

    t0 = time.perf_counter()
    if spec.batch_size < 1 or (spec.limit is not None and spec.limit < 1):
        raise ConfigError(f"batch_size ({spec.batch_size}) and limit ({spec.limit}) must be at least 1 image")
    settings = load_settings() if settings is None else settings
    acc = _accelerator(spec)
    tw, kw = load_costs(settings, acc.weights.macro, spec.corner, tables)
    ta, ka = (tw, kw) if acc.activations.macro == acc.weights.macro else load_costs(
        settings, acc.activations.macro, spec.corner, tables)
    extra = dict(source or {})
    dataset = spec.dataset
    if qmodel is None:
        qmodel, trained_on, extra = committed_model(spec.model, settings)
        dataset = dataset or trained_on
    if data is None:
        data = load_dataset(dataset, "test", settings)
        if spec.limit is not None:
            data = data.subset(spec.limit, seed=spec.seed)
    images, labels = data.images, data.labels
    if spec.fault_model not in FAULT_MODELS:
        raise ConfigError(f"fault model {spec.fault_model!r}: use one of {', '.join(FAULT_MODELS)}")
    rates_w, rates_a = failure_rates(settings, acc, spec, kw, ka)
    # the per-access draws: one stream per (seed, chip, corner); a chip's fault map does not depend on the corner
    seed = int.from_bytes(hashlib.sha256(f"{spec.seed}:{spec.chip}:{spec.corner.name}".encode()).digest()[:8],
                          "little")
    N = len(labels)
    if on_start is not None:
        on_start(N)
    # a clean recording of one image fixes the layer shapes, the code widths and the stored weights (a read error
    # does not change what the cells hold, so the weight reads are charged by the stored words)
    te = time.perf_counter()
    probe = run(qmodel, images[:1], record=True)
    t_engine = time.perf_counter() - te
    tm = time.perf_counter()
    system = build_system(probe.layers, acc, kw, ka)
    t_mem = time.perf_counter() - tm
    layer_names = tuple(L.name for L in probe.layers)
    layer_ops = tuple(L.op for L in probe.layers)
    bits = bit_widths(probe.layers)
    starts = list(range(0, N, spec.batch_size))
    faults = None
    if not (rates_w.any or rates_a.any):
        hooks = [None] * len(starts)
    elif spec.fault_model == "map":
        faults = chip_faults(system.plan, probe.layers, rates_w, rates_a, chip_seed(spec.seed, spec.chip),
                             (system.acc.weights.banks, system.acc.activations.banks))
        # no weak cell under any read: the engine's fast path (its reads are what is stored)
        hooks = [faults.hook(bits) if faults.any else None for _ in starts]
    else:
        # batch k flips bits from child k of the run's seed: the same flips however many batches run at once
        hooks = [PerAccessHook(rates_w, rates_a, s, bits) for s in np.random.SeedSequence(seed).spawn(len(starts))]

    # Batches run side by side, one per core, each engine call on one torch thread: single-threaded pipelines
    # (engine, then charging the batch while its codes are still in that core's cache) beat one pipeline whose every
    # torch op and count is split over the cores (bench/infer.py). Batch k's charging needs the activation memory's content after batch k - 1, which depends only
    # on batch k - 1's recorded codes, not on its counts: each job hands the next one that content as soon as its
    # engine run is done, so the charging of one batch overlaps the engine run of the next.
    workers = max(1, torch.get_num_threads())
    concurrent = max(1, min(workers, len(starts)))
    threads_per_batch = max(1, workers // concurrent)
    states: list[Future] = [Future() for _ in range(len(starts) + 1)]
    states[0].set_result(initial_act_state(system))

    def job(k: int, inner_pool) -> tuple:
        try:
            x = images[starts[k]:starts[k] + spec.batch_size]
            t0 = time.perf_counter()
            res = run(qmodel, x, record=True, read_hook=hooks[k])
            t1 = time.perf_counter()
            state = states[k].result()
            states[k + 1].set_result(next_act_state(system, res.layers, state))
            ch, _, ca, _ = charge_batch(system, res.layers, state, k == 0, inner_pool, threads_per_batch)
            t2 = time.perf_counter()
            confidence = torch.softmax(res.logits, dim=1).max(dim=1).values.numpy()
            return ch, ca, len(x), res.predictions.numpy(), confidence, t1 - t0, t2 - t1
        finally:
            if not states[k + 1].done():  # a failed job must not leave the next one waiting for ever
                states[k + 1].set_exception(RuntimeError(f"batch {k} failed"))

    preds, confs, batches = [], [], []  # batches: (Charged, MemoryCounts act, images) per batch, in order
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads_per_batch)  # process-wide in torch; restored below
    try:
        with ThreadPoolExecutor(max_workers=concurrent) as pool, \
                ThreadPoolExecutor(max_workers=threads_per_batch) as inner_pool:
            futures = [pool.submit(job, k, inner_pool) for k in range(len(starts))]
            for f in futures:
                ch, ca, n, p, c, dt_engine, dt_mem = f.result()
                batches.append((ch, ca, n))
                preds.append(p)
                confs.append(c)
                t_engine += dt_engine
                t_mem += dt_mem
                if progress is not None:
                    progress(n)
    finally:
        torch.set_num_threads(threads_before)
    e_img = []
    layer_e = None
    reads = writes = offb = None
    for ch, ca, n in batches:
        e_img.append(ch.energy_per_image_j)
        le = {c: ch.energy[c].sum(axis=0) for c in COMPONENTS}
        layer_e = le if layer_e is None else {c: layer_e[c] + le[c] for c in COMPONENTS}
        reads = ch.sram_reads * n + (0 if reads is None else reads)
        writes = ch.sram_writes * n + (0 if writes is None else writes)
        offb = ch.offchip_bytes * n + (0 if offb is None else offb)
        last = ch
    counts = {"sram_reads": reads, "sram_writes": writes, "offchip_bytes": offb,
              "cycles": last.cycles, "latency_s": last.latency_s, "stall_s": last.stall_s, "holds": last.holds,
              "weight_reads": system.weight_counts.reads, "weight_writes": system.weight_counts.writes,
              "act_reads": ca.reads, "act_writes": ca.writes}
    return InferResult(
        spec=spec, acc=acc, system=system, tables=(tw,) if ta is tw else (tw, ta),
        labels=labels.numpy(), predictions=np.concatenate(preds), confidence=np.concatenate(confs),
        classes=tuple(data.classes), energy_per_image_j=np.concatenate(e_img), layer_energy_j=layer_e,
        layer_names=layer_names, layer_ops=layer_ops,
        counts=counts, preload=preload_energy(system),
        bits_read=bits_read_by(probe.layers, bits, N, len(starts)) if (rates_w.any or rates_a.any) else 0,
        bits_flipped=sum(h.bits_flipped for h in hooks if h),
        model_sha256=_model_hash(qmodel), dataset_source=str(data.source),
        wall_s=time.perf_counter() - t0, engine_s=t_engine, memory_s=t_mem,
        extra={"ber_seed": seed, "ber_applied": max(*rates_w.per_bit, *rates_a.per_bit),
               "faults": fault_summary(spec, rates_w, rates_a, faults), "dataset": dataset or data.name, **extra},
    )


# --- the public verb ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hardware:
    """The accelerator the model runs on: its TOML file (None: cosim/memory/default_accelerator.toml), optionally
    both memories built from one `macro` and with `banks` (weights, activations) banks; whether the corner's cell
    failures (the macro's Monte Carlo table) are injected into reads, as a chip instance's fault map
    (`fault_model="map"`, instance `chip`) or as fresh flips per read ("per_access")."""

    accelerator: Path | None = None
    macro: str | None = None
    bit_errors: bool = True
    banks: tuple[int, int] | None = None
    fault_model: str = "map"
    chip: int = 0

    @classmethod
    def load(cls, accelerator: str | Path | None = None, *, macro: str | None = None,
             bit_errors: bool = True, banks: tuple[int, int] | None = None, fault_model: str = "map",
             chip: int = 0) -> "Hardware":
        """Check the accelerator file (and macro name) now, so a typo fails before any simulation."""
        path = Path(accelerator) if accelerator is not None else None
        acc = load_accelerator(path)
        if macro:
            acc = acc.with_macro(macro)
        if banks:
            acc.with_banks(*banks)
        if fault_model not in FAULT_MODELS:
            raise ConfigError(f"fault_model {fault_model!r}: use one of {', '.join(FAULT_MODELS)}")
        return cls(path, macro, bit_errors, None if banks is None else (int(banks[0]), int(banks[1])), fault_model,
                   int(chip))


@dataclass(frozen=True)
class RunOptions:
    """How a simulation is run; none of these change what is simulated, except `limit` (a seeded subset) and
    `calibration` (how many images set the activation ranges)."""

    batch_size: int = 500  #: images per engine call; batches run side by side, one per core
    seed: int = 0  #: subset, calibration split and bit-error seed
    limit: int | None = None  #: a seeded subset of N evaluation images
    calibration: int = 512  #: calibration images (from `calibration_data`, else a seeded split held out of the data)


def parse_corner(corner: "str | Corner") -> Corner:
    """'tt/1.8/25' (process/vdd/temperature) or a Corner."""
    return corner if isinstance(corner, Corner) else Corner.parse(corner)


def _as_dataset(data, preprocess, settings, what: str = "data"):
    """A Dataset from a name/path, a Dataset, an (images, labels) pair or a DataLoader of such pairs."""
    from cosim.data import Dataset
    from cosim.data.user import Preprocess, load_data

    if data is None:
        return None
    if isinstance(data, Dataset):
        return data if preprocess is None else Dataset(data.name, data.split, preprocess.apply(data.images, what),
                                                       data.labels, data.classes, data.source)
    if isinstance(data, (str, Path)):
        return load_data(data, preprocess or Preprocess(), "test", settings)
    if isinstance(data, torch.utils.data.DataLoader):
        xs, ys = zip(*[(x, y) for x, y in data])
        data = (torch.cat(xs), torch.cat(ys))
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = torch.as_tensor(data[0]).float(), torch.as_tensor(data[1]).long()
        classes = tuple(str(c) for c in range(int(y.max()) + 1)) if len(y) else ()
        ds = Dataset("tensors", "all", x, y, classes, f"in-memory tensors {tuple(x.shape)}")
        return ds if preprocess is None else _as_dataset(ds, preprocess, settings, what)
    raise ConfigError(f"{what}: pass a dataset name, a folder/.npz path, a cosim Dataset, (images, labels) tensors "
                      f"or a DataLoader, not {type(data).__name__}")


def _check_shapes(module, name: str, data, classes: int) -> None:
    """Run the float model on one image: a model/data mismatch is one line here, not a matmul error later."""
    try:
        with torch.no_grad():
            out = module(data.images[:1])
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{name} cannot take the images of {data.name}, shape {tuple(data.images.shape[1:])} "
                          f"({text[:200]}); resize them to what the model was trained on with --input-size H,W "
                          f"(Python: cosim.Preprocess(input_size=...))") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise ConfigError(f"{name} returns {type(out).__name__} {tuple(getattr(out, 'shape', ()))}; it must return "
                          f"logits [N, classes]")
    if out.shape[1] < classes:
        raise ConfigError(f"{name} has {out.shape[1]} outputs but {data.source} has {classes} classes; use data with "
                          f"at most {out.shape[1]} classes or a model with one output per class")


def prepare_model(model, data, *, weights=None, calibration_data=None, calibration: int = 512, seed: int = 0,
                  preprocess=None, settings: Settings | None = None):
    """Load and quantize `model` for `data`: (QuantizedModel, LoadedModel, evaluation Dataset, calibration note).

    Without `calibration_data`, `calibration` seeded images are held out of `data` (a named dataset calibrates on
    its train split, as the committed models do) and the rest is evaluated."""
    from cosim.data import Dataset, load_dataset
    from cosim.engine import QuantizedModel, quantize
    from cosim.engine.graph import lower
    from cosim.models.user import LoadedModel, load_model

    if isinstance(model, QuantizedModel):
        return model, LoadedModel(name="QuantizedModel", module=torch.nn.Identity()), data, "given"
    loaded = model if isinstance(model, LoadedModel) else (
        LoadedModel(name=type(model).__name__, module=model.eval(), source={"class": type(model).__name__})
        if isinstance(model, torch.nn.Module) else load_model(model, weights))
    if data is None:
        if loaded.dataset is None:
            raise ConfigError(f"{loaded.name}: name the data to run it on (a dataset name, a folder, an .npz)")
        data = loaded.dataset
    named = isinstance(data, str) and not Path(data).exists()
    dataset = _as_dataset(data, preprocess, settings)
    if calibration < 1:
        raise ConfigError(f"calibration ({calibration}) must be at least 1 image")
    cal = _as_dataset(calibration_data, preprocess, settings, "calibration data")
    note = ""
    if cal is not None:
        cal_images = cal.images[torch.randperm(len(cal), generator=torch.Generator().manual_seed(seed))[:calibration]]
        note = f"{min(calibration, len(cal))} seeded images of {cal.source}"
    elif named:
        train = load_dataset(str(data), "train", settings)
        if preprocess is not None:
            train = _as_dataset(train, preprocess, settings)
        index = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:calibration]
        cal_images = train.images[index]
        note = f"{len(index)} seeded images of {train.source} (train split)"
    else:
        if len(dataset) < 2:
            raise ConfigError(f"{dataset.source}: needs at least 2 images (calibration and evaluation)")
        n_cal = min(calibration, max(1, len(dataset) // 5))
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
        cal_images = dataset.images[order[:n_cal]]
        rest = order[n_cal:].sort().values
        dataset = Dataset(dataset.name, dataset.split, dataset.images[rest], dataset.labels[rest], dataset.classes,
                          f"{dataset.source} (minus {n_cal} seeded calibration images)")
        note = f"{n_cal} seeded images held out of {dataset.source.split(' (minus')[0]}, not evaluated"
    module = loaded.module_for(dataset.images[:1])
    _check_shapes(module, loaded.name, dataset, len(dataset.classes))
    lower(module, dataset.images[:1])  # an operation the engine cannot run is refused here, before calibration
    qmodel = quantize(module, cal_images.float())
    return qmodel, loaded, dataset, note


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """A finished simulation: headline figures as attributes, per-layer and per-class tables as DataFrames, the
    full report (every figure with its source) from `to_json()`, all files from `save(dir)`."""

    run: InferResult
    report: dict  #: the report.json content

    @property
    def accuracy(self) -> float:
        return self.report["accuracy"]

    @property
    def energy_per_inference_j(self) -> float:
        return self.report["energy_per_inference_j"]

    @property
    def latency_per_inference_s(self) -> float:
        return self.report["latency_per_inference_s"]

    @property
    def average_power_w(self) -> float:
        return self.report["average_power_w"]

    @property
    def n_images(self) -> int:
        return self.report["n_images"]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.run.classes

    @property
    def per_layer(self):
        import pandas as pd

        return pd.DataFrame(self.report["per_layer"])

    @property
    def per_class(self):
        import pandas as pd

        pc = self.report["per_class"]
        rows = pc if isinstance(pc, list) else [{"class": k, **v} for k, v in pc.items()]
        return pd.DataFrame(rows)

    def to_json(self) -> str:
        return json.dumps(self.report, indent=1)

    def save(self, out_dir: str | Path, *, plots: bool = False) -> Path:
        """report.json, per_image.csv (and PNGs with plots=True), written into a temporary folder beside
        `out_dir` and renamed into place: a crash leaves no half-written run."""
        from cosim.report.report import write_outputs  # report renders results; it is above this stage

        return write_atomically(Path(out_dir), lambda tmp: write_outputs(self.run, tmp, plots=plots))


def write_atomically(out_dir: Path, write: Callable[[Path], object]) -> Path:
    """Run `write(tmp)` on a fresh folder beside `out_dir`, then swap it into place (an old `out_dir` is replaced
    only once the new one is complete)."""
    import shutil
    import tempfile

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        write(tmp)
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            out_dir.rename(old / "previous")
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def simulate(model, data=None, hardware: Hardware | None = None, corner: "str | Corner" = "tt/1.8/25", *,
             options: RunOptions = RunOptions(), weights: str | Path | None = None, calibration_data=None,
             preprocess=None, settings: Settings | None = None,
             progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Run `model` on `data` with its weights and activations in the simulated SRAM of `hardware` at `corner`.

    model: an nn.Module, a committed name ("lenet5"), a .pt2 / TorchScript path, or "file.py:Class" with
    `weights`; data: a dataset name, an ImageFolder tree, an .npz (x, y), (images, labels) tensors or a DataLoader
    (None: a committed model's own dataset); `preprocess`: a cosim.Preprocess for images loaded from a name/path.
    A corner where a macro is unusable (its writes fail, or its reads fail at every clock the table tried) raises
    cosim.errors.UnusableCorner, one line naming the macro, the corner, the failed op and the fix.

    >>> import cosim, torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4 * 6 * 6, 10))
    >>> result = cosim.simulate(net, "digits", corner="tt/1.8/25", options=cosim.RunOptions(limit=20, calibration=64))
    >>> result.n_images, 0.0 <= result.accuracy <= 1.0, result.energy_per_inference_j > 0
    (20, True, True)
    """
    settings = load_settings() if settings is None else settings
    hardware = hardware or Hardware()
    corner = parse_corner(corner)
    # an unusable corner is refused before the model is loaded and calibrated
    check_corner(InferSpec(macro=hardware.macro, corner=corner, accelerator=hardware.accelerator,
                           banks=hardware.banks), settings)
    qmodel, loaded, dataset, note = prepare_model(
        model, data, weights=weights, calibration_data=calibration_data, calibration=options.calibration,
        seed=options.seed, preprocess=preprocess, settings=settings)
    if options.limit is not None:
        dataset = dataset.subset(options.limit, seed=options.seed)
    spec = InferSpec(model=loaded.name, dataset=dataset.name, macro=hardware.macro, corner=corner,
                     accelerator=hardware.accelerator, limit=options.limit, batch_size=options.batch_size,
                     seed=options.seed, bit_errors=hardware.bit_errors, banks=hardware.banks,
                     fault_model=hardware.fault_model, chip=hardware.chip)
    res = run_inference(spec, settings, progress=progress, qmodel=qmodel, data=dataset,
                        source={**loaded.source, "calibration": note})
    from cosim.report.report import build_report, clean  # the report's figures are the result's figures

    return SimulationResult(run=res, report=clean(build_report(res)))


class _VerbModule(types.ModuleType):
    """`cosim.simulate` names both this stage module and its verb: once the module is imported it is the package's
    attribute, so calling it calls the verb."""

    def __call__(self, *args, **kwargs) -> SimulationResult:
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _VerbModule
