"""A user's data: an ImageFolder tree (one folder of PNG/JPEG images per class), an .npz with `x`/`y` arrays, or
a named dataset; resized and normalised as the model expects (`Preprocess`). Class names come from the data."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cosim.data import LOADERS, Dataset, load_dataset
from cosim.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Preprocess:
    """How images become model inputs: pixels scaled to [0, 1], resized to `input_size` (H, W) bilinearly, cast
    to `channels` (1: grey, 3: RGB; None: as stored), then (x - mean) / std per channel."""

    input_size: tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: int | None = None

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> "Preprocess":
        """The `[preprocessing]` table of a TOML file (input_size = [H, W], mean = [...], std = [...],
        channels = N); keyword overrides that are not None win."""
        path = Path(path)
        try:
            section = tomllib.loads(path.read_text()).get("preprocessing", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read the preprocessing TOML ({exc})") from None
        unknown = set(section) - {"input_size", "mean", "std", "channels"}
        if unknown:
            raise DatasetError(f"{path}: unknown [preprocessing] key(s) {sorted(unknown)}; use input_size, mean, "
                               f"std, channels")
        values = {"input_size": _size(section.get("input_size"), path),
                  "mean": _floats(section.get("mean"), path), "std": _floats(section.get("std"), path),
                  "channels": section.get("channels")}
        values |= {k: v for k, v in overrides.items() if v is not None}
        return cls(**values)

    def apply(self, images: torch.Tensor, where: str) -> torch.Tensor:
        x = images
        if self.channels is not None and x.shape[1] != self.channels:
            if self.channels == 1:
                x = x.mean(dim=1, keepdim=True)
            elif x.shape[1] == 1:
                x = x.expand(-1, self.channels, -1, -1)
            else:
                raise DatasetError(f"{where}: images have {x.shape[1]} channels, the model wants {self.channels}")
        if self.input_size is not None and tuple(x.shape[2:]) != tuple(self.input_size):
            x = torch.nn.functional.interpolate(x, size=tuple(self.input_size), mode="bilinear", align_corners=False,
                                                antialias=True)
        if self.mean is not None or self.std is not None:
            c = x.shape[1]
            mean = torch.tensor(self.mean or (0.0,), dtype=torch.float32)
            std = torch.tensor(self.std or (1.0,), dtype=torch.float32)
            for name, t in (("mean", mean), ("std", std)):
                if t.numel() not in (1, c):
                    raise DatasetError(f"{where}: {name} has {t.numel()} values for {c}-channel images; give 1 or {c}")
            if bool((std <= 0).any()):
                raise DatasetError(f"{where}: std must be positive, got {tuple(std.tolist())}")
            x = (x - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)
        return x.contiguous().float()


def _size(value, where) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return (int(value[0]), int(value[1]))
    raise DatasetError(f"{where}: input_size must be N or [H, W] of positive integers, got {value!r}")


def _floats(value, where) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        return tuple(float(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: mean/std must be numbers, got {value!r}") from None


def load_data(source: str | Path, preprocess: Preprocess = Preprocess(), split: str = "test",
              settings=None) -> Dataset:
    """A named dataset's `split`, or all images of an ImageFolder tree / .npz file, preprocessed."""
    text = str(source)
    if text in LOADERS and not Path(text).exists():
        data = load_dataset(text, split, settings)
    else:
        path = Path(text)
        if path.is_dir():
            data = _image_folder(path)
        elif path.suffix == ".npz":
            data = _npz(path)
        elif not path.exists():
            raise DatasetError(f"{text}: no such file or folder, and not a named dataset ({', '.join(LOADERS)})")
        else:
            raise DatasetError(f"{path}: pass a folder of class folders of images, an .npz with x and y arrays, "
                               f"or a named dataset ({', '.join(LOADERS)})")
    if preprocess == Preprocess():
        return data
    return Dataset(data.name, data.split, preprocess.apply(data.images, data.source), data.labels, data.classes,
                   data.source)


def _image_folder(root: Path) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root}: no class folders; lay it out as {root}/<class name>/<image>.png")
    files, labels = [], []
    for label, cls in enumerate(classes):
        found = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        files += found
        labels += [label] * len(found)
    if not files:
        raise DatasetError(f"{root}: the class folders hold no images ({', '.join(IMAGE_SUFFIXES)})")
    digest = hashlib.sha256()
    arrays = []
    modes = set()
    for f in files:
        data = f.read_bytes()
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + data)
        try:
            with Image.open(f) as im:
                im.load()
                modes.add("L" if im.mode in ("1", "L", "I", "I;16", "F") else "RGB")
                arrays.append(im)
        except (UnidentifiedImageError, OSError) as exc:
            raise DatasetError(f"{f}: cannot decode the image ({exc}); remove or replace it") from None
    mode = "L" if modes == {"L"} else "RGB"
    sizes = {im.size for im in arrays}
    if len(sizes) > 1:
        a, b = sorted(sizes)[:2]
        raise DatasetError(f"{root}: images differ in size ({a[0]}x{a[1]} and {b[0]}x{b[1]} pixels); pass "
                           f"--input-size H,W to resize them")
    pixels = np.stack([np.asarray(im.convert(mode), dtype=np.float32) / 255.0 for im in arrays])
    if pixels.ndim == 3:
        pixels = pixels[:, None]
    else:
        pixels = pixels.transpose(0, 3, 1, 2)
    return Dataset(root.name, "all", torch.from_numpy(np.ascontiguousarray(pixels)),
                   torch.tensor(labels, dtype=torch.int64), tuple(classes),
                   f"{root} ({len(files)} images, sha256 {digest.hexdigest()[:16]})")


def _npz(path: Path) -> Dataset:
    try:
        z = np.load(path, allow_pickle=False)
        keys = set(z.files)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable .npz ({exc})") from None
    pairs = [("x", "y"), ("images", "labels"), ("x_test", "y_test"), ("test_images", "test_labels")]
    pair = next(((a, b) for a, b in pairs if a in keys and b in keys), None)
    if pair is None:
        raise DatasetError(f"{path}: holds {sorted(keys)}; it needs arrays named x and y (images, integer labels)")
    x, y = z[pair[0]], z[pair[1]]
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # NHWC
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y) or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{path}: x {x.shape} and y {y.shape} {y.dtype}: want x [N, H, W] / [N, C, H, W] / "
                           f"[N, H, W, C] and integer y [N]")
    images = torch.from_numpy(np.ascontiguousarray(x)).float()
    if np.issubdtype(x.dtype, np.integer):
        images = images / 255.0
    if "classes" in keys:
        classes = tuple(str(c) for c in z["classes"].tolist())
    else:
        classes = tuple(str(c) for c in range(int(y.max()) + 1))
    if int(y.min()) < 0 or int(y.max()) >= len(classes):
        raise DatasetError(f"{path}: labels span {int(y.min())}..{int(y.max())} but there are {len(classes)} classes")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Dataset(path.stem, "all", images, torch.from_numpy(y.astype(np.int64)), classes,
                   f"{path} (sha256 {digest[:16]})")
