"""The integer inference engine: post-training static quantization (per-channel int8 weights, uint8 activations
with zero points, int32 bias) and integer execution that matches torch.ao's fbgemm backend bit for bit.

Public API (the co-simulation's contract): QuantConfig, QuantizedModel, quantize, run, LayerIO, EngineResult,
ReadHook, quantize_trained.
"""

from __future__ import annotations

from cosim.engine.qparams import QParams
from cosim.engine.quantize import Layer, QuantConfig, QuantizedModel, quantize
from cosim.engine.runner import EngineResult, LayerIO, ReadHook, run

__all__ = [
    "EngineResult", "Layer", "LayerIO", "QParams", "QuantConfig", "QuantizedModel", "ReadHook", "quantize",
    "quantize_trained", "run",
]


def calibration_images(name: str, settings=None):
    """The committed model's calibration images: a seeded subset of its training split (the recipe in its metadata).

    The subset is cached under the cache dir, keyed by what determines it (the weights file's hash, which names
    the recipe, the dataset folder, seed and count), so a run needs the training split only the first time."""
    import hashlib
    import os
    import tempfile

    import torch

    from cosim.config import load_settings
    from cosim.data import load_dataset
    from cosim.models import load_trained, weights_path

    settings = load_settings() if settings is None else settings
    _, meta = load_trained(name)
    seed, count = int(meta.get("calibration_seed", 0)), int(meta.get("calibration_images", 512))
    key = hashlib.sha256(f"{hashlib.sha256(weights_path(name).read_bytes()).hexdigest()}:{meta['dataset']}:"
                         f"{settings.data_dir}:{seed}:{count}".encode()).hexdigest()[:24]
    path = settings.cache_dir / "calibration" / f"{name}-{key}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError):
            pass  # a damaged cache file: rebuild it below
    train = load_dataset(meta["dataset"], "train", settings)
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(train.labels), generator=generator)[:min(count, len(train.labels))]
    images = train.images[index].clone()
    try:  # written whole or not at all: a temp file renamed into place
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        torch.save(images, tmp)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the next run the training split again
    return images


def quantize_trained(name: str, settings=None, config: QuantConfig | None = None) -> QuantizedModel:
    """Quantize a committed model with its recorded calibration recipe (seeded subset of its training split,
    cached: see calibration_images)."""
    from cosim.models import load_trained

    model, _ = load_trained(name)
    return quantize(model, calibration_images(name, settings), config if config is not None else QuantConfig())
