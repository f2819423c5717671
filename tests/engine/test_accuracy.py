"""The committed models, quantized with their recipe, on real test images."""

import torch

from cosim.data import load_dataset
from cosim.engine import quantize_trained, run
from cosim.models import load_trained


def float_and_int8(name, settings, data):
    model, meta = load_trained(name)
    qmodel = quantize_trained(name, settings)
    with torch.no_grad():
        float_pred = model(data.images).argmax(1)
    int8_pred = run(qmodel, data.images).predictions
    return [float((p == data.labels).float().mean()) for p in (float_pred, int8_pred)]


def test_lenet5_int8_on_real_mnist(settings, mnist_test):
    data = mnist_test.subset(3000, seed=2)
    float_acc, int8_acc = float_and_int8("lenet5", settings, data)
    assert int8_acc >= 0.975
    assert abs(float_acc - int8_acc) <= 0.003


def test_digits_int8(settings):
    data = load_dataset("digits", "test", settings)
    float_acc, int8_acc = float_and_int8("digits", settings, data)
    assert int8_acc >= 0.97 and abs(float_acc - int8_acc) <= 0.005


def test_dscnn_int8_on_real_mnist(settings, mnist_test):
    data = mnist_test.subset(2000, seed=3)
    float_acc, int8_acc = float_and_int8("dscnn", settings, data)
    assert int8_acc >= 0.97 and abs(float_acc - int8_acc) <= 0.005


def test_metadata_records_the_recipe():
    _, meta = load_trained("lenet5")
    assert meta["dataset"] == "mnist" and meta["command"].startswith("cosim train --model lenet5")
    assert meta["float_test_accuracy"] >= 0.975


def test_resnet20_int8_on_real_cifar10(settings):
    _, meta = load_trained("resnet20")
    assert meta["dataset"] == "cifar10" and meta["recipe"]["augment"] == "flip_crop"
    # the committed weights are what the committed recipe trains, to 88 % on the full test set
    from cosim.models import SPECS

    assert meta["recipe"]["epochs"] == SPECS["resnet20"].epochs and meta["float_test_accuracy"] >= 0.88
    data = load_dataset("cifar10", "test", settings).subset(500, seed=4)
    float_acc, int8_acc = float_and_int8("resnet20", settings, data)
    assert int8_acc >= 0.8 and abs(float_acc - int8_acc) <= 0.02  # chance is 0.1
