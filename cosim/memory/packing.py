"""Pack integer codes into SRAM words (vectorised).

Values are stored little-endian inside a word: value j of a word occupies bits [j*b, (j+1)*b). A b-bit code is
stored as its two's-complement bit pattern (code & (2**b - 1)). Values wider than the word (int32 biases in a
16-bit word) span consecutive words, low half first. The last word of a tensor is zero-padded.
"""

from __future__ import annotations

import numpy as np

from cosim.errors import ConfigError


def words_for(n_values: int, bits: int, word_bits: int) -> int:
    """How many words ``n_values`` codes of ``bits`` bits take in ``word_bits``-bit words."""
    if n_values == 0:
        return 0
    if bits <= word_bits:
        if word_bits % bits:
            raise ConfigError(f"{bits}-bit codes do not pack into {word_bits}-bit words: use a macro whose word size is a multiple of {bits}")
        k = word_bits // bits
        return -(-n_values // k)
    if bits % word_bits:
        raise ConfigError(f"{bits}-bit values do not split into {word_bits}-bit words: use a macro whose word size divides {bits}")
    return n_values * (bits // word_bits)


def word_dtype(word_bits: int) -> type:
    """The numpy dtype words are held in: the narrowest of uint8, uint16, uint32 that holds one (so that 8-bit codes
    in 8-bit words are their own memory image)."""
    return np.uint8 if word_bits <= 8 else np.uint16 if word_bits <= 16 else np.uint32


def pack(codes: np.ndarray, bits: int, word_bits: int) -> np.ndarray:
    """codes [..., n] (signed or unsigned ints) -> words [..., words_for(n)] (word_dtype; word_bits <= 32)."""
    if word_bits > 32:
        raise ConfigError(f"word size {word_bits} > 32 bits is not supported by the packer")
    c = np.asarray(codes)
    lead, n = c.shape[:-1], c.shape[-1]
    nw = words_for(n, bits, word_bits)
    if bits == 8 and word_bits in (8, 16, 32):  # fast path: the bytes of the codes are the memory image
        k = word_bits // 8
        u8 = c.astype(np.uint8)  # two's complement wrap for int8
        if nw * k != n:
            u8 = np.concatenate([u8, np.zeros((*lead, nw * k - n), np.uint8)], axis=-1)
        u8 = np.ascontiguousarray(u8)
        return u8.view({1: "<u1", 2: "<u2", 4: "<u4"}[k]).astype(word_dtype(word_bits))
    c = c.astype(np.int64, copy=False)
    if bits <= word_bits:
        k = word_bits // bits
        u = c & ((1 << bits) - 1)
        pad = nw * k - n
        if pad:
            u = np.concatenate([u, np.zeros((*lead, pad), dtype=np.int64)], axis=-1)
        u = u.reshape(*lead, nw, k)
        shifts = (np.arange(k, dtype=np.int64) * bits)
        return (u << shifts).sum(axis=-1).astype(word_dtype(word_bits))
    parts = bits // word_bits
    u = c & ((1 << bits) - 1)
    shifts = np.arange(parts, dtype=np.int64) * word_bits
    pieces = (u[..., None] >> shifts) & ((1 << word_bits) - 1)
    return pieces.reshape(*lead, n * parts).astype(word_dtype(word_bits))


def pack_into(codes: np.ndarray, bits: int, word_bits: int, out: np.ndarray) -> None:
    """pack() written into ``out`` [..., words_for(n)], a view whose last axis is contiguous (a column block of a
    larger zeroed array). 8-bit codes in words of the array's own width go in as bytes, with no intermediate copy."""
    c = np.asarray(codes)
    n = c.shape[-1]
    if bits == 8 and out.dtype.itemsize * 8 == word_bits and out.dtype.byteorder in "=<|" and np.little_endian:
        out.view(np.uint8)[..., :n] = c  # setitem casts unsafely: int8 codes keep their two's complement bytes
        return
    out[...] = pack(c, bits, word_bits)
