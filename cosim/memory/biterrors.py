"""Bit errors on SRAM reads, injected through the engine's read_hook.

The rate is the corner's ``AccessCosts.bit_error_rate``: bits read back wrong / bits checked, over the table's
read_0 and read_1 rows at that corner (a failed read row with bit_errors > 0 is where it comes from; see table.py).
Every stored bit of every code the engine reads (weights: per call, i.e. shared by the images of one batch;
activations: per element, so per image) flips independently with that probability. Codes are flipped in their
stored bit pattern (two's complement for signed codes, b bits wide) and converted back, so a flipped code is
always a code the memory could hold. The generator is seeded per run: the same seed gives the same flips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

_SIGNED = {torch.int8: True, torch.int16: True, torch.uint8: False, torch.int32: False}


def flip_bits(codes: torch.Tensor, bits: int, ber: float, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
    """``codes`` with each of its ``bits``-bit patterns' bits flipped with probability ``ber``; and the flip count."""
    total = codes.numel() * bits
    if ber <= 0.0 or total == 0:
        return codes, 0
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
    signed = _SIGNED.get(codes.dtype, bool(codes.dtype.is_signed))
    mask_all = (1 << bits) - 1
    n = codes.numel()
    flat = codes.reshape(-1).to(torch.int64) & mask_all
    # distinct bits of one code add like xor; bincount sums exactly (values < 2**bits << 2**53)
    xor = np.bincount(pos // bits, weights=np.left_shift(1, pos % bits).astype(np.float64), minlength=n)
    xor = torch.from_numpy(xor.astype(np.int64))
    flat = flat ^ xor
    if signed:
        flat = torch.where(flat >= (1 << (bits - 1)), flat - (1 << bits), flat)
    return flat.reshape(codes.shape).to(codes.dtype), int(pos.size)


@dataclass
class BitErrorHook:
    """A read_hook for cosim.engine.run. ``bits``: (layer, "weight"|"input") -> code width (from a recorded run).

    It keeps a seeded generator and a tally of flipped bits / bits read (local state of one run, not global)."""

    ber: float
    seed: int
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
