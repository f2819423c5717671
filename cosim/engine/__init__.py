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


def quantize_trained(name: str, settings=None, config: QuantConfig | None = None) -> QuantizedModel:
    """Quantize a committed model with its recorded calibration recipe (seeded subset of its training split)."""
    import torch

    from cosim.config import load_settings
    from cosim.data import load_dataset
    from cosim.models import load_trained

    settings = load_settings() if settings is None else settings
    model, meta = load_trained(name)
    train = load_dataset(meta["dataset"], "train", settings)
    generator = torch.Generator().manual_seed(int(meta.get("calibration_seed", 0)))
    count = min(int(meta.get("calibration_images", 512)), len(train.labels))
    index = torch.randperm(len(train.labels), generator=generator)[:count]
    return quantize(model, train.images[index], config if config is not None else QuantConfig())
