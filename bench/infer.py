"""Benchmark: the co-simulation (LeNet-5, full MNIST test set, INT8 engine, every SRAM access charged from the
characterization table, bit errors injected at the corner's rate) against plain torch fp32 evaluation of the same
trained model on the same images. One run of each; prints both wall times and their ratio.

    python bench/infer.py [--macro sram_16x128] [--process tt --vdd 1.8 --temp 25] [--limit N]
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--macro", default="sram_16x128")
    ap.add_argument("--process", default="tt")
    ap.add_argument("--vdd", type=float, default=1.8)
    ap.add_argument("--temp", type=float, default=25.0)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()

    from cosim.config import load_settings
    from cosim.data import load_dataset
    from cosim.engine import quantize_trained
    from cosim.models import load_trained
    from cosim.report.infer import InferSpec, run_inference
    from cosim.types import Corner

    settings = load_settings()
    model, meta = load_trained(args.model)
    data = load_dataset(meta["dataset"], "test", settings)
    if args.limit:
        data = data.subset(args.limit)
    qmodel = quantize_trained(args.model, settings)  # calibration is set-up, not inference: outside both timings

    # warm-up (one batch each, untimed): the first call of a torch kernel pays one-time set-up (oneDNN primitives,
    # thread pool) that would otherwise land on whichever side runs first
    from cosim.engine import run

    with torch.inference_mode():
        model(data.images[:1000])
    run(qmodel, data.images[:1000])

    t = time.perf_counter()
    with torch.inference_mode():
        pred = torch.cat([model(x).argmax(1) for x in data.images.split(1000)])
    t_fp32 = time.perf_counter() - t
    acc_fp32 = float((pred == data.labels).float().mean())

    spec = InferSpec(model=args.model, dataset=meta["dataset"], macro=args.macro,
                     corner=Corner(args.process, args.vdd, args.temp), bit_errors=True)
    t = time.perf_counter()
    res = run_inference(spec, settings, qmodel=qmodel, data=data)
    t_cosim = time.perf_counter() - t
    acc_cosim = float((res.predictions == res.labels).mean())
    print(f"bench-infer: {args.model} on {len(data)} {meta['dataset']} test images, {args.macro} at {spec.corner.name}")
    print(f"  torch fp32 eval         {t_fp32:8.2f} s   accuracy {acc_fp32 * 100:.2f} %")
    print(f"  cosim (int8 + charged)  {t_cosim:8.2f} s   accuracy {acc_cosim * 100:.2f} %   "
          f"(engine {res.engine_s:.2f} s, memory model {res.memory_s:.2f} s, BER {res.extra['ber_applied']:.3g})")
    print(f"  ratio cosim / fp32      {t_cosim / t_fp32:8.2f} x   (target <= 1.25 x)")
    print(f"  of which charging         {res.memory_s:6.2f} s   (after each engine batch, counting split over the cores)")

    # the INT8 engine alone (no recording, no charging) on the same images: the floor of the co-simulation
    t = time.perf_counter()
    for x in data.images.split(1000):
        run(qmodel, x)
    t_engine = time.perf_counter() - t
    print(f"  int8 engine alone       {t_engine:8.2f} s   ratio engine / fp32 {t_engine / t_fp32:.2f} x, "
          f"cosim / engine {t_cosim / t_engine:.2f} x")


if __name__ == "__main__":
    main()
