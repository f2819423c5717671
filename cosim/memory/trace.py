"""Trace mode: the same dataflow executed one access at a time on an explicit memory array, for a few images.

Each access is recorded (image, memory, macro, bank, row, op, purpose, layer, word, ones, flips, energy). It is the
reference the vectorised counter is tested against (tests/memory/test_trace.py): totals must match exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.memory.mapping import WEIGHTS, Block
from cosim.memory.system import MemorySystem, act_data, weight_stream


@dataclass(frozen=True)
class Access:
    image: int  #: -1 for the once-per-run preload
    memory: str
    macro: str
    bank: int
    row: int
    op: str
    purpose: str
    layer: int
    word: int
    ones: int
    flips_0to1: int
    flips_1to0: int
    energy_j: float


def trace(ms: MemorySystem, layers) -> list[Access]:
    """Every access of the run on the images in ``layers`` (LayerIO-like records of a small batch)."""
    plan = ms.plan
    wstreams = [weight_stream(L, plan.weight_word_bits) for L in layers]
    acts = act_data(layers, plan, ms.ca)
    N = acts.shape[0]
    mem = {WEIGHTS: [0] * plan.weight_capacity_words, "activations": [0] * plan.act_capacity_words}
    banks = {WEIGHTS: ms.acc.weights.banks, "activations": ms.acc.activations.banks}
    costs = {WEIGHTS: ms.costs_w, "activations": ms.costs_a}
    out: list[Access] = []

    def source(memory: str, src: str, layer: int, n: int) -> np.ndarray:
        if memory == WEIGHTS:
            return wstreams[layer]
        off = ms.ca.columns[(src, layer)]
        size = plan.layers[layer].input_words if src == "input" else plan.layers[layer].output_words
        return acts[n, off:off + size]

    last_row: dict = {}  # (memory, bank) -> row of the previous access; cleared at each image (and the preload)

    def run_block(b: Block, n: int) -> None:
        m = mem[b.memory]
        cap, k = len(m), costs[b.memory]
        nb = banks[b.memory]
        hazard = bool(k.row_switch_hazard)
        for _ in range(b.repeat):
            for seg in b.segments:
                data = source(b.memory, seg.source, b.layer, n)
                for j in range(seg.lo, seg.hi):
                    addr = (seg.addr + j - seg.lo) % cap
                    word = int(data[j])
                    row = (addr // nb) // max(1, k.words_per_row)
                    prev_row = last_row.get((b.memory, addr % nb))
                    if hazard and prev_row is not None and prev_row != row:
                        out.append(Access(n, b.memory, k.macro, addr % nb, addr // nb, "hold", "row_switch_hold", b.layer,
                                          0, 0, 0, 0, k.idle_j))
                    last_row[(b.memory, addr % nb)] = row
                    if seg.op == "write":
                        old = m[addr]
                        f01 = bin(word & ~old).count("1")
                        f10 = bin(old & ~word).count("1")
                        m[addr] = word
                        e = k.write_same_j + f01 * k.write_per_0to1_j + f10 * k.write_per_1to0_j
                        ones = bin(word).count("1")
                    else:
                        if m[addr] != word:
                            raise AssertionError(f"trace: {b.memory}[{addr}] holds {m[addr]:#x}, dataflow reads {word:#x}")
                        ones, f01, f10 = bin(word).count("1"), 0, 0
                        e = k.read_base_j + ones * k.read_per_one_j
                    out.append(Access(n, b.memory, k.macro, addr % nb, addr // nb, seg.op, seg.purpose, b.layer,
                                      word, ones, f01, f10, e))

    for b in plan.preload:
        run_block(b, -1)
    for n in range(N):
        last_row.clear()
        for b in plan.per_image:
            run_block(b, n)
    return out
