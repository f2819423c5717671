"""Random bit masks and their application to stored codes: the draws under cosim.memory.faults.

A mask sets each of a code's bits independently with a probability: by geometric gaps between set bits at low
rates (cost in proportion to the bits set), by one draw per code's whole pattern at high ones. Codes are changed in
their stored bit pattern (two's complement for signed codes, b bits wide) and converted back, so a changed code is
always one the memory could hold.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from cosim.memory.packing import word_dtype

_SIGNED = {torch.int8: True, torch.int16: True, torch.uint8: False, torch.int32: False}


_PER_CODE_MAX_BITS = 16  #: widest code whose 2^bits flip patterns are sampled as a table


def _flip_masks(n: int, bits: int, ber: float, rng: np.random.Generator) -> np.ndarray:
    """[n] XOR masks of ``bits`` bits, each bit set independently with probability ``ber``: one draw per code
    instead of one per bit. At 0.5 every mask is equally likely (uniform integers); otherwise a uniform number
    picks the mask through the cumulative distribution of all 2^bits masks, P(mask) = ber^k (1 - ber)^(bits - k)
    for a mask of k ones (exact up to float64 rounding of the cumulative sums)."""
    if ber == 0.5:
        return rng.integers(0, 1 << bits, size=n, dtype=np.uint8 if bits <= 8 else np.uint16)
    k = np.bitwise_count(np.arange(1 << bits, dtype=np.uint32)).astype(np.float64)
    cdf = np.cumsum(ber ** k * (1.0 - ber) ** (bits - k))
    cdf[-1] = np.inf  # the sums may round a hair below 1: every draw must land on a mask
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.uint8 if bits <= 8 else np.uint16)


def random_masks(n: int, bits: int, ber: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """[n] masks of ``bits`` bits (an integer array), each bit set independently with probability ``ber``; and how
    many bits are set."""
    total = n * bits
    if ber <= 0.0 or total == 0:
        return np.zeros(n, word_dtype(bits)), 0
    if ber >= 0.05 and bits <= _PER_CODE_MAX_BITS:
        # a high rate sets a large share of all bits: draw each code's whole pattern at once (LeNet-5 at 0.5: ~40x
        # faster than a draw per bit)
        masks = _flip_masks(n, bits, ber, rng)
        return masks, int(np.bitwise_count(masks).sum(dtype=np.int64))
    masks = np.zeros(n, word_dtype(bits))  # a mask is a code's width, as a word of that many bits is held
    if ber >= 0.05:
        pos = np.flatnonzero(rng.random(total) < ber)
        _set_positions(masks, pos, bits)
        return masks, int(pos.size)
    # Bernoulli process by geometric gaps between set bits: O(set bits), positions increasing and distinct
    mean = total * ber
    end, flips = -1, 0
    while end < total:
        gaps = rng.geometric(ber, size=int(mean + 6 * np.sqrt(mean) + 16))
        end, k = _set_gaps(masks, gaps, end, total, bits)
        flips += k
    return masks, flips


@numba.njit(nogil=True, cache=True)
def _set_positions(masks, positions, bits):
    """Set bit p % bits of code p // bits for each (distinct) position p."""
    for p in positions:
        masks[p // bits] |= np.uint64(1) << np.uint64(p % bits)


@numba.njit(nogil=True, cache=True)
def _set_gaps(masks, gaps, start, total, bits):
    """Set the bits at positions start + cumulative ``gaps`` below ``total``; -> (the last position reached, bits
    set)."""
    p, k = start, 0
    for g in gaps:
        p += g
        if p >= total:
            return p, k
        masks[p // bits] |= np.uint64(1) << np.uint64(p % bits)
        k += 1
    return p, k


def apply_xor(codes: torch.Tensor, bits: int, xor: np.ndarray) -> torch.Tensor:
    """``codes`` with their ``bits``-bit stored patterns XORed with ``xor`` (integers, broadcastable to the codes
    flattened per leading row, or [numel]), converted back to the codes' dtype (two's complement for signed codes),
    so a changed code is always one the memory could hold."""
    if bits == 8 * codes.element_size():
        # the code fills its dtype: change its stored pattern in place of a round trip through int64
        stored = codes.contiguous().numpy()
        u = stored.view(f"u{stored.itemsize}").reshape(-1 if xor.ndim == 1 and xor.size == stored.size else
                                                       (stored.shape[0], -1))
        flipped = u ^ xor.astype(u.dtype, copy=False)
        return torch.from_numpy(flipped.view(stored.dtype).reshape(stored.shape))
    signed = _SIGNED.get(codes.dtype, bool(codes.dtype.is_signed))
    mask_all = (1 << bits) - 1
    flat = codes.to(torch.int64).numpy()
    flat = flat.reshape(-1) if xor.ndim == 1 and xor.size == flat.size else flat.reshape(flat.shape[0], -1)
    out = (flat & mask_all) ^ (xor.astype(np.int64, copy=False) & mask_all)
    if signed:
        out = np.where(out >= (1 << (bits - 1)), out - (1 << bits), out)
    return torch.from_numpy(out.reshape(codes.shape)).to(codes.dtype)


def flip_bits(codes: torch.Tensor, bits: int, ber: float, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
    """``codes`` with each of its ``bits``-bit patterns' bits flipped with probability ``ber``; and the flip count."""
    masks, flips = random_masks(codes.numel(), bits, ber, rng)
    if flips == 0:
        return codes, 0
    return apply_xor(codes, bits, masks), flips
