"""Other bit widths (4/8/16, per layer) and magnitude pruning."""

import torch

from cosim.engine import QuantConfig, quantize_trained, run
from cosim.engine.quantize import prune_by_magnitude


def accuracy(qmodel, data) -> float:
    return float((run(qmodel, data.images).predictions == data.labels).float().mean())


def test_pruning_zeroes_the_smallest_weights():
    weight = torch.tensor([[0.3, -0.1, 0.05, -0.7]])
    assert torch.equal(prune_by_magnitude(weight, 0.5), torch.tensor([[0.3, 0.0, 0.0, -0.7]]))


def test_bit_widths_and_pruning_on_lenet5(settings, mnist_test):
    data = mnist_test.subset(1000, seed=1)
    int8 = quantize_trained("lenet5", settings)
    wide = quantize_trained("lenet5", settings, QuantConfig(weight_bits=16, activation_bits=16))
    narrow = quantize_trained("lenet5", settings, QuantConfig(weight_bits=4, activation_bits=4))
    pruned = quantize_trained("lenet5", settings, QuantConfig(prune_fraction=0.5))
    mixed = quantize_trained("lenet5", settings, QuantConfig(
        weight_bits=4, layer_weight_bits=(("conv1", 8), ("fc3", 8)), layer_activation_bits=(("conv1", 16),)))
    for layer in narrow.layers:
        if layer.weight is not None:
            assert int(layer.weight.min()) >= -8 and int(layer.weight.max()) <= 7
        assert layer.output_qparams.qmax == 15
    for layer in pruned.layers:
        if layer.weight is not None:
            assert float((layer.weight == 0).float().mean()) >= 0.5
    assert mixed.layer("conv1").weight_bits == 8 and mixed.layer("conv2").weight_bits == 4
    assert mixed.layer("conv1").output_qparams.bits == 16 and mixed.layer("conv2").input_qparams[0].bits == 16
    io = run(mixed, data.images[:4], record=True).layers
    assert io[0].output.dtype == torch.int32 and io[0].output_bits == 16 and io[2].weight_bits == 4
    acc8, acc16, acc4 = accuracy(int8, data), accuracy(wide, data), accuracy(narrow, data)
    assert acc16 >= acc8 - 0.005 and acc8 >= 0.97
    assert acc4 < acc8  # 4-bit weights and activations lose accuracy, measurably
    assert accuracy(pruned, data) >= 0.95 and accuracy(mixed, data) >= 0.95
    assert wide.weight_bytes() == 4 * narrow.weight_bytes()
