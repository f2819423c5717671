"""Dataset loaders on the real shared data (MNIST, digits) and on small files the tests create."""

import gzip
import io
import pickle
import struct
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cosim.config import load_settings
from cosim.data import load_dataset
from cosim.data.cifar10 import CLASSES, load_cifar10
from cosim.data.ham10000 import DX_CLASSES, load_dermamnist_npz, load_ham_metadata, load_hmnist_csv
from cosim.data.mnist import load_mnist
from cosim.errors import DatasetError


@pytest.fixture(scope="module")
def settings():
    return load_settings()


def test_digits_split_is_seeded_and_disjoint(settings):
    train, test, all_ = (load_dataset("digits", s, settings) for s in ("train", "test", "all"))
    assert len(train) + len(test) == len(all_) == 1797
    assert train.images.shape[1:] == (1, 8, 8) and float(train.images.max()) == 1.0
    again = load_dataset("digits", "test", settings)
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)
    train_rows = {tuple(x.flatten().tolist()) for x in train.images}
    assert sum(tuple(x.flatten().tolist()) in train_rows for x in test.images) < 20  # a few duplicate digits


def test_real_mnist(settings):
    test = load_dataset("mnist", "test", settings)
    assert test.images.shape == (10000, 1, 28, 28) and test.images.dtype == torch.float32
    assert test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert torch.bincount(test.labels).tolist()[0] == 980
    assert "2646ac647ad5339dbf082846283269ea" in test.source and test.classes[3] == "3"


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _fake_mnist(directory: Path, compress: bool) -> None:
    rng = np.random.default_rng(0)
    files = {"t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
             "t10k-labels-idx1-ubyte": np.arange(5, dtype=np.uint8)}
    for stem, array in files.items():
        data = _idx(array)
        if compress:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / stem).write_bytes(data)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_checksum_mismatch_is_a_one_line_error(tmp_path, settings, compress):
    _fake_mnist(tmp_path, compress)
    with pytest.raises(DatasetError) as info:
        load_mnist("test", settings, directory=tmp_path)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message and "md5" in message and "\n" not in message
    # the same files parse when checksums are not enforced (the IDX reader itself works on both forms)
    data = load_mnist("test", settings, directory=tmp_path, verify=False)
    assert data.images.shape == (5, 1, 28, 28) and data.labels.tolist() == [0, 1, 2, 3, 4]


def test_mnist_missing_and_truncated_files(tmp_path, settings):
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: file missing"):
        load_mnist("test", settings, directory=tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="cannot read"):
        load_mnist("test", settings, directory=tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(np.zeros((3, 28, 28), np.uint8))[:-10])
    with pytest.raises(DatasetError, match="truncated"):
        load_mnist("test", settings, directory=tmp_path, verify=False)


def test_missing_mnist_dir_via_settings(tmp_path, settings):
    with pytest.raises(DatasetError, match="file missing"):
        load_dataset("mnist", "train", replace(settings, data_dir=tmp_path))


def _fake_cifar_arrays(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist()


def test_cifar10_python_batches_dir_and_tar(tmp_path, settings):
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    arrays = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data, labels = _fake_cifar_arrays(4, i)
        arrays[name] = (data, labels)
        (batches / name).write_bytes(pickle.dumps({b"data": data, b"labels": labels}))
    test = load_cifar10("test", settings, batches)
    expected = torch.from_numpy(arrays["test_batch"][0].reshape(4, 3, 32, 32)).float() / 255
    assert torch.equal(test.images, expected) and test.labels.tolist() == arrays["test_batch"][1]
    assert len(load_cifar10("train", settings, batches)) == 20 and test.classes == CLASSES
    archive = tmp_path / "cifar-10-python-copy.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batches, arcname="cifar-10-batches-py")
    from_tar = load_cifar10("test", settings, archive)
    assert torch.equal(from_tar.images, test.images) and "md5" in from_tar.source
    (batches / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="test_batch: not a CIFAR-10 python batch"):
        load_cifar10("test", settings, batches)


def _write_image_folder(root: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    written = {}
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for cls in ("cat", "ship"):
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")  # lossless, so pixels compare
                written[f"{split}/{cls}/{i}"] = pixels
    return written


def test_cifar10_image_folder_and_its_tar_gz(tmp_path, settings):
    root = tmp_path / "folder"
    written = _write_image_folder(root)
    test = load_cifar10("test", settings, root)
    assert test.labels.tolist() == [CLASSES.index("cat")] * 2 + [CLASSES.index("ship")] * 2
    expected = torch.from_numpy(written["test/cat/0"].transpose(2, 0, 1).copy()).float() / 255
    assert torch.equal(test.images[0], expected)
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="cifar10")
    from_tar = load_cifar10("test", settings, archive)
    assert torch.equal(from_tar.images, test.images) and torch.equal(from_tar.labels, test.labels)
    assert len(load_cifar10("all", settings, archive)) == 8


def test_cifar10_corrupt_and_missing(tmp_path, settings):
    corrupt = tmp_path / "cifar10-jpeg.tar.gz"  # a known archive name with the wrong content
    corrupt.write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DatasetError, match="cifar10-jpeg.tar.gz: md5 .* expected 596482b5"):
        load_cifar10("test", settings, corrupt)
    with pytest.raises(DatasetError, match="no CIFAR-10 found"):
        load_dataset("cifar10", "test", replace(settings, data_dir=tmp_path / "empty"))


def test_hmnist_csv(tmp_path):
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (10, 28 * 28 * 3))
    labels = np.arange(10) % 7
    path = tmp_path / "hmnist_28_28_RGB.csv"
    header = ",".join([f"pixel{i:04d}" for i in range(28 * 28 * 3)] + ["label"])
    rows = [",".join(map(str, list(p) + [l])) for p, l in zip(pixels, labels)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    data = load_hmnist_csv(path, "all")
    assert data.images.shape == (10, 3, 28, 28) and data.classes == DX_CLASSES
    # pixel columns are row-major with RGB interleaved: pixel0001 is the green of the first pixel
    assert data.images[0, 1, 0, 0] == pixels[0, 1] / 255
    assert DX_CLASSES[int(data.labels[6])] == "mel"  # hmnist label 6
    path.write_text(header + "\n" + "1,2,x\n")
    with pytest.raises(DatasetError, match="hmnist_28_28_RGB.csv: not an hmnist csv"):
        load_hmnist_csv(path, "all")
    with pytest.raises(DatasetError, match="file missing"):
        load_hmnist_csv(tmp_path / "nope.csv", "all")


def test_ham_metadata_and_images(tmp_path):
    from PIL import Image

    images = tmp_path / "HAM10000_images_part_1"
    images.mkdir()
    rows = ["lesion_id,image_id,dx,dx_type,age,sex,localization"]
    for i, dx in enumerate(["nv", "mel", "bkl"]):
        Image.fromarray(np.full((45, 60, 3), 40 * i, np.uint8)).save(images / f"ISIC_{i:07d}.jpg")
        rows.append(f"HAM_{i},ISIC_{i:07d},{dx},histo,50,male,back")
    metadata = tmp_path / "HAM10000_metadata.csv"
    metadata.write_text("\n".join(rows) + "\n")
    data = load_ham_metadata(metadata, [images], "all", size=28)
    assert data.images.shape == (3, 3, 28, 28)
    assert [DX_CLASSES[i] for i in data.labels] == ["nv", "mel", "bkl"]
    assert abs(float(data.images[2].mean()) - 80 / 255) < 0.02
    (images / "ISIC_0000001.jpg").unlink()
    with pytest.raises(DatasetError, match="ISIC_0000001.jpg: image missing"):
        load_ham_metadata(metadata, [images], "all")


def test_dermamnist_npz(tmp_path):
    rng = np.random.default_rng(3)
    parts = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        parts[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28, 3), dtype=np.uint8)
        parts[f"{split}_labels"] = rng.integers(0, 7, (n, 1))
    path = tmp_path / "dermamnist.npz"
    np.savez(path, **parts)
    test = load_dermamnist_npz(path, "test")
    assert test.images.shape == (3, 3, 28, 28) and test.labels.tolist() == parts["test_labels"].ravel().tolist()
    assert len(load_dermamnist_npz(path, "all")) == 11
    path.write_bytes(b"PK junk")
    with pytest.raises(DatasetError, match="dermamnist.npz: not a MedMNIST npz"):
        load_dermamnist_npz(path, "test")


def test_unknown_names(settings):
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("imagenet", "test", settings)
    with pytest.raises(DatasetError, match="unknown split"):
        load_dataset("digits", "validation", settings)
