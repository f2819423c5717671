"""LayerIO-shaped records (the engine contract's fields) filled with seeded random codes, for counting tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FakeLayer:
    name: str
    op: str
    weight: np.ndarray | None
    weight_bits: int
    bias: np.ndarray | None
    input: np.ndarray
    input_bits: int
    output: np.ndarray
    output_bits: int
    macs_per_image: int
    extra_inputs: tuple = ()


def fake_network(n_images: int, sizes=((20, 12), (12, 30), (30, 5)), seed: int = 0,
                 code_dtype=np.int64) -> list[FakeLayer]:
    """Fully connected layers (in, out); the output of one is the input of the next (the same array, as the engine
    records it). code_dtype np.uint8 gives activation codes as the engine holds them."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n_images, sizes[0][0])).astype(code_dtype)
    layers = []
    for i, (a, b) in enumerate(sizes):
        w = rng.integers(-128, 128, size=(b, a))
        bias = rng.integers(-(2**31), 2**31 - 1, size=b)
        y = rng.integers(0, 256, size=(n_images, b))
        # sparse activations (ReLU-like) so ones and flips vary
        y[rng.random(y.shape) < 0.4] = 0
        y = y.astype(code_dtype)
        layers.append(FakeLayer(f"fc{i}", "linear", w, 8, bias, x, 8, y, 8, a * b))
        x = y
    return layers
