"""Images/s of the INT8 engine vs torch fp32 eval vs torch.ao fbgemm int8, on LeNet-5 (committed weights),
batch 256, real MNIST test images, one thread by default. Prints a table and the ratios.

    python bench/engine.py [--batch 256] [--batches 20] [--threads 1] [--model lenet5]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def images_per_second(fn, batches: list[torch.Tensor], repeats: int) -> float:
    fn(batches[0])  # warm-up (allocations, packing)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            fn(batch)
        best = min(best, time.perf_counter() - start)
    return sum(len(b) for b in batches) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from cosim.config import load_settings
    from cosim.data import load_dataset
    from cosim.engine import quantize_trained, run
    from cosim.engine.reference import build_twin, run_twin
    from cosim.models import load_trained

    settings = load_settings()
    model, meta = load_trained(args.model)
    qmodel = quantize_trained(args.model, settings)
    twins = build_twin(qmodel)
    data = load_dataset(meta["dataset"], "test", settings)
    batches = [data.images[i * args.batch:(i + 1) * args.batch] for i in range(args.batches)]
    batches = [b for b in batches if len(b)]

    def fp32(batch):
        with torch.no_grad():
            return model(batch)

    rates = {
        "torch_fp32": images_per_second(fp32, batches, args.repeats),
        "cosim_int8": images_per_second(lambda b: run(qmodel, b), batches, args.repeats),
        "cosim_int8_record": images_per_second(lambda b: run(qmodel, b, record=True), batches, args.repeats),
        "torch_ao_fbgemm_int8": images_per_second(lambda b: run_twin(qmodel, twins, b, keep=False), batches,
                                                  args.repeats),
    }
    ratios = {f"{k}/torch_fp32": v / rates["torch_fp32"] for k, v in rates.items() if k != "torch_fp32"}
    if args.json:
        print(json.dumps({"model": args.model, "batch": args.batch, "threads": args.threads, "images_per_s": rates,
                          "ratios": ratios}))
        return
    print(f"{args.model}, batch {args.batch}, {sum(map(len, batches))} images x {args.repeats}, "
          f"{args.threads} thread(s), best of {args.repeats}")
    for name, rate in rates.items():
        print(f"  {name:24s} {rate:10.0f} images/s")
    for name, ratio in ratios.items():
        print(f"  {name:36s} {ratio:6.2f}x")
    slowdown = rates["torch_fp32"] / rates["cosim_int8"]
    print(f"  engine time / torch fp32 time: {slowdown:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
