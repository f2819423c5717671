"""Training is seeded and deterministic, and learns."""

from dataclasses import replace

import torch

from cosim.data import load_dataset
from cosim.models import SPECS
from cosim.models.train import TrainConfig, train


def test_short_training_is_deterministic_and_learns(settings):
    train_data = load_dataset("digits", "train", settings)
    test_data = load_dataset("digits", "test", settings)
    config = TrainConfig(replace(SPECS["digits"], epochs=3), seed=5, threads=1)
    first = train(config, train_data, test_data)
    second = train(config, train_data, test_data)
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert first.epoch_losses[-1] < first.epoch_losses[0]
    assert first.test_accuracy > 0.5  # chance is 0.1
    assert first.metadata["command"] == "cosim train --model digits --seed 5"
