"""Write the trace-mode record (every access of the first images, cosim.memory.trace) of a finished run as CSV,
with the vectorised totals of the same images beside it so a reader can check they agree."""

from __future__ import annotations

import csv
from pathlib import Path

from cosim.simulate import InferResult


def write_trace(res: InferResult, path: Path, n_images: int, qmodel=None, images=None) -> int:
    """`qmodel`/`images`: the run's quantized model and evaluation images where they are not a committed model
    and a named dataset (which are rebuilt here)."""
    from cosim.data import load_dataset
    from cosim.engine import quantize_trained, run
    from cosim.memory.system import charge_batch, initial_act_state
    from cosim.memory.trace import trace

    spec = res.spec
    if images is None:
        data = load_dataset(res.extra["dataset"], "test")
        if spec.limit is not None:
            data = data.subset(spec.limit, seed=spec.seed)
        images = data.images
    qmodel = quantize_trained(spec.model) if qmodel is None else qmodel
    layers = run(qmodel, images[:n_images], record=True).layers  # clean reads: the trace shows stored words
    accesses = trace(res.system, layers)
    ch, *_ = charge_batch(res.system, layers, initial_act_state(res.system), True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "memory", "macro", "bank", "row", "op", "purpose", "layer", "word_hex", "ones",
                    "flips_0to1", "flips_1to0", "energy_j"])
        for a in accesses:
            w.writerow([a.image, a.memory, a.macro, a.bank, a.row, a.op, a.purpose, res.layer_names[a.layer],
                        f"{a.word:#x}", a.ones, a.flips_0to1, a.flips_1to0, f"{a.energy_j:.6e}"])
    tr = sum(a.energy_j for a in accesses if a.image >= 0)
    vec = float((ch.energy["sram_read_j"] + ch.energy["sram_write_j"]).sum())
    with open(path.with_suffix(".check.txt"), "w") as fh:
        fh.write(f"SRAM read+write energy of the first {n_images} image(s): trace {tr:.12e} J, vectorised {vec:.12e} J\n")
    return len(accesses)
