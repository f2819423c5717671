"""In-project models: architectures, committed trained weights (cosim/models/weights/<name>.pt) and their
training recipes. `load_trained(name)` returns the float model in eval mode and its metadata."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cosim.models.architectures import DSCNN, DigitsCNN, EfficientNetB0, LeNet5, ResNet18, ResNet20

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class ModelSpec:
    """What a model is trained on and how (the defaults `cosim train --model NAME` uses)."""

    name: str
    dataset: str
    input_shape: tuple[int, int, int]
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    train_subset: int = 0  #: 0 = the whole training split
    calibration_images: int = 512
    nesterov: bool = False
    warmup_fraction: float = 0.0  #: linear learning-rate warm-up over this share of the steps, then cosine decay
    label_smoothing: float = 0.0
    augment: str = ""  #: "" or "flip_crop": random left-right flip + random crop of the image zero-padded by 4 pixels
    precision: str = "fp32"  #: "fp32", or "bf16": CPU autocast to bfloat16 + channels_last (fp32 master weights)


SPECS: dict[str, ModelSpec] = {
    "lenet5": ModelSpec("lenet5", "mnist", (1, 28, 28), epochs=3, batch_size=64, learning_rate=0.01),
    "digits": ModelSpec("digits", "digits", (1, 8, 8), epochs=30, batch_size=32, learning_rate=0.02,
                        calibration_images=512),
    "dscnn": ModelSpec("dscnn", "mnist", (1, 28, 28), epochs=2, batch_size=64, learning_rate=0.05,
                       weight_decay=1e-4),
    "resnet20": ModelSpec("resnet20", "cifar10", (3, 32, 32), epochs=90, batch_size=256, learning_rate=0.2,
                          weight_decay=5e-4, nesterov=True, warmup_fraction=0.1, label_smoothing=0.1,
                          augment="flip_crop", precision="bf16"),
    "resnet18": ModelSpec("resnet18", "cifar10", (3, 32, 32), epochs=1, batch_size=128, learning_rate=0.05,
                          weight_decay=5e-4, train_subset=10000),
    "efficientnet_b0": ModelSpec("efficientnet_b0", "cifar10", (3, 32, 32), epochs=1, batch_size=128,
                                 learning_rate=0.05, weight_decay=5e-4, train_subset=10000),
}


def build_model(name: str, **kwargs) -> torch.nn.Module:
    """A freshly initialised model (kwargs reach the constructor, e.g. width=8 for a small ResNet-18)."""
    builders = {
        "lenet5": LeNet5, "digits": DigitsCNN, "dscnn": DSCNN, "resnet18": ResNet18, "resnet20": ResNet20,
        "efficientnet_b0": lambda **kw: EfficientNetB0(stem_stride=1, **kw),
    }
    if name not in builders:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join(builders)}")
    return builders[name](**kwargs)


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.pt"


def load_trained(name: str) -> tuple[torch.nn.Module, dict]:
    """The committed trained model (float, eval mode) and its metadata (dataset, accuracy, recipe, command)."""
    from cosim.errors import ConfigError

    path = weights_path(name)
    if not path.is_file():
        raise ConfigError(f"{path}: no committed weights for {name!r}; create them with `cosim train --model {name}`")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    meta = dict(saved["metadata"])
    model = build_model(name, **meta.get("model_kwargs", {}))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), meta
