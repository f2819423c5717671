"""Calibration images are a seeded subset of the training split, cached: a later run needs no training split."""

from dataclasses import replace

import torch

from cosim.config import load_settings


def test_calibration_cached_and_identical(tmp_path, monkeypatch):
    import cosim.data
    from cosim.data import load_dataset
    from cosim.engine import calibration_images
    from cosim.models import load_trained

    settings = replace(load_settings(), cache_dir=tmp_path)
    first = calibration_images("digits", settings)
    _, meta = load_trained("digits")
    train = load_dataset("digits", "train", settings)
    index = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(meta.get("calibration_seed", 0)))
    assert torch.equal(first, train.images[index[:meta.get("calibration_images", 512)]])
    assert list((tmp_path / "calibration").glob("digits-*.pt"))

    def no_training_split(*a, **k):
        raise AssertionError("the training split was loaded again")

    monkeypatch.setattr(cosim.data, "load_dataset", no_training_split)
    assert torch.equal(calibration_images("digits", settings), first)
