"""Vectorised access counting: a Plan's per-image program turned into index arrays once, then applied to the packed
words of a whole batch of images with numpy (no Python loop per access or per image).

For every memory and layer it yields, per image: reads, ones read, writes, bits flipping 0->1 and 1->0 (each write
compared with the word stored at that address before it: earlier in the same image, else at the end of the previous
image, else the memory's initial content), and the off-chip words moved.

A Block repeated R times is expanded twice: the second copy sees the memory as every later copy does (the same
words were just written to the same addresses), so its counts are weighted by R - 1. trace.py expands all R copies
one access at a time; tests check both give identical integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.memory.mapping import ACTIVATIONS, WEIGHTS, Block, Plan
from cosim.memory.packing import popcount


@dataclass(frozen=True)
class CompiledMemory:
    """Index arrays for one memory. Columns index the concatenation of its source tensors (see ``columns``)."""

    memory: str
    capacity: int
    n_layers: int
    columns: dict  #: (source, layer) -> column offset
    n_columns: int
    w_cols: np.ndarray  #: [S] column of each write
    w_addr: np.ndarray  #: [S] address of each write
    w_mult: np.ndarray  #: [S] int32 multiplicity of each write (1, or R - 1 for a repeated block's second copy)
    w_bounds: tuple  #: ((layer, start, stop), ...) contiguous write ranges per layer (the program is in layer order)
    prev_in_image: np.ndarray  #: [S] column of the previous write to the same address in this image, or -1
    first_idx: np.ndarray  #: writes that are the first to their address in an image
    first_prev_col: np.ndarray  #: for those: column of the last write to that address in an image
    last_idx: np.ndarray  #: the last write to each written address
    prev_gather: np.ndarray  #: [S] column of [data | shifted] holding each write's previous word
    r_mult: np.ndarray  #: [C] int32 how many times each column is read (a column is read by its own layer only)
    r_bounds: tuple  #: ((layer, start, stop), ...) column ranges per layer
    reads: np.ndarray  #: [L] int64 reads per image
    writes: np.ndarray  #: [L] int64 writes per image
    offchip_read_words: np.ndarray  #: [L]
    offchip_write_words: np.ndarray  #: [L]
    holds: np.ndarray  #: [L] hold (deselected) cycles per image before accesses that change row (row_switch hazard)


def hold_cycles(blocks, memory: str, capacity: int, banks: int, words_per_row: int, n_layers: int) -> np.ndarray:
    """Accesses of one image's program (reads and writes, every repetition) that go to another row than the previous
    access of the same bank: each needs one hold cycle where the table shows the row-switch hazard. Each image (and
    the preload) starts after a deselected cycle, so its first access per bank needs none. -> [L] counts."""
    addrs, layers = [], []
    for b in blocks:
        if b.memory != memory:
            continue
        a = np.concatenate([(seg.addr + np.arange(seg.words)) % capacity for seg in b.segments] or [np.zeros(0, np.int64)])
        addrs.append(np.tile(a, b.repeat))
        layers.append(np.full(a.size * b.repeat, b.layer))
    out = np.zeros(n_layers, np.int64)
    if not addrs:
        return out
    addr, layer = np.concatenate(addrs), np.concatenate(layers)
    bank, row = addr % banks, (addr // banks) // max(1, words_per_row)
    for k in range(banks):
        m = bank == k
        r, lay = row[m], layer[m]
        change = np.flatnonzero(r[1:] != r[:-1]) + 1
        np.add.at(out, lay[change], 1)
    return out


def _source_sizes(plan: Plan, memory: str) -> list[tuple[str, int, int]]:
    out = []
    for i, lp in enumerate(plan.layers):
        if memory == WEIGHTS:
            out.append(("wstream", i, lp.weight_words))
        else:
            out.append(("input", i, lp.input_words))
            out.append(("output", i, lp.output_words))
    return out


def compile_memory(plan: Plan, memory: str, blocks: tuple[Block, ...] | None = None, *, banks: int = 1,
                   words_per_row: int = 1, row_switch_hazard: bool = False) -> CompiledMemory:
    blocks = plan.per_image if blocks is None else blocks
    cap = plan.weight_capacity_words if memory == WEIGHTS else plan.act_capacity_words
    L = len(plan.layers)
    columns, off = {}, 0
    for src, i, n in _source_sizes(plan, memory):
        columns[(src, i)] = off
        off += n
    w_cols, w_addr, w_mult, w_layer = [], [], [], []
    r_mult = np.zeros(off, np.int64)
    col_layer = np.zeros(off, np.int64)
    for (src, i), o in columns.items():
        n_ = plan.layers[i].weight_words if src == "wstream" else (
            plan.layers[i].input_words if src == "input" else plan.layers[i].output_words)
        col_layer[o:o + n_] = i
    reads = np.zeros(L, np.int64)
    writes = np.zeros(L, np.int64)
    ocr = np.zeros(L, np.int64)
    ocw = np.zeros(L, np.int64)
    for b in blocks:
        if b.memory != memory:
            continue
        for seg in b.segments:
            ocr[b.layer] += seg.offchip_read_words * b.repeat
            ocw[b.layer] += seg.offchip_write_words * b.repeat
            cols = columns[(seg.source, b.layer)] + np.arange(seg.lo, seg.hi)
            if seg.op == "read":
                r_mult[cols] += b.repeat
                reads[b.layer] += seg.words * b.repeat
            else:
                writes[b.layer] += seg.words * b.repeat
        for copy in range(min(b.repeat, 2)):
            mult = 1 if copy == 0 else b.repeat - 1
            for seg in b.segments:
                if seg.op != "write":
                    continue
                k = np.arange(seg.words)
                w_cols.append(columns[(seg.source, b.layer)] + seg.lo + k)
                w_addr.append((seg.addr + k) % cap)
                w_mult.append(np.full(seg.words, mult, np.float64))
                w_layer.append(np.full(seg.words, b.layer))
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    w_cols, w_addr = cat(w_cols, np.int64), cat(w_addr, np.int64)
    w_mult, w_layer = cat(w_mult, np.float64), cat(w_layer, np.int64)
    S = w_cols.size
    if S > 1 and np.any(np.diff(w_layer) < 0):
        raise AssertionError("per-image program is not in layer order")
    # previous write to the same address: sort by (address, position)
    order = np.lexsort((np.arange(S), w_addr))
    sa = w_addr[order]
    same = np.zeros(S, bool)
    same[1:] = sa[1:] == sa[:-1]
    prev = np.full(S, -1, np.int64)
    prev[order[same]] = w_cols[order[np.flatnonzero(same) - 1]]
    is_last = np.ones(S, bool)
    is_last[:-1] = sa[:-1] != sa[1:]
    last_of_sorted = np.flatnonzero(is_last)  # positions in `order` of the last write per address
    last_idx = order[last_of_sorted]
    # for each first write, the last write (same address) of the previous image
    group = np.cumsum(~same) - 1  # group id per sorted position
    first_sorted = np.flatnonzero(~same)
    first_idx = order[first_sorted]
    first_prev_col = w_cols[last_idx[group[first_sorted]]]
    prev_gather = prev.copy()
    prev_gather[first_idx] = off + np.arange(first_idx.size)
    return CompiledMemory(memory, cap, L, columns, off, w_cols, w_addr, w_mult.astype(np.int32),
                          _bounds(w_layer, L), prev, first_idx, first_prev_col, last_idx, prev_gather,
                          r_mult.astype(np.int32),
                          _bounds(col_layer, L), reads, writes, ocr, ocw,
                          hold_cycles(blocks, memory, cap, banks, words_per_row, L) if row_switch_hazard
                          else np.zeros(L, np.int64))


def _bounds(layer_of: np.ndarray, L: int) -> tuple:
    out = []
    for i in range(L):
        idx = np.flatnonzero(layer_of == i)
        if idx.size:
            out.append((i, int(idx[0]), int(idx[-1]) + 1))
    return tuple(out)


def _per_layer(x: np.ndarray, mult: np.ndarray, bounds: tuple, L: int) -> np.ndarray:
    """[N, K] small ints x [K] multiplicities -> [N, L] int64 sums over each layer's contiguous range."""
    out = np.zeros((x.shape[0], L), np.int64)
    for i, a, b in bounds:
        out[:, i] = (x[:, a:b] @ mult[a:b].astype(np.int64)) if b - a else 0
    return out


@dataclass(frozen=True)
class MemoryCounts:
    """Per image (rows) and layer (columns) counts for one memory; constant ones as [L] vectors."""

    memory: str
    reads: np.ndarray  #: [L] per image
    writes: np.ndarray  #: [L] per image
    read_ones: np.ndarray  #: [N, L]
    flips_0to1: np.ndarray  #: [N, L]
    flips_1to0: np.ndarray  #: [N, L]
    offchip_read_words: np.ndarray  #: [L] per image
    offchip_write_words: np.ndarray  #: [L] per image
    holds: np.ndarray  #: [L] per image: hold cycles before row-changing accesses (0 where no row_switch hazard)


def count(cm: CompiledMemory, data: np.ndarray, state: np.ndarray) -> tuple[MemoryCounts, np.ndarray]:
    """Counts for a batch. data: [N, n_columns] uint32 words (rows = images in run order); state: [capacity] uint32
    content of the memory before the first image. Returns the counts and the content after the last image."""
    data = np.asarray(data)
    state = state.astype(data.dtype, copy=False)
    N, L = data.shape[0], cm.n_layers
    ones = _per_layer(popcount(data), cm.r_mult, cm.r_bounds, L)
    # one gather for the previous words: columns of `data` (same image) or of `shifted` (previous image / state)
    shifted = np.empty((N, cm.first_idx.size), data.dtype)
    shifted[0] = state[cm.w_addr[cm.first_idx]]
    if N > 1:
        shifted[1:] = data[:-1, cm.first_prev_col]
    new = np.take(data, cm.w_cols, axis=1)
    prev = np.take(np.concatenate([data, shifted], axis=1), cm.prev_gather, axis=1)
    f01 = _per_layer(popcount(new & ~prev), cm.w_mult, cm.w_bounds, L)
    f10 = _per_layer(popcount(prev & ~new), cm.w_mult, cm.w_bounds, L)
    out = state.copy()
    if cm.last_idx.size and N:
        out[cm.w_addr[cm.last_idx]] = data[-1, cm.w_cols[cm.last_idx]]
    return MemoryCounts(cm.memory, cm.reads, cm.writes, ones, f01, f10,
                        cm.offchip_read_words, cm.offchip_write_words, cm.holds), out
