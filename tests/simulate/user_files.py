"""Write what a user brings: a model file, a checkpoint, and an ImageFolder tree of PNGs (class folders)."""

import shutil
from pathlib import Path

import numpy as np
import torch

CLASSES = ("circle", "cross", "dot", "square", "stripe")


def write_image_folder(root: Path, per_class: int = 10, size: int = 20, seed: int = 0) -> Path:
    """per_class noisy RGB PNGs of a simple pattern per class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / (size - 1) - 0.5
    patterns = {"circle": (xx ** 2 + yy ** 2 < 0.1), "cross": (abs(xx) < 0.1) | (abs(yy) < 0.1),
                "dot": (xx ** 2 + yy ** 2 < 0.02), "square": (abs(xx) < 0.3) & (abs(yy) < 0.3),
                "stripe": (np.sin(xx * 20) > 0)}
    for cls in CLASSES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = patterns[cls][..., None] * rng.uniform(0.5, 1.0, 3) + rng.normal(0, 0.1, (size, size, 3))
            Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(root / cls / f"{i:03d}.png")
    return root


def write_user_files(folder: Path, checkpoint_format: str = "bare") -> dict:
    """my_net.py (tests/simulate/user_model.py), my_net.pth (random weights, BatchNorm statistics set from the
    images) and my_images/ (50 PNGs, 5 classes) in `folder`."""
    from tests.engine.engine_helpers import set_batchnorm_from_data
    from tests.simulate.user_model import Net

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("user_model.py"), folder / "my_net.py")
    images = write_image_folder(folder / "my_images")
    torch.manual_seed(0)
    model = set_batchnorm_from_data(Net(), torch.rand(32, 3, 16, 16))
    state = model.state_dict()
    if checkpoint_format == "dataparallel":
        state = {"epoch": 3, "model_state_dict": {f"module.{k}": v for k, v in state.items()}}
    torch.save(state, folder / "my_net.pth")
    return {"model": folder / "my_net.py", "weights": folder / "my_net.pth", "images": images, "net": model}
