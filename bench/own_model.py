"""Time to lower + calibrate a model, and charged-inference images/s (every SRAM access counted and charged from
the table, bit errors injected), for the test zoo's EfficientNet-B0-style net at 32x32 and for LeNet-5.

    python bench/own_model.py [--images 256] [--calibration 256] [--threads 1]

Prints one line per model from one run: lower_s, calibrate+quantize_s, images/s of `run_inference` (engine +
memory model) and of the bare engine, and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "engine"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--calibration", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from cosim.config import load_settings
    from cosim.data import Dataset, load_dataset
    from cosim.engine import quantize, run
    from cosim.engine.graph import lower
    from cosim.models import load_trained
    from cosim.simulate import InferSpec, run_inference
    from engine_helpers import set_batchnorm_from_data
    from zoo import EfficientNetB0

    settings = load_settings()
    torch.manual_seed(0)
    effnet = set_batchnorm_from_data(EfficientNetB0(width=0.25), torch.rand(32, 3, 32, 32))
    g = torch.Generator().manual_seed(0)
    rand = Dataset("random32", "all", torch.rand(args.images, 3, 32, 32, generator=g),
                   torch.randint(0, 10, (args.images,), generator=g), tuple(map(str, range(10))), "torch.rand seed 0")
    lenet, _ = load_trained("lenet5")
    mnist = load_dataset("mnist", "test", settings).subset(args.images)
    mnist_train = load_dataset("mnist", "train", settings).subset(args.calibration, seed=1)
    cases = [("efficientnet_b0-style 32x32 (zoo, width 0.25)", effnet, rand, rand.images[:args.calibration]),
             ("lenet5 28x28 (committed)", lenet, mnist, mnist_train.images)]
    print(f"{args.images} images, {args.calibration} calibration images, {args.threads} torch thread(s)")
    for name, model, data, cal in cases:
        t0 = time.perf_counter()
        program = lower(model, data.images[:1])
        t1 = time.perf_counter()
        qmodel = quantize(model, cal)  # lowers again, calibrates, quantizes
        t2 = time.perf_counter()
        run(qmodel, data.images[:8])  # warm-up (numba kernels)
        t3 = time.perf_counter()
        run(qmodel, data.images)
        t_engine = time.perf_counter() - t3
        spec = InferSpec(model=name, dataset=data.name, batch_size=min(500, args.images))
        run_inference(spec, settings, qmodel=qmodel, data=Dataset(data.name, data.split, data.images[:16],
                                                                  data.labels[:16], data.classes, data.source))
        t4 = time.perf_counter()
        res = run_inference(spec, settings, qmodel=qmodel, data=data)
        t_charged = time.perf_counter() - t4
        print(f"{name}: {len(program.layers)} layers; lower {t1 - t0:.3f} s; lower+calibrate+quantize "
              f"({len(cal)} images) {t2 - t1:.3f} s; charged inference {res.n_images / t_charged:.1f} images/s; "
              f"bare engine {len(data.images) / t_engine:.1f} images/s; charged/bare time ratio "
              f"{t_charged / t_engine:.2f}")


if __name__ == "__main__":
    main()
