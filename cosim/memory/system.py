"""The memory model of one run: plan + compiled programs + packed weights + costs; charges batches of images.

``build_system`` takes the engine's recorded layers (LayerIO-like: name, weight, weight_bits, bias, input,
input_bits, output, output_bits, macs_per_image) of a first batch; ``charge_batch`` then charges every batch
(including that one) and returns the next activation-memory state, so a run is a fold over batches with no
hidden mutable state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cosim.memory.accelerator import Accelerator
from cosim.memory.counting import (CompiledMemory, MemoryCounts, compile_memory, count, count_parallel, padded_width,
                                   split_sources, state_after)
from cosim.memory.ledger import Charged, charge, clock_period
from cosim.memory.mapping import ACTIVATIONS, WEIGHTS, LayerShape, Plan, build_plan
from cosim.memory.packing import pack, pack_into, word_dtype, words_for
from cosim.table import AccessCosts

BIAS_BITS = 32


def _np(t) -> np.ndarray:
    if t is None:
        return np.zeros(0, np.int64)
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    return np.asarray(t)


def layer_inputs(L) -> np.ndarray:
    """[N, values] every input code a layer reads per image: its input, then (add, mul) its further inputs.

    A two-input layer reads both operands from the activation memory. The mapper does not track where a skip
    tensor was kept, so such a layer's whole input counts as one tensor that (its size differing from the previous
    output's) is loaded from off-chip: the second operand is charged, and the first one's off-chip round trip is an
    over-count on residual networks (documented in cosim/memory/README.md)."""
    parts = [_np(L.input)]
    parts += [_np(x) for x in getattr(L, "extra_inputs", ())]
    parts = [p.reshape(p.shape[0], -1) for p in parts if p.ndim]
    if len(parts) == 1:
        return parts[0]  # a view: no copy of the batch's codes
    return np.concatenate(parts, axis=1) if parts else np.zeros((0, 0), np.int64)


def layer_shapes(layers) -> list[LayerShape]:
    out = []
    for L in layers:
        x, y = layer_inputs(L), _np(L.output)
        out.append(LayerShape(
            name=L.name,
            weight_values=int(_np(L.weight).size), weight_bits=int(L.weight_bits),
            bias_values=int(_np(L.bias).size), bias_bits=BIAS_BITS,
            input_values=int(x.shape[1]) if x.ndim == 2 else 0, input_bits=int(L.input_bits),
            output_values=int(y[0].size) if y.ndim else 0, output_bits=int(L.output_bits),
            macs=int(L.macs_per_image),
        ))
    return out


def weight_stream(layer, word_bits: int) -> np.ndarray:
    """Packed words of a layer's weights followed by its int32 biases."""
    dt = word_dtype(word_bits)
    w = pack(_np(layer.weight).reshape(1, -1), int(layer.weight_bits), word_bits)[0] if layer.weight is not None else np.zeros(0, dt)
    b = pack(_np(layer.bias).reshape(1, -1), BIAS_BITS, word_bits)[0] if layer.bias is not None else np.zeros(0, dt)
    return np.concatenate([w, b]).astype(dt)


def act_data(layers, plan: Plan, cm: CompiledMemory) -> np.ndarray:
    """[N, n_columns] packed input and output words of every layer, in the column order of ``cm``: the concatenated
    layout trace.py and the tests read (the counting itself reads the same words per source, act_sources)."""
    dt = word_dtype(plan.act_word_bits)
    N = _np(layers[0].output).shape[0] if layers else 0
    out = np.zeros((N, cm.n_columns), dt)
    for i, L in enumerate(layers):
        for src, t, bits in (("input", layer_inputs(L), L.input_bits), ("output", _np(L.output), L.output_bits)):
            a = t.reshape(N, -1)
            off = cm.columns[(src, i)]
            nw = words_for(a.shape[1], int(bits), plan.act_word_bits)
            pack_into(a, int(bits), plan.act_word_bits, out[:, off:off + nw])
    return out


def act_sources(layers, plan: Plan, cm: CompiledMemory, rows: slice = slice(None)) -> list[np.ndarray]:
    """The per-source words ``count`` takes for the images ``rows`` of the batch: each layer's input, then its output,
    as [N, words] arrays in ``cm.columns`` order. 8-bit codes in words of their array's width whose rows fill whole
    64-bit blocks are the engine's own code tensors reinterpreted (no copy: the counting kernel reads them while
    they are still in cache); other sources are packed into padded arrays."""
    dt = np.dtype(word_dtype(plan.act_word_bits))
    out = []
    for i, L in enumerate(layers):
        for src, t, bits in (("input", layer_inputs(L), L.input_bits), ("output", _np(L.output), L.output_bits)):
            a = t[rows]
            a = a.reshape(a.shape[0], -1)
            if (int(bits) == 8 and dt.itemsize * 8 == plan.act_word_bits and a.dtype.itemsize == 1
                    and a.flags.c_contiguous and a.shape[1] % 8 == 0 and a.ctypes.data % 8 == 0 and np.little_endian):
                out.append(a.view(dt))
                continue
            nw = words_for(a.shape[1], int(bits), plan.act_word_bits)
            packed = np.zeros((a.shape[0], padded_width(nw, dt)), dt)
            pack_into(a, int(bits), plan.act_word_bits, packed[:, :nw])
            out.append(packed)
    if len(out) != len(cm.columns):
        raise AssertionError("act_sources: the layers do not match the compiled memory's sources")
    return out


@dataclass(frozen=True)
class MemorySystem:
    plan: Plan
    acc: Accelerator
    costs_w: AccessCosts  #: at the run's clock period
    costs_a: AccessCosts
    clock_s: float
    cw: CompiledMemory
    ca: CompiledMemory
    weight_counts: MemoryCounts  #: rows: first image of the run, every later image
    preload_counts: MemoryCounts | None  #: once per run when the weights fit (N = 1 row)
    macs: np.ndarray


def build_system(layers, acc: Accelerator, costs_w: AccessCosts, costs_a: AccessCosts) -> MemorySystem:
    clock_s = clock_period(acc, costs_w, costs_a)
    kw, ka = costs_w.at_period(clock_s), costs_a.at_period(clock_s)
    shapes = layer_shapes(layers)
    plan = build_plan(shapes, weight_word_bits=kw.word_size, weight_capacity_words=kw.num_words * acc.weights.banks,
                      act_word_bits=ka.word_size, act_capacity_words=ka.num_words * acc.activations.banks)
    hz_w, hz_a = bool(kw.row_switch_hazard), bool(ka.row_switch_hazard)
    cw = compile_memory(plan, WEIGHTS, banks=acc.weights.banks, words_per_row=kw.words_per_row, row_switch_hazard=hz_w)
    ca = compile_memory(plan, ACTIVATIONS, banks=acc.activations.banks, words_per_row=ka.words_per_row,
                        row_switch_hazard=hz_a)
    streams = [weight_stream(L, plan.weight_word_bits) for L in layers]
    w = np.concatenate(streams) if streams else np.zeros(0, word_dtype(plan.weight_word_bits))
    state = np.zeros(plan.weight_capacity_words, w.dtype)
    pre = None
    if plan.preload:
        cp = compile_memory(plan, WEIGHTS, plan.preload, banks=acc.weights.banks, words_per_row=kw.words_per_row,
                            row_switch_hazard=hz_w)
        pre, state = count(cp, split_sources(cp, w[None, :]), state)
    # the weight streams are the same for every image: row 0 counts the run's first image, row 1 every later one
    wc, _ = count(cw, split_sources(cw, np.stack([w, w])), state)
    return MemorySystem(plan, acc, kw, ka, clock_s, cw, ca, wc, pre, np.array([s.macs for s in shapes]))


def initial_act_state(ms: MemorySystem) -> np.ndarray:
    """Activation memory content before the first image (all zeros: the power-up content is not characterized)."""
    return np.zeros(ms.plan.act_capacity_words, word_dtype(ms.plan.act_word_bits))


def next_act_state(ms: MemorySystem, layers, act_state: np.ndarray) -> np.ndarray:
    """Activation memory content after a batch that started from ``act_state``: the next batch's start. It needs
    only the batch's last image, so it is known before the batch is counted."""
    n = _np(layers[0].output).shape[0]
    return state_after(ms.ca, act_state, act_sources(layers, ms.plan, ms.ca, slice(n - 1, n)))


def charge_batch(ms: MemorySystem, layers, act_state: np.ndarray, first_image_of_run: bool, pool=None,
                 parts: int = 1) -> tuple[Charged, MemoryCounts, MemoryCounts, np.ndarray]:
    """Charge one batch; with a thread ``pool``, the counting runs in ``parts`` row blocks at once."""
    N = _np(layers[0].output).shape[0]
    if pool is None:
        ca, new_state = count(ms.ca, act_sources(layers, ms.plan, ms.ca), act_state)
    else:
        ca, new_state = count_parallel(ms.ca, lambda rows: act_sources(layers, ms.plan, ms.ca, rows), N, act_state,
                                       pool, parts)
    rows = np.ones(N, np.int64)
    if first_image_of_run:
        rows[0] = 0
    wc = ms.weight_counts
    cw = replace(wc, read_ones=wc.read_ones[rows], flips_0to1=wc.flips_0to1[rows], flips_1to0=wc.flips_1to0[rows])
    ch = charge(cw, ca, costs_w=ms.costs_w, costs_a=ms.costs_a, acc=ms.acc, clock_s=ms.clock_s, macs=ms.macs,
                word_bits_w=ms.plan.weight_word_bits, word_bits_a=ms.plan.act_word_bits)
    return ch, cw, ca, new_state


def preload_energy(ms: MemorySystem) -> dict:
    """Energy and time of loading resident weights once per run (zero when the weights are tiled per image)."""
    if ms.preload_counts is None:
        return {"sram_write_j": 0.0, "hold_j": 0.0, "offchip_j": 0.0, "time_s": 0.0, "writes": 0, "holds": 0,
                "offchip_bytes": 0}
    c, k = ms.preload_counts, ms.costs_w
    writes = int(c.writes.sum())
    holds = int(c.holds.sum())
    e_w = float(writes * k.write_same_j + c.flips_0to1.sum() * k.write_per_0to1_j + c.flips_1to0.sum() * k.write_per_1to0_j)
    nbytes = int(c.offchip_read_words.sum()) * ms.plan.weight_word_bits // 8
    cycles = -(-(writes + holds) // ms.acc.weights.banks)
    return {"sram_write_j": e_w, "hold_j": holds * k.idle_j, "holds": holds,
            "offchip_j": nbytes * ms.acc.offchip_energy_per_byte_j,
            "time_s": cycles * ms.clock_s + nbytes / ms.acc.offchip_bandwidth_bytes_per_s,
            "writes": writes, "offchip_bytes": nbytes}
