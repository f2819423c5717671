"""scikit-learn's bundled 8x8 digits (1797 images, 16 grey levels): the embedded default dataset.

Split: a seeded random 75 % / 25 % train/test split (seed 0); "all" is every image in the original order. The
"full dataset" for `make infer` is the test split (450 images the model never trained on).
"""

from __future__ import annotations

import torch

from cosim.data import Dataset, seeded_split
from cosim.data._files import md5

SPLIT_SEED = 0
TEST_FRACTION = 0.25


def load_digits(split: str, settings=None) -> Dataset:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values are 0..16
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    index = seeded_split(len(labels), TEST_FRACTION, SPLIT_SEED, split)
    checksum = md5(bunch.images.astype("uint8").tobytes())
    return Dataset("digits", split, images[index], labels[index], tuple(str(c) for c in range(10)),
                   f"sklearn.datasets.load_digits (md5 of pixels {checksum}; split seed {SPLIT_SEED})")
