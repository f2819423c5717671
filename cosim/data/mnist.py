"""MNIST from the original IDX files (raw or .gz), checked against the md5 of their UNCOMPRESSED content (so a
re-compressed .gz with the original content is accepted)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch

from cosim.data import Dataset
from cosim.data._files import find_file, md5, read_maybe_gzip
from cosim.errors import DatasetError

#: md5 of the uncompressed official files
CHECKSUMS = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
HOW_TO_GET = "get the four IDX files of http://yann.lecun.com/exdb/mnist/ (raw or .gz) into <data_dir>/mnist/"


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """An IDX array of unsigned bytes (magic 0x0000_08_<ndim>)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file; {HOW_TO_GET}")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise DatasetError(f"{path}: truncated ({len(body)} bytes for shape {dims}); {HOW_TO_GET}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def read_idx(directory: Path, stem: str, verify: bool = True) -> tuple[np.ndarray, str]:
    path = find_file(directory, stem)
    data = read_maybe_gzip(path, HOW_TO_GET)
    digest = md5(data)
    if verify and digest != CHECKSUMS[stem]:
        raise DatasetError(f"{path}: md5 of the uncompressed content is {digest}, expected {CHECKSUMS[stem]}: "
                           f"the file is corrupt; {HOW_TO_GET}")
    return parse_idx(data, path), f"{path.name} (uncompressed md5 {digest})"


def load_mnist(split: str, settings, directory: Path | None = None, verify: bool = True) -> Dataset:
    directory = settings.data_dir / "mnist" if directory is None else directory
    parts = {"train": ("train",), "test": ("t10k",), "all": ("train", "t10k")}[split]
    images, labels, sources = [], [], []
    for prefix in parts:
        x, src_x = read_idx(directory, f"{prefix}-images-idx3-ubyte", verify)
        y, src_y = read_idx(directory, f"{prefix}-labels-idx1-ubyte", verify)
        if len(x) != len(y):
            raise DatasetError(f"{directory}: {prefix} has {len(x)} images but {len(y)} labels; {HOW_TO_GET}")
        images.append(torch.from_numpy(x.copy()))
        labels.append(torch.from_numpy(y.astype(np.int64)))
        sources += [src_x, src_y]
    pixels = torch.cat(images).unsqueeze(1).to(torch.float32) / 255.0
    return Dataset("mnist", split, pixels, torch.cat(labels), tuple(str(c) for c in range(10)),
                   f"{directory}: " + ", ".join(sources))
