"""Seeded, deterministic CPU training of the in-project models (SGD with momentum, optional linear warm-up, cosine
learning rate; per recipe: Nesterov, label smoothing, flip + crop augmentation, bfloat16 autocast).

Determinism: fixed seeds for initialisation, shuffling and augmentation, a fixed thread count; the same command on
the same torch build reproduces the committed weights (a bfloat16 recipe also on the same CPU instruction set: AMX
and AVX-512 BF16 kernels may round differently from emulated ones).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F

from cosim.data import Dataset, load_dataset
from cosim.models import SPECS, ModelSpec, build_model, weights_path


@dataclass(frozen=True)
class TrainConfig:
    spec: ModelSpec
    seed: int = 0
    threads: int = 1
    model_kwargs: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, eq=False)
class TrainResult:
    model: torch.nn.Module
    test_accuracy: float
    train_seconds: float
    epoch_losses: tuple[float, ...]
    metadata: dict = field(default_factory=dict)


def evaluate_float(model: torch.nn.Module, data: Dataset, batch_size: int = 1000) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            logits = model(data.images[start:start + batch_size])
            correct += int((logits.argmax(1) == data.labels[start:start + batch_size]).sum())
    return correct / max(1, len(data))


def flip_crop(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Each image flipped left-right with probability 1/2 and cropped back to its size at a random offset of the
    image zero-padded by `pad` pixels (the standard CIFAR augmentation), in one gather."""
    n, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
    flip = torch.randint(0, 2, (n, 1), generator=generator).bool()
    rows = dy + torch.arange(h)
    cols = dx + torch.where(flip, torch.arange(w - 1, -1, -1), torch.arange(w))
    return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def train(config: TrainConfig, train_data: Dataset, test_data: Dataset, progress=None) -> TrainResult:
    """``progress(steps_done, total_steps)`` after every optimizer step (a progress bar; no effect on the result)."""
    spec = config.spec
    if spec.augment not in ("", "flip_crop") or spec.precision not in ("fp32", "bf16"):
        raise ValueError(f"{spec.name}: augment {spec.augment!r} (use '' or 'flip_crop'), precision "
                         f"{spec.precision!r} (use 'fp32' or 'bf16')")
    bf16 = spec.precision == "bf16"
    memory_format = torch.channels_last if bf16 else torch.contiguous_format
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        torch.manual_seed(config.seed)
        model = build_model(spec.name, **dict(config.model_kwargs))
        if spec.train_subset:
            train_data = train_data.subset(spec.train_subset, config.seed)
        model = model.to(memory_format=memory_format)
        optimizer = torch.optim.SGD(model.parameters(), lr=spec.learning_rate, momentum=spec.momentum,
                                    weight_decay=spec.weight_decay, nesterov=spec.nesterov)
        steps_per_epoch = math.ceil(len(train_data) / spec.batch_size)
        total_steps = steps_per_epoch * spec.epochs
        warmup = int(spec.warmup_fraction * total_steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, total_steps, warmup))
        shuffle = torch.Generator().manual_seed(config.seed + 1)
        augmentation = torch.Generator().manual_seed(config.seed + 2)
        losses = []
        started = time.perf_counter()
        for _ in range(spec.epochs):
            model.train()
            order = torch.randperm(len(train_data), generator=shuffle)
            running = 0.0
            for step in range(steps_per_epoch):
                index = order[step * spec.batch_size:(step + 1) * spec.batch_size]
                images = train_data.images[index]
                if spec.augment == "flip_crop":
                    images = flip_crop(images, augmentation)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    logits = model(images.contiguous(memory_format=memory_format))
                loss = F.cross_entropy(logits.float(), train_data.labels[index], label_smoothing=spec.label_smoothing)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                running += float(loss.detach())
                if progress is not None:
                    progress(1, total_steps)
            losses.append(running / steps_per_epoch)
        seconds = time.perf_counter() - started
        model = model.to(memory_format=torch.contiguous_format)
        accuracy = evaluate_float(model, test_data)
    finally:
        torch.set_num_threads(previous_threads)
    metadata = {
        "model": spec.name, "dataset": spec.dataset, "input_shape": list(spec.input_shape),
        "model_kwargs": dict(config.model_kwargs), "recipe": asdict(spec), "seed": config.seed,
        "threads": config.threads, "train_images": len(train_data), "test_images": len(test_data),
        "float_test_accuracy": accuracy, "train_seconds": round(seconds, 1),
        "epoch_losses": [round(x, 5) for x in losses], "torch": str(torch.__version__),
        "calibration_images": spec.calibration_images, "calibration_seed": 0,
        "command": f"cosim train --model {spec.name} --seed {config.seed}",
        "images": "float32 [N,C,H,W] scaled to [0, 1] (cosim.data.load_dataset)",
    }
    return TrainResult(model.eval(), accuracy, seconds, tuple(losses), metadata)


def train_named(name: str, settings, seed: int = 0, threads: int = 1, epochs: int | None = None,
                train_subset: int | None = None, model_kwargs: dict | None = None, progress=None) -> TrainResult:
    spec = SPECS[name]
    if epochs is not None:
        spec = replace(spec, epochs=epochs)
    if train_subset is not None:
        spec = replace(spec, train_subset=train_subset)
    train_data = load_dataset(spec.dataset, "train", settings)
    test_data = load_dataset(spec.dataset, "test", settings)
    kwargs = tuple(sorted((model_kwargs or {}).items()))
    return train(TrainConfig(spec, seed=seed, threads=threads, model_kwargs=kwargs), train_data, test_data, progress)


def save(result: TrainResult, path=None) -> None:
    """Write the weights whole or not at all (a temp file renamed into place): an interrupted run keeps the old."""
    import os
    import tempfile

    path = weights_path(result.metadata["model"]) if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save({"state_dict": state, "metadata": result.metadata}, tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
