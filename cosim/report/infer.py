"""One co-simulation run: quantized model x dataset x accelerator x corner -> every access charged from the tables.

The images are run in batches through cosim.engine.run(record=True); each batch's recorded layer inputs/outputs
are charged by the memory model (vectorised) and, where the corner's bit-error rate is > 0, the engine reads
through a seeded BitErrorHook. Nothing here invents a number: SRAM figures come from table rows, off-chip and MAC
energies from the accelerator file (marked NOT SPICE-derived), accuracy from the labels.
"""

from __future__ import annotations

import hashlib
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
from cosim.memory.biterrors import BitErrorHook
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
    seed: int = 0  #: bit-error generator seed (per corner it is combined with the corner name) and subset seed
    bit_errors: bool = True  #: inject the corner's BER into the engine's reads


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


def bit_widths(layers) -> dict:
    out = {}
    for L in layers:
        out[(L.name, "input")] = int(L.input_bits)
        if L.weight is not None:
            out[(L.name, "weight")] = int(L.weight_bits)
    return out


def run_inference(spec: InferSpec, settings: Settings | None = None, *,
                  progress: Callable[[int], None] | None = None, on_start: Callable[[int], None] | None = None,
                  qmodel=None, data=None, tables: Mapping[str, CharacterizationTable] | None = None) -> InferResult:
    """Run ``spec``; ``on_start(n_images)`` once inputs are loaded, ``progress(n)`` after each batch of n images.
    ``qmodel``, ``data`` and ``tables`` (macro -> table) skip loading what the caller already holds."""
    from cosim.engine import quantize_trained, run
    from cosim.data import load_dataset

    t0 = time.perf_counter()
    if spec.batch_size < 1 or (spec.limit is not None and spec.limit < 1):
        raise ConfigError(f"batch_size ({spec.batch_size}) and limit ({spec.limit}) must be at least 1 image")
    settings = load_settings() if settings is None else settings
    acc = load_accelerator(spec.accelerator)
    if spec.macro:
        acc = acc.with_macro(spec.macro)
    if spec.banks:
        acc = acc.with_banks(*spec.banks)
    tw, kw = load_costs(settings, acc.weights.macro, spec.corner, tables)
    ta, ka = (tw, kw) if acc.activations.macro == acc.weights.macro else load_costs(
        settings, acc.activations.macro, spec.corner, tables)
    extra = {}
    dataset = spec.dataset
    if qmodel is None:
        from cosim.models import load_trained, weights_path

        _, meta = load_trained(spec.model)
        dataset = dataset or meta["dataset"]
        wp = weights_path(spec.model)
        extra = {"model_file": str(wp), "model_file_sha256": hashlib.sha256(wp.read_bytes()).hexdigest(),
                 "model_metadata": {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool))}}
        qmodel = quantize_trained(spec.model, settings)
    if data is None:
        data = load_dataset(dataset, "test", settings)
        if spec.limit is not None:
            data = data.subset(spec.limit, seed=spec.seed)
    images, labels = data.images, data.labels
    ber = max(kw.bit_error_rate, ka.bit_error_rate) if spec.bit_errors else 0.0
    seed = int.from_bytes(hashlib.sha256(f"{spec.seed}:{spec.corner.name}".encode()).digest()[:8], "little")
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
    # batch k flips bits from child k of the run's seed: the same flips however many batches run at once
    batch_seeds = np.random.SeedSequence(seed).spawn(len(starts))
    hooks = [BitErrorHook(ber, s, bits) if ber > 0 else None for s in batch_seeds]

    # Batches run side by side, one per core, each engine call on one torch thread: on 2 cores two single-threaded
    # pipelines (engine, then charging the batch while its codes are still in that core's cache) beat one pipeline
    # whose every torch op and count is split over both cores (LeNet-5 on MNIST's 10,000 test images, same engine
    # kernels: 0.23-0.26 s against 0.26-0.32 s in batches of 500, 0.34-0.37 s against 0.39-0.41 s in batches of
    # 1000). Batch k's charging needs the activation memory's content after batch k - 1, which depends only
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
        bits_read=sum(h.bits_read for h in hooks if h), bits_flipped=sum(h.bits_flipped for h in hooks if h),
        model_sha256=_model_hash(qmodel), dataset_source=str(data.source),
        wall_s=time.perf_counter() - t0, engine_s=t_engine, memory_s=t_mem,
        extra={"ber_seed": seed, "ber_applied": ber, "dataset": dataset or data.name, **extra},
    )
