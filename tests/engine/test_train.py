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


def test_flip_crop_is_a_padded_crop_and_a_mirror():
    import torch.nn.functional as F

    from cosim.models.train import flip_crop

    images = torch.rand(64, 3, 8, 8)
    out = flip_crop(images, torch.Generator().manual_seed(3))
    padded = F.pad(images, (4, 4, 4, 4))
    flipped = 0
    for image, crop in zip(padded, out):
        windows = [image[:, y:y + 8, x:x + 8] for y in range(9) for x in range(9)]
        plain = any(torch.equal(crop, w) for w in windows)
        mirrored = any(torch.equal(crop, w.flip(-1)) for w in windows)
        assert plain or mirrored
        flipped += mirrored and not plain
    assert 16 <= flipped <= 48  # about half are mirrored
    again = flip_crop(images, torch.Generator().manual_seed(3))
    assert torch.equal(out, again) and not torch.equal(out, flip_crop(images, torch.Generator().manual_seed(4)))


def test_warmup_then_cosine_schedule():
    from cosim.models.train import _lr_factor

    factors = [_lr_factor(step, 100, 10) for step in range(100)]
    assert factors[0] == 0.1 and factors[9] == 1.0 and factors[10] == 1.0
    assert all(a >= b for a, b in zip(factors[10:], factors[11:])) and factors[-1] < 0.01
    assert [_lr_factor(s, 50, 0) for s in (0, 25)] == [1.0, 0.5]  # no warm-up: the plain cosine


def test_bf16_augmented_recipe_is_deterministic_and_learns(settings, mnist_test):
    # resnet20's recipe (Nesterov, warm-up, label smoothing, flip + crop, bfloat16 autocast) on LeNet-5 and MNIST
    train_data = load_dataset("mnist", "train", settings)
    test_data = mnist_test.subset(1000, seed=1)
    r20 = SPECS["resnet20"]
    spec = replace(SPECS["lenet5"], epochs=6, train_subset=2000, learning_rate=0.1, nesterov=r20.nesterov,
                   warmup_fraction=r20.warmup_fraction, label_smoothing=r20.label_smoothing, augment=r20.augment,
                   precision=r20.precision)
    config = TrainConfig(spec, seed=5, threads=1)
    first = train(config, train_data, test_data)
    second = train(config, train_data, test_data)
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name
        assert a.is_contiguous(), name  # saved in the default memory format, not channels_last
    assert first.epoch_losses[-1] < first.epoch_losses[0]
    assert first.test_accuracy > 0.5  # chance is 0.1
    assert first.metadata["recipe"]["precision"] == "bf16"
