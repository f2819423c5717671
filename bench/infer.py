"""Benchmark: the co-simulation (LeNet-5, full MNIST test set, INT8 engine, every SRAM access charged from the
characterization table, the corner's cell failures injected from the macro's Monte Carlo table) against plain torch
fp32 evaluation of the same trained model on the same images, in rounds of one run each; prints the wall times and
their ratio (medians).

    python bench/infer.py [--macro sram_16x128] [--process tt --vdd 1.8 --temp 25] [--banks W,A]
                          [--fault-model map|per_access] [--limit N] [--batch-size 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--macro", default="sram_16x128")
    ap.add_argument("--process", default="tt")
    ap.add_argument("--vdd", type=float, default=1.8)
    ap.add_argument("--temp", type=float, default=25.0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--banks", default=None, help="weight and activation banks, e.g. 3900,200 (default: the "
                                                  "accelerator file's)")
    ap.add_argument("--fault-model", default="map", choices=["map", "per_access"])
    ap.add_argument("--batch-size", type=int, default=500,
                    help="images per batch, both sides (cosim's default). At 1000 plain torch page-faults: glibc maps "
                         "its biggest buffers fresh and unmaps them at every free (122,510 minor faults per pass "
                         "over MNIST), so it takes 0.32 s instead of 0.18 s, which would flatter the ratio")
    ap.add_argument("--repeat", type=int, default=5,
                    help="rounds of (fp32, cosim, engine alone) timed back to back; the ratio is the median over the "
                         "rounds (a 2-core VM's speed swings by up to 2x from one second to the next, so one pair of "
                         "timings can land on different sides of a swing)")
    args = ap.parse_args()

    from cosim.config import load_settings
    from cosim.data import load_dataset
    from cosim.engine import quantize_trained
    from cosim.models import load_trained
    from cosim.simulate import InferSpec, run_inference
    from cosim.types import Corner

    settings = load_settings()
    model, meta = load_trained(args.model)
    data = load_dataset(meta["dataset"], "test", settings)
    if args.limit:
        data = data.subset(args.limit)
    qmodel = quantize_trained(args.model, settings)  # calibration is set-up, not inference: outside both timings
    from cosim.table import CharacterizationTable, table_path

    # so is reading the characterization table (a CSV parse, ~30 ms): the run charges from the loaded table
    tables = {args.macro: CharacterizationTable.load(table_path(settings.characterization_dir, args.macro))}

    spec = InferSpec(model=args.model, dataset=meta["dataset"], macro=args.macro,
                     corner=Corner(args.process, args.vdd, args.temp), bit_errors=True, batch_size=args.batch_size,
                     banks=tuple(int(b) for b in args.banks.split(",")) if args.banks else None,
                     fault_model=args.fault_model)

    # warm-up (one batch each, untimed): the first call of a torch kernel pays one-time set-up (oneDNN primitives,
    # thread pool) that would otherwise land on whichever side runs first, and the first count loads the compiled
    # counting kernel from numba's cache (compiles it, on a fresh clone)
    from cosim.engine import run

    with torch.inference_mode():
        model(data.images[:1000])
    run(qmodel, data.images[:1000])
    run_inference(spec, settings, qmodel=qmodel, data=data.subset(min(1000, len(data))), tables=tables)

    batches = data.images.split(args.batch_size)
    cores = torch.get_num_threads()

    def fp32_side_by_side():
        # plain torch laid out as cosim runs: one batch per core, one torch thread each (for comparison only)
        torch.set_num_threads(1)
        try:
            with torch.inference_mode(), ThreadPoolExecutor(cores) as pool:
                return list(pool.map(lambda x: model(x).argmax(1), batches))
        finally:
            torch.set_num_threads(cores)

    fp32_side_by_side()
    rounds = []  # (fp32 s, cosim s, engine s, memory model s, engine alone s, fp32 side by side s) per round
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        with torch.inference_mode():
            pred = torch.cat([model(x).argmax(1) for x in batches])
        t_fp32 = time.perf_counter() - t

        t = time.perf_counter()
        res = run_inference(spec, settings, qmodel=qmodel, data=data, tables=tables)
        t_cosim = time.perf_counter() - t

        # the INT8 engine alone (no recording, no charging) on the same images: the floor of the co-simulation
        t = time.perf_counter()
        for x in batches:
            run(qmodel, x)
        t_engine = time.perf_counter() - t

        t = time.perf_counter()
        fp32_side_by_side()
        rounds.append((t_fp32, t_cosim, res.engine_s, res.memory_s, t_engine, time.perf_counter() - t))
    acc_fp32 = float((pred == data.labels).float().mean())
    acc_cosim = float((res.predictions == res.labels).mean())
    r = np.array(rounds)
    med = np.median(r, axis=0)
    ratio = np.median(r[:, 1] / r[:, 0])
    print(f"bench-infer: {args.model} on {len(data)} {meta['dataset']} test images, {args.macro} at {spec.corner.name}; "
          f"batches of {args.batch_size}, medians of {len(r)} rounds")
    print(f"  torch fp32 eval         {med[0]:8.2f} s   accuracy {acc_fp32 * 100:.2f} %")
    print(f"  cosim (int8 + charged)  {med[1]:8.2f} s   accuracy {acc_cosim * 100:.2f} %   "
          f"(summed over the batches run side by side: engine {med[2]:.2f} s, memory model {med[3]:.2f} s)")
    faults = res.extra["faults"]
    weak = ", ".join(f"{name} {m['weak_cells_read_0_holding_1'] + m['weak_cells_read_1_holding_0']} weak of "
                     f"{m['cells']} cells, {m['weak_sense_amps_read_0_holding_1'] + m['weak_sense_amps_read_1_holding_0']}"
                     f" of {m['sense_amps']} sense amps" for name, m in faults["memories"].items() if "cells" in m)
    print(f"  faults                  {faults['model']}: {weak or 'no map'}; flipped {res.bits_flipped} of "
          f"{res.bits_read} bits read; rates from {faults['memories']['weights']['source']}")
    print(f"  ratio cosim / fp32      {ratio:8.2f} x   (target <= 1.25 x; per round: "
          f"{', '.join(f'{x:.2f}' for x in r[:, 1] / r[:, 0])})")
    print(f"  int8 engine alone       {med[4]:8.2f} s   ratio engine / fp32 {np.median(r[:, 4] / r[:, 0]):.2f} x, "
          f"cosim / engine {np.median(r[:, 1] / r[:, 4]):.2f} x   (no recording, no charging; torch's threads)")
    print(f"  fp32, cosim's layout    {med[5]:8.2f} s   (one batch per core, one torch thread each; "
          f"cosim / this {np.median(r[:, 1] / r[:, 5]):.2f} x)")

if __name__ == "__main__":
    main()
