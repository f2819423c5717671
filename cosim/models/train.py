"""Seeded, deterministic CPU training of the in-project models (SGD with momentum, cosine learning rate).

Determinism: fixed seeds for initialisation and shuffling, deterministic torch algorithms, a fixed thread count;
the same command on the same torch build reproduces the committed weights.
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


def train(config: TrainConfig, train_data: Dataset, test_data: Dataset, progress=None) -> TrainResult:
    """``progress(steps_done, total_steps)`` after every optimizer step (a progress bar; no effect on the result)."""
    spec = config.spec
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        torch.manual_seed(config.seed)
        model = build_model(spec.name, **dict(config.model_kwargs))
        if spec.train_subset:
            train_data = train_data.subset(spec.train_subset, config.seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=spec.learning_rate, momentum=spec.momentum,
                                    weight_decay=spec.weight_decay)
        steps_per_epoch = math.ceil(len(train_data) / spec.batch_size)
        total_steps = steps_per_epoch * spec.epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total_steps)))
        shuffle = torch.Generator().manual_seed(config.seed + 1)
        losses = []
        started = time.perf_counter()
        for _ in range(spec.epochs):
            model.train()
            order = torch.randperm(len(train_data), generator=shuffle)
            running = 0.0
            for step in range(steps_per_epoch):
                index = order[step * spec.batch_size:(step + 1) * spec.batch_size]
                loss = F.cross_entropy(model(train_data.images[index]), train_data.labels[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                running += float(loss.detach())
                if progress is not None:
                    progress(1, total_steps)
            losses.append(running / steps_per_epoch)
        seconds = time.perf_counter() - started
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
