"""Vectorised access counting: a Plan's per-image program turned into column runs once (numpy), then applied to the
packed words of a whole batch of images by one compiled kernel (numba; no Python loop per access or per image).

For every memory and layer it yields, per image: reads, ones read, writes, bits flipping 0->1 and 1->0 (each write
compared with the word stored at that address before it: earlier in the same image, else at the end of the previous
image, else the memory's initial content), and the off-chip words moved.

A Block repeated R times is expanded twice: the second copy sees the memory as every later copy does (the same
words were just written to the same addresses), so its counts are weighted by R - 1. trace.py expands all R copies
one access at a time; tests check both give identical integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

from cosim.memory.mapping import WEIGHTS, Block, Plan


@dataclass(frozen=True)
class CompiledMemory:
    """Index arrays for one memory. Columns index the concatenation of its source tensors (see ``columns``)."""

    memory: str
    capacity: int
    n_layers: int
    columns: dict  #: (source, layer) -> column offset
    n_columns: int
    w_addr: np.ndarray  #: [S] address of each write
    first_idx: np.ndarray  #: writes that are the first to their address in an image
    last_idx: np.ndarray  #: the last write to each written address
    #: [S + 1] first column of each source tensor (in ``columns`` order), then n_columns. At run time each source is
    #: its own [N, words] array (see ``count``); the runs below address (source, column within it).
    source_starts: np.ndarray
    #: [R, 5] int64 rows (layer, source, start, stop, mult): column ranges read `mult` > 0 times each
    r_runs: np.ndarray
    #: [W, 9] int64 rows (layer, mult, source, col, prev_source, prev_col, n, last_source, last_col): maximal runs of
    #: writes whose new words are n consecutive columns of one source and whose previous words are n consecutive
    #: columns of one source, or (prev_source -1) the previous image's last words at those addresses: prev_col then
    #: indexes first_idx (the state before a batch's first image), and last_source/last_col (-1 otherwise) are
    #: where those words lie in the previous image's columns, consecutive too
    w_runs: np.ndarray
    first_src: np.ndarray  #: [F] source and column of the last write, in an image, to each first_idx address
    first_loc: np.ndarray
    last_src: np.ndarray  #: [A] source and column of the last write to each written address
    last_loc: np.ndarray
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
    # each bank's accesses in program order (a stable sort by bank), then the row changes inside each bank's run
    order = np.argsort(bank, kind="stable")
    b, r, lay = bank[order], row[order], layer[order]
    change = np.flatnonzero((b[1:] == b[:-1]) & (r[1:] != r[:-1])) + 1
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
                w_mult.append(np.full(seg.words, mult, np.int64))
                w_layer.append(np.full(seg.words, b.layer))
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    w_cols, w_addr = cat(w_cols, np.int64), cat(w_addr, np.int64)
    w_mult, w_layer = cat(w_mult, np.int64), cat(w_layer, np.int64)
    S = w_cols.size
    if S > 1 and np.any(np.diff(w_layer) < 0):
        raise AssertionError("per-image program is not in layer order")
    # previous write to the same address: sort by (address, position)
    order = np.lexsort((np.arange(S), w_addr))
    sa = w_addr[order]
    same = np.zeros(S, bool)
    same[1:] = sa[1:] == sa[:-1]
    # the column of [data | shifted] holding each write's previous word (shifted: the previous image's last words)
    prev_gather = np.full(S, -1, np.int64)
    prev_gather[order[same]] = w_cols[order[np.flatnonzero(same) - 1]]
    is_last = np.ones(S, bool)
    is_last[:-1] = sa[:-1] != sa[1:]
    last_of_sorted = np.flatnonzero(is_last)  # positions in `order` of the last write per address
    last_idx = order[last_of_sorted]
    # for each first write, the last write (same address) of the previous image
    group = np.cumsum(~same) - 1  # group id per sorted position
    first_sorted = np.flatnonzero(~same)
    first_idx = order[first_sorted]
    first_prev_col = w_cols[last_idx[group[first_sorted]]]
    prev_gather[first_idx] = off + np.arange(first_idx.size)
    starts = np.array(list(columns.values()) + [off], np.int64)  # insertion order is column order
    col_src = np.searchsorted(starts, np.arange(off), side="right") - 1  # source of each column
    local = lambda cols: (col_src[cols], cols - starts[col_src[cols]])  # noqa: E731
    first_src, first_loc = local(first_prev_col)
    last_src, last_loc = local(w_cols[last_idx])
    return CompiledMemory(memory, cap, L, columns, off, w_addr, first_idx, last_idx, starts,
                          _read_runs(r_mult, col_layer, col_src, starts),
                          _write_runs(w_cols, prev_gather, w_mult, w_layer, off, col_src, starts, first_src, first_loc),
                          first_src, first_loc, last_src, last_loc, reads, writes, ocr, ocw,
                          hold_cycles(blocks, memory, cap, banks, words_per_row, L) if row_switch_hazard
                          else np.zeros(L, np.int64))


def _run_starts(n: int, *breaks: np.ndarray) -> np.ndarray:
    """Start positions of the maximal runs of n positions, given where runs break (each [n - 1]: True where position
    i + 1 starts a new run), plus n."""
    brk = np.zeros(n, bool)
    if n:
        brk[0] = True
        for k in breaks:
            brk[1:] |= k
    return np.append(np.flatnonzero(brk), n)


def _read_runs(r_mult: np.ndarray, col_layer: np.ndarray, col_src: np.ndarray, starts: np.ndarray) -> np.ndarray:
    brk = _run_starts(r_mult.size, np.diff(r_mult) != 0, np.diff(col_layer) != 0, np.diff(col_src) != 0)
    runs = [(col_layer[a], col_src[a], a - starts[col_src[a]], b - starts[col_src[a]], r_mult[a])
            for a, b in zip(brk[:-1], brk[1:]) if r_mult[a]]
    return np.array(runs, np.int64).reshape(-1, 5)


def _write_runs(w_cols, prev_gather, w_mult, w_layer, n_columns: int, col_src, starts, first_src,
                first_loc) -> np.ndarray:
    shifted = prev_gather >= n_columns  # previous word: the previous image's last at that address (or the state)
    prev_src = np.where(shifted, -1, col_src[np.where(shifted, 0, prev_gather)])
    prev_loc = np.where(shifted, prev_gather - n_columns, prev_gather - starts[np.maximum(prev_src, 0)])
    # where a shifted run's previous words lie in the previous image: runs break where they stop being consecutive,
    # so that the kernel compares them block-wise like any other run
    last_src = np.where(shifted, first_src[np.where(shifted, prev_loc, 0)] if first_src.size else -1, -1)
    last_loc = np.where(shifted, first_loc[np.where(shifted, prev_loc, 0)] if first_loc.size else -1, -1)
    new_src = col_src[w_cols]
    brk = _run_starts(w_cols.size, np.diff(w_cols) != 1, np.diff(prev_gather) != 1, np.diff(w_mult) != 0,
                      np.diff(w_layer) != 0, np.diff(new_src) != 0, np.diff(prev_src) != 0,
                      np.diff(last_src) != 0, shifted[1:] & (np.diff(last_loc) != 1))
    runs = [(w_layer[a], w_mult[a], new_src[a], w_cols[a] - starts[new_src[a]], prev_src[a], prev_loc[a], b - a,
             last_src[a], last_loc[a]) for a, b in zip(brk[:-1], brk[1:])]
    return np.array(runs, np.int64).reshape(-1, 9)


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


_BLOCK = np.dtype(np.uint64)


def padded_width(n: int, dtype) -> int:
    """The smallest width >= n whose rows of ``dtype`` words fill whole 64-bit blocks."""
    per = _BLOCK.itemsize // np.dtype(dtype).itemsize
    return -(-n // per) * per


def _pad_to_blocks(words: np.ndarray) -> np.ndarray:
    """[N, n] words -> C-contiguous [N, n'] with n' >= n and each row a whole number of 64-bit blocks (zero words
    appended: they hold no ones and no column refers to them)."""
    n = words.shape[1]
    padded = padded_width(n, words.dtype)
    if padded == n and words.flags.c_contiguous:
        return words
    out = np.zeros((words.shape[0], padded), words.dtype)
    out[:, :n] = words
    return out


# The per-image work below is compiled with numba. A numpy formulation of the same sums (one call per column run
# over all images) is bound by per-call overhead on the many short runs and by passes over the batch. Compiled, one
# image's words stay in cache while every run is summed, and nogil lets count_parallel's threads run it side by side.

@numba.njit(inline="always")
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(inline="always")
def _edge_ones(words, a, b):
    total = 0
    for j in range(a, b):
        total += _popcount64(np.uint64(words[j]))
    return total


@numba.njit(inline="always")
def _range_ones(words, prefix, a, b, per):
    """Ones in columns [a, b) of one image's row of a source, from ``prefix`` (prefix sums of the popcounts of
    the row's 64-bit blocks) for the whole blocks inside the range, plus the words at either end."""
    lo, hi = (a + per - 1) // per, b // per
    if lo >= hi:
        return _edge_ones(words, a, b)
    return prefix[hi] - prefix[lo] + _edge_ones(words, a, lo * per) + _edge_ones(words, hi * per, b)


@numba.njit(inline="always")
def _xor_ones(new, new_blocks, c, old, old_blocks, p, n, per):
    """popcount of columns [c, c + n) of `new` XOR [p, p + n) of `old` (one image's rows); block-wise where c and
    p sit at the same offset inside a 64-bit block (the mapper's layout makes nearly every run so), else word by
    word."""
    total = 0
    if (c - p) % per != 0:
        for j in range(n):
            total += _popcount64(np.uint64(new[c + j] ^ old[p + j]))
        return total
    head = min(n, (per - c % per) % per)
    n_blocks = (n - head) // per
    for j in range(head):
        total += _popcount64(np.uint64(new[c + j] ^ old[p + j]))
    cb, pb = (c + head) // per, (p + head) // per
    for j in range(n_blocks):
        total += _popcount64(new_blocks[cb + j] ^ old_blocks[pb + j])
    for j in range(c + head + n_blocks * per, c + n):
        total += _popcount64(np.uint64(new[j] ^ old[j - c + p]))
    return total


@numba.njit(inline="always")
def _block_ones(words, blk, a, n, per):
    """Ones in columns [a, a + n) of one image's row, whole 64-bit blocks at a time (no prefix sums: a row of the
    previous image)."""
    head = min(n, (per - a % per) % per)
    total = _edge_ones(words, a, a + head)
    n_blocks = (n - head) // per
    ab = (a + head) // per
    for j in range(n_blocks):
        total += _popcount64(blk[ab + j])
    return total + _edge_ones(words, a + head + n_blocks * per, a + n)


@numba.njit(nogil=True, cache=True)
def _count_images(words, blocks, n_sources, initial, r_runs, w_runs, n_images, n_layers, per):
    """Per image: ones read and bits flipped 0->1 / 1->0 per layer. words / blocks: tuples, per source, of
    [N, width] words and their 64-bit view (padded with empty arrays to a fixed length, so that one compiled
    specialization serves networks of up to that many sources; indexing a tuple costs nothing, a typed list
    costs a reference count per access). Image by image: the image's rows stay in cache; the popcount of each
    64-bit block is taken once, into per-source prefix sums, and every range sum is a difference of two. For a
    write of `new` over `prev` with a bits going 0->1 and b going 1->0: popcount(new ^ prev) = a + b and
    popcount(new) - popcount(prev) = a - b."""
    ones = np.zeros((n_images, n_layers), np.int64)
    f01 = np.zeros((n_images, n_layers), np.int64)
    f10 = np.zeros((n_images, n_layers), np.int64)
    offsets = np.zeros(n_sources + 1, np.int64)  # where each source's prefix sums start in `prefix`
    for k in range(n_sources):
        offsets[k + 1] = offsets[k] + blocks[k].shape[1] + 1
    prefix = np.zeros(offsets[n_sources], np.int64)
    for i in range(n_images):
        for k in range(n_sources):
            row, o = blocks[k][i], offsets[k]
            total = 0
            for j in range(row.shape[0]):
                total += _popcount64(row[j])
                prefix[o + j + 1] = total
        for r in range(r_runs.shape[0]):
            layer, src, a, b, mult = r_runs[r, 0], r_runs[r, 1], r_runs[r, 2], r_runs[r, 3], r_runs[r, 4]
            pre = prefix[offsets[src]:offsets[src + 1]]
            ones[i, layer] += _range_ones(words[src][i], pre, a, b, per) * mult
        for r in range(w_runs.shape[0]):
            layer, mult, src, c, psrc, p, n = (w_runs[r, 0], w_runs[r, 1], w_runs[r, 2], w_runs[r, 3], w_runs[r, 4],
                                               w_runs[r, 5], w_runs[r, 6])
            new = words[src][i]
            gained = _range_ones(new, prefix[offsets[src]:offsets[src + 1]], c, c + n, per)
            if psrc >= 0:
                old = words[psrc][i]
                changed = _xor_ones(new, blocks[src][i], c, old, blocks[psrc][i], p, n, per)
                gained -= _range_ones(old, prefix[offsets[psrc]:offsets[psrc + 1]], p, p + n, per)
            elif i > 0:  # the previous image's last words at these addresses
                qsrc, q = w_runs[r, 7], w_runs[r, 8]
                old = words[qsrc][i - 1]
                changed = _xor_ones(new, blocks[src][i], c, old, blocks[qsrc][i - 1], q, n, per)
                gained -= _block_ones(old, blocks[qsrc][i - 1], q, n, per)
            else:  # before the batch's first image: `initial`
                changed = 0
                for j in range(n):
                    prev = np.uint64(initial[p + j])
                    changed += _popcount64(np.uint64(new[c + j]) ^ prev)
                    gained -= _popcount64(prev)
            f01[i, layer] += (changed + gained) // 2 * mult
            f10[i, layer] += (changed - gained) // 2 * mult
    return ones, f01, f10


def _slots(n: int) -> int:
    """Tuple length the kernel is compiled for: a power of two >= max(n, 8) (a handful of specializations, each
    compiled once into numba's cache)."""
    return max(8, 1 << (max(n, 1) - 1).bit_length())


def split_sources(cm: CompiledMemory, data: np.ndarray) -> list[np.ndarray]:
    """[N, n_columns] words (the concatenation, as act_data and the weight streams give it) -> the per-source arrays
    ``count`` takes, each padded to whole 64-bit blocks."""
    return [_pad_to_blocks(data[:, a:b]) for a, b in zip(cm.source_starts[:-1], cm.source_starts[1:])]


def count(cm: CompiledMemory, sources: list[np.ndarray], state: np.ndarray) -> tuple[MemoryCounts, np.ndarray]:
    """Counts for a batch. sources: per source tensor of ``cm`` (``columns`` order), [N, >= its width] words of one
    dtype, rows = images in run order; rows whole 64-bit blocks (else they are copied padded). state: [capacity]
    content of the memory before the first image. Returns the counts and the content after the last image."""
    sources = [_pad_to_blocks(np.asarray(w)) for w in sources]
    N = sources[0].shape[0] if sources else 0
    dt = sources[0].dtype if sources else state.dtype
    state = state.astype(dt, copy=False)
    L = cm.n_layers
    if N == 0:
        z = np.zeros((N, L), np.int64)
        return MemoryCounts(cm.memory, cm.reads, cm.writes, z, z.copy(), z.copy(), cm.offchip_read_words,
                            cm.offchip_write_words, cm.holds), state.copy()
    pad = _slots(len(sources)) - len(sources)
    words = tuple(sources) + (np.zeros((0, 0), dt),) * pad
    blocks = tuple(w.view(_BLOCK) for w in sources) + (np.zeros((0, 0), _BLOCK),) * pad
    initial = state[cm.w_addr[cm.first_idx]]
    ones, f01, f10 = _count_images(words, blocks, len(sources), initial, cm.r_runs, cm.w_runs, N, L,
                                   _BLOCK.itemsize // dt.itemsize)
    return MemoryCounts(cm.memory, cm.reads, cm.writes, ones, f01, f10,
                        cm.offchip_read_words, cm.offchip_write_words, cm.holds), state_after(cm, state, sources)


def state_after(cm: CompiledMemory, state: np.ndarray, sources: list[np.ndarray]) -> np.ndarray:
    """Memory content after the last image (row) of ``sources``: every image runs the same program, so its last
    write to each written address decides that address; the others keep ``state``."""
    out = state.astype(sources[0].dtype if sources else state.dtype, copy=True)
    for k, w in enumerate(sources):
        m = cm.last_src == k
        if m.any():
            out[cm.w_addr[cm.last_idx[m]]] = w[-1, cm.last_loc[m]]
    return out


def count_parallel(cm: CompiledMemory, words_of: Callable[[slice], list[np.ndarray]], n: int, state: np.ndarray,
                   pool, parts: int) -> tuple[MemoryCounts, np.ndarray]:
    """:func:`count` over ``parts`` row blocks of a batch of ``n`` images at once, identical results. ``words_of(rows)``
    gives the per-source words of those images (views where no packing is needed), so any packing runs inside each
    block's job too (numpy and the numba kernel release the GIL). Block k starts from the content the last image of
    block k - 1 leaves, which :func:`state_after` gives without counting."""
    if parts <= 1 or n < 2 * parts:
        return count(cm, words_of(slice(0, n)), state)
    bounds = np.linspace(0, n, parts + 1).astype(int)
    starts = [state] + [state_after(cm, state, words_of(slice(b - 1, b))) for b in bounds[1:-1]]
    futures = [pool.submit(lambda a, b, s: count(cm, words_of(slice(a, b)), s), a, b, s)
               for a, b, s in zip(bounds[:-1], bounds[1:], starts)]
    results = [f.result() for f in futures]
    first = results[0][0]
    stack = lambda name: np.concatenate([getattr(r[0], name) for r in results], axis=0)  # noqa: E731
    merged = MemoryCounts(first.memory, first.reads, first.writes, stack("read_ones"), stack("flips_0to1"),
                          stack("flips_1to0"), first.offchip_read_words, first.offchip_write_words, first.holds)
    return merged, results[-1][1]
