"""Bit errors on SRAM reads, injected through the engine's read_hook.

The rate is the corner's ``AccessCosts.bit_error_rate``: bits read back wrong / bits checked, over the table's
read_0 and read_1 rows at that corner, which passed (see table.py). Reads that fail in simulation are systematic,
not random: a corner where they fail at every clock tried is unusable (cosim.errors.UnusableCorner) and one where
they pass at a slower clock runs at that clock, so neither becomes a bit-error rate here.
Every stored bit of every code the engine reads (weights: per call, i.e. shared by the images of one batch;
activations: per element, so per image) flips independently with that probability. Codes are flipped in their
stored bit pattern (two's complement for signed codes, b bits wide) and converted back, so a flipped code is
always a code the memory could hold. Each batch draws from its own child of the run's seed (numpy's
SeedSequence.spawn): the same seed gives the same flips however many batches run at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

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


def flip_bits(codes: torch.Tensor, bits: int, ber: float, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
    """``codes`` with each of its ``bits``-bit patterns' bits flipped with probability ``ber``; and the flip count."""
    total = codes.numel() * bits
    if ber <= 0.0 or total == 0:
        return codes, 0
    n = codes.numel()
    if ber >= 0.05 and bits <= _PER_CODE_MAX_BITS:
        # a high rate flips a large share of all bits: draw each code's whole flip pattern at once (LeNet-5 at
        # 0.5: ~40x faster than a draw per bit)
        xor_np = _flip_masks(n, bits, ber, rng)
        flips = int(np.bitwise_count(xor_np).sum(dtype=np.int64))
    else:
        if ber >= 0.05:
            pos = np.flatnonzero(rng.random(total) < ber)
        else:
            # Bernoulli process by geometric gaps between flipped bits: O(flips), positions sorted and distinct
            mean = total * ber
            chunks, end = [], -1
            while True:
                gaps = rng.geometric(ber, size=int(mean + 6 * np.sqrt(mean) + 16))
                p = end + np.cumsum(gaps)
                chunks.append(p[p < total])
                if p[-1] >= total:
                    break
                end = int(p[-1])
            pos = np.concatenate(chunks)
        if pos.size == 0:
            return codes, 0
        # distinct bits of one code add like xor; bincount sums exactly (values < 2**bits << 2**53)
        xor_np = np.bincount(pos // bits, weights=np.left_shift(1, pos % bits).astype(np.float64),
                             minlength=n).astype(np.int64)
        flips = int(pos.size)
    if bits == 8 * codes.element_size():
        # the code fills its dtype: flip its stored pattern in place of a round trip through int64
        stored = codes.contiguous().numpy().reshape(-1)
        flipped = stored.view(f"u{stored.itemsize}") ^ xor_np.astype(f"u{stored.itemsize}")
        return torch.from_numpy(flipped.view(stored.dtype)).reshape(codes.shape), flips
    signed = _SIGNED.get(codes.dtype, bool(codes.dtype.is_signed))
    mask_all = (1 << bits) - 1
    flat = (codes.reshape(-1).to(torch.int64) & mask_all) ^ torch.from_numpy(xor_np.astype(np.int64))
    if signed:
        flat = torch.where(flat >= (1 << (bits - 1)), flat - (1 << bits), flat)
    return flat.reshape(codes.shape).to(codes.dtype), flips


@dataclass
class BitErrorHook:
    """A read_hook for cosim.engine.run. ``bits``: (layer, "weight"|"input") -> code width (from a recorded run).

    It keeps a seeded generator and a tally of flipped bits / bits read (local state of one run, not global)."""

    ber: float
    seed: int | np.random.SeedSequence
    bits: dict
    rng: np.random.Generator = field(init=False)
    bits_read: int = 0
    bits_flipped: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, layer: str, kind: str, codes: torch.Tensor) -> torch.Tensor:
        b = int(self.bits.get((layer, kind), 8))
        self.bits_read += codes.numel() * b
        out, n = flip_bits(codes, b, self.ber, self.rng)
        self.bits_flipped += n
        return out
