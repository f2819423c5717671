"""Skin-lesion datasets: HAM10000 (Kaggle `hmnist_28_28_RGB.csv`, or `HAM10000_metadata.csv` + the ISIC JPEGs)
and MedMNIST's `dermamnist.npz`. All seven classes use the HAM10000 diagnosis codes.

Placement under <data_dir>/ham10000/ (csv, metadata, HAM10000_images_part_1/2 or any folder of ISIC_*.jpg) and
<data_dir>/medmnist/dermamnist.npz. HAM10000 ships without a split: we use a seeded 80/20 split (seed 0).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from cosim.data import Dataset, seeded_split
from cosim.data._files import md5
from cosim.errors import DatasetError

#: HAM10000 diagnosis codes, alphabetical (metadata `dx`); MedMNIST's DermaMNIST uses the same order
DX_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
#: the Kaggle hmnist label -> dx code (label 6 is melanoma in those files)
HMNIST_LABELS = ("akiec", "bcc", "bkl", "df", "nv", "vasc", "mel")
HOW_TO_GET_HAM = ("get 'Skin Cancer MNIST: HAM10000' from Kaggle (kmader/skin-cancer-mnist-ham10000) into "
                  "<data_dir>/ham10000/")
HOW_TO_GET_DERMA = "get dermamnist.npz from https://zenodo.org/records/10519652 into <data_dir>/medmnist/"
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def _split(images: torch.Tensor, labels: torch.Tensor, split: str, name: str, source: str) -> Dataset:
    index = seeded_split(len(labels), TEST_FRACTION, SPLIT_SEED, split)
    return Dataset(name, split, images[index], labels[index], DX_CLASSES, f"{source}; split seed {SPLIT_SEED}")


def load_hmnist_csv(path: Path, split: str) -> Dataset:
    """hmnist_28_28_RGB.csv: 2352 pixel columns (row-major, RGB interleaved) and a `label` column."""
    if not path.is_file():
        raise DatasetError(f"{path}: file missing; {HOW_TO_GET_HAM}")
    data = path.read_bytes()
    try:
        rows = list(csv.reader(io.StringIO(data.decode("ascii"))))
        header, body = rows[0], rows[1:]
        label_col = header.index("label")
        values = np.array([[int(v) for v in row] for row in body if row], dtype=np.int64)
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not an hmnist csv ({exc}); {HOW_TO_GET_HAM}") from None
    pixels = np.delete(values, label_col, axis=1)
    side = int(round((pixels.shape[1] / 3) ** 0.5))
    if side * side * 3 != pixels.shape[1] or pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(f"{path}: {pixels.shape[1]} pixel columns is not an RGB square image; {HOW_TO_GET_HAM}")
    hm_labels = values[:, label_col]
    if hm_labels.min() < 0 or hm_labels.max() >= len(HMNIST_LABELS):
        raise DatasetError(f"{path}: labels outside 0..6; {HOW_TO_GET_HAM}")
    labels = torch.tensor([DX_CLASSES.index(HMNIST_LABELS[i]) for i in hm_labels], dtype=torch.int64)
    images = torch.from_numpy(pixels.reshape(-1, side, side, 3).transpose(0, 3, 1, 2).copy()).float() / 255.0
    return _split(images, labels, split, "ham10000", f"{path} (md5 {md5(data)})")


def load_ham_metadata(metadata: Path, image_dirs: list[Path], split: str, size: int = 28) -> Dataset:
    """HAM10000_metadata.csv (image_id, dx, ...) + ISIC_<id>.jpg files, resized to size x size (bilinear)."""
    from PIL import Image, UnidentifiedImageError

    if not metadata.is_file():
        raise DatasetError(f"{metadata}: file missing; {HOW_TO_GET_HAM}")
    files = {p.stem: p for d in image_dirs if d.is_dir() for p in d.glob("*.jpg")}
    with metadata.open(newline="") as handle:
        try:
            entries = [(row["image_id"], row["dx"]) for row in csv.DictReader(handle)]
        except KeyError as exc:
            raise DatasetError(f"{metadata}: column {exc} missing; {HOW_TO_GET_HAM}") from None
    images, labels = [], []
    for image_id, dx in sorted(entries):
        if dx not in DX_CLASSES:
            raise DatasetError(f"{metadata}: unknown diagnosis {dx!r} for {image_id}; {HOW_TO_GET_HAM}")
        path = files.get(image_id)
        if path is None:
            raise DatasetError(f"{image_id}.jpg: image missing from {', '.join(map(str, image_dirs))}; "
                               f"{HOW_TO_GET_HAM}")
        try:
            with Image.open(path) as image:
                resized = image.convert("RGB").resize((size, size), Image.BILINEAR)
                images.append(np.asarray(resized, dtype=np.uint8))
        except (UnidentifiedImageError, OSError) as exc:
            raise DatasetError(f"{path}: cannot decode ({exc}); {HOW_TO_GET_HAM}") from None
        labels.append(DX_CLASSES.index(dx))
    pixels = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()).float() / 255.0
    return _split(pixels, torch.tensor(labels), split, "ham10000",
                  f"{metadata} (md5 {md5(metadata.read_bytes())}) + {len(labels)} images")


def load_dermamnist_npz(path: Path, split: str) -> Dataset:
    """MedMNIST dermamnist.npz: {train,val,test}_images uint8 [N,28,28,3], *_labels [N,1]. Splits: train,
    test; `all` is train + val + test (val is kept out of train so results compare with MedMNIST's)."""
    if not path.is_file():
        raise DatasetError(f"{path}: file missing; {HOW_TO_GET_DERMA}")
    parts = {"train": ("train",), "test": ("test",), "all": ("train", "val", "test")}[split]
    try:
        with np.load(path) as archive:
            images = np.concatenate([archive[f"{p}_images"] for p in parts])
            labels = np.concatenate([archive[f"{p}_labels"] for p in parts]).reshape(-1)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: not a MedMNIST npz ({exc}); {HOW_TO_GET_DERMA}") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or len(images) != len(labels) or labels.min() < 0 or labels.max() >= len(DX_CLASSES):
        raise DatasetError(f"{path}: inconsistent images/labels; {HOW_TO_GET_DERMA}")
    pixels = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).float() / 255.0
    return Dataset("dermamnist", split, pixels, torch.from_numpy(labels.astype(np.int64)), DX_CLASSES,
                   f"{path} (md5 {md5(path.read_bytes())})")


def load_ham10000(split: str, settings) -> Dataset:
    root = settings.data_dir / "ham10000"
    if (root / "hmnist_28_28_RGB.csv").is_file():
        return load_hmnist_csv(root / "hmnist_28_28_RGB.csv", split)
    image_dirs = [root / "HAM10000_images_part_1", root / "HAM10000_images_part_2", root / "images", root]
    return load_ham_metadata(root / "HAM10000_metadata.csv", image_dirs, split)


def load_dermamnist(split: str, settings) -> Dataset:
    return load_dermamnist_npz(settings.data_dir / "medmnist" / "dermamnist.npz", split)
