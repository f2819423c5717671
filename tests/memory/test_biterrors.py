import math

import numpy as np
import pytest
import torch

from cosim.memory.biterrors import flip_bits
from cosim.memory.faults import CellFailureRates, PerAccessHook


def test_no_flips_at_zero_ber():
    x = torch.randint(-128, 128, (1000,), dtype=torch.int8)
    y, n = flip_bits(x, 8, 0.0, np.random.default_rng(0))
    assert n == 0 and torch.equal(x, y)


@pytest.mark.parametrize("ber", [0.01, 0.2, 0.5])  # a draw per flipped bit; a flip pattern per code (>= 0.05)
@pytest.mark.parametrize("dtype,bits,lo,hi", [(torch.int8, 8, -128, 127), (torch.uint8, 8, 0, 255),
                                              (torch.int8, 4, -8, 7), (torch.int32, 16, 0, 65535)])
def test_rate_and_range(dtype, bits, lo, hi, ber):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(lo, hi + 1, (200_000,), generator=g).to(dtype)
    y, n = flip_bits(x, bits, ber, np.random.default_rng(3))
    diff = (x.to(torch.int64) & ((1 << bits) - 1)) ^ (y.to(torch.int64) & ((1 << bits) - 1))
    flipped = sum(int(((diff >> b) & 1).sum()) for b in range(bits))
    assert flipped == n
    expected = x.numel() * bits * ber
    assert abs(flipped - expected) < 5 * np.sqrt(expected)  # binomial: 5 sigma
    assert int(y.min()) >= lo and int(y.max()) <= hi and y.dtype == dtype


@pytest.mark.parametrize("ber", [0.2, 0.5])
def test_flip_patterns_are_independent_bits(ber):
    # per code, the number of flipped bits is Binomial(8, ber) and every bit position flips at the rate
    x = torch.zeros(200_000, dtype=torch.uint8)
    y, _ = flip_bits(x, 8, ber, np.random.default_rng(5))
    pattern = y.numpy()
    n = pattern.size
    per_code = np.bitwise_count(pattern)
    for k in range(9):
        expected = n * math.comb(8, k) * ber ** k * (1 - ber) ** (8 - k)
        assert abs(int((per_code == k).sum()) - expected) < 5 * np.sqrt(expected) + 1, k
    for b in range(8):
        assert abs(int(((pattern >> b) & 1).sum()) - n * ber) < 5 * np.sqrt(n * ber * (1 - ber)), b


def test_seeded_hook_is_reproducible():
    x = torch.randint(0, 256, (5000,), dtype=torch.uint8)
    r = CellFailureRates(1e-3, 1e-3, "test")
    a = PerAccessHook(r, r, 7, {("l", "input"): 8})("l", "input", x)
    b = PerAccessHook(r, r, 7, {("l", "input"): 8})("l", "input", x)
    c = PerAccessHook(r, r, 8, {("l", "input"): 8})("l", "input", x)
    assert torch.equal(a, b) and not torch.equal(a, c)
