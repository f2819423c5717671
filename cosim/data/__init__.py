"""Dataset loaders. Every loader returns a `Dataset`: float images [N, C, H, W] scaled to [0, 1] (what every
cosim model expects), int64 labels, class names, and where the data came from (path + checksum).

Files are read in place from `Settings.data_dir`; a missing or corrupt file raises DatasetError naming the file
and how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cosim.errors import DatasetError

SPLITS = ("train", "test", "all")


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    split: str
    images: torch.Tensor  #: float32 [N, C, H, W] in [0, 1]
    labels: torch.Tensor  #: int64 [N]
    classes: tuple[str, ...]
    source: str  #: file(s) read and their checksums

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or len(self.images) != len(self.labels):
            raise DatasetError(f"{self.name}: images {tuple(self.images.shape)} and labels "
                               f"{tuple(self.labels.shape)} do not match: the source {self.source} is corrupt")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, count: int, seed: int = 0) -> "Dataset":
        """A seeded random subset of `count` images (all of them if count >= len)."""
        if count >= len(self):
            return self
        index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:count]
        return Dataset(self.name, self.split, self.images[index], self.labels[index], self.classes,
                       f"{self.source} (subset {count}, seed {seed})")


#: dataset name -> "module:function(split, settings) -> Dataset"
LOADERS: dict[str, str] = {
    "digits": "cosim.data.digits:load_digits",
    "mnist": "cosim.data.mnist:load_mnist",
    "cifar10": "cosim.data.cifar10:load_cifar10",
    "ham10000": "cosim.data.ham10000:load_ham10000",
    "dermamnist": "cosim.data.ham10000:load_dermamnist",
}


def load_dataset(name: str, split: str, settings=None) -> Dataset:
    """Load dataset `name` ("digits", "mnist", "cifar10", "ham10000", "dermamnist"), split train/test/all."""
    import importlib

    from cosim.config import load_settings

    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}: use one of {', '.join(LOADERS)}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r} for {name}: use one of {', '.join(SPLITS)}")
    module, attr = LOADERS[name].split(":")
    loader = getattr(importlib.import_module(module), attr)
    return loader(split, load_settings() if settings is None else settings)


def seeded_split(count: int, test_fraction: float, seed: int, split: str) -> torch.Tensor:
    """Indices of a deterministic random train/test split (for datasets that ship without one)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(count * test_fraction))
    if split == "test":
        return order[:n_test].sort().values
    if split == "train":
        return order[n_test:].sort().values
    return torch.arange(count)
