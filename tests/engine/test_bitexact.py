"""Our integer engine against torch.ao's fbgemm operators with the same weights and qparams: every layer's output
codes must be identical (0 mismatches)."""

import pytest
import torch

from cosim.engine import QuantConfig, quantize, quantize_trained, run
from cosim.engine.reference import as_quantized, build_twin, quantize_input_torch, run_twin, twin_layer
from cosim.engine.runner import quantize_input
from cosim.models import build_model

from engine_helpers import layerwise_mismatches, randomize_batchnorm


def chain_mismatches(qmodel, images) -> dict[str, int]:
    """Run both end to end (the twin reads its own outputs) and count differing codes per layer."""
    ours = run(qmodel, images, record=True)
    theirs = run_twin(qmodel, build_twin(qmodel), images)
    counts = {}
    for io in ours.layers:
        ref = theirs[io.name].int_repr().reshape(io.output.shape).to(torch.int64)
        counts[io.name] = int((io.output.to(torch.int64) != ref).sum())
    return counts


def test_lenet5_every_layer_matches_fbgemm_on_real_mnist(settings, mnist_test):
    qmodel = quantize_trained("lenet5", settings)
    images = mnist_test.images[:2000]
    assert torch.equal(quantize_input(qmodel, images).to(torch.int64),
                       quantize_input_torch(qmodel, images).int_repr().to(torch.int64))
    counts = chain_mismatches(qmodel, images)
    assert list(counts) == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    assert counts == {name: 0 for name in counts}


def test_dscnn_matches_fbgemm_with_reduced_range(settings, mnist_test):
    # depthwise + ReLU6 + global average pooling; reduce_range keeps fbgemm's own int16 pair sums unsaturated
    qmodel = quantize_trained("dscnn", settings, QuantConfig(reduce_range=True))
    counts = chain_mismatches(qmodel, mnist_test.images[:300])
    assert {qmodel.layer(n).op for n in counts} >= {"conv2d", "depthwise_conv2d", "gap", "linear"}
    assert sum(counts.values()) == 0, counts


def test_small_resnet18_matches_fbgemm():
    torch.manual_seed(0)
    model = randomize_batchnorm(build_model("resnet18", width=8, blocks=(1, 1, 1, 1)))
    qmodel = quantize(model, torch.rand(32, 3, 32, 32), QuantConfig(reduce_range=True))
    counts = chain_mismatches(qmodel, torch.rand(24, 3, 32, 32))
    assert sum(1 for n in counts if qmodel.layer(n).op == "add") == 4
    assert sum(counts.values()) == 0, counts


def test_small_efficientnet_b0_layerwise():
    # each layer fed the codes our engine recorded: fbgemm twin where one exists, float64 reference otherwise
    torch.manual_seed(1)
    model = randomize_batchnorm(build_model("efficientnet_b0", width=0.25, depth=0.25))
    qmodel = quantize(model, torch.rand(16, 3, 32, 32), QuantConfig(reduce_range=True))
    result = run(qmodel, torch.rand(8, 3, 32, 32), record=True)
    mismatches = layerwise_mismatches(qmodel, result)
    checked = mismatches.pop("_checked")
    assert not any(mismatches.values()), {name: n for name, n in mismatches.items() if n}
    assert checked["twin"] > 20 and checked["reference"] > 10
    assert {layer.op for layer in qmodel.layers} >= {"silu", "sigmoid", "mul", "add", "depthwise_conv2d", "gap"}


def exact_rounding_reference(value: torch.Tensor, m0: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """round_half_even(value * m0 / 2^shift) by integer floor division and remainder."""
    product = value * m0
    divisor = torch.ones_like(shift) << shift
    quotient = torch.div(product, divisor, rounding_mode="floor")
    twice_remainder = 2 * (product - quotient * divisor)
    up = (twice_remainder > divisor) | ((twice_remainder == divisor) & (quotient % 2 == 1))
    return quotient + up.to(torch.int64)


def test_fixed_point_requantization_is_exact_and_close_to_fbgemm(settings, mnist_test):
    fixed = quantize_trained("lenet5", settings, QuantConfig(requantization="fixed_point"))
    floating = quantize_trained("lenet5", settings)
    images = mnist_test.images[:500]
    ours = run(fixed, images, record=True)
    for io, layer in zip(ours.layers, fixed.layers):
        if layer.weight is None:
            continue
        x = io.input.to(torch.int64) - layer.input_qparams[0].zero_point
        if layer.op == "linear":
            acc = x @ layer.weight.T
            shape = (1, -1)
        else:
            acc = torch.nn.functional.conv2d(x.double(), layer.weight.double(), None, layer.stride,
                                             layer.padding).to(torch.int64)
            shape = (1, -1, 1, 1)
        value = acc + layer.bias.reshape(shape)
        codes = exact_rounding_reference(value, layer.fixed_multiplier.reshape(shape), layer.fixed_shift.reshape(shape))
        lo, hi = layer.compute["clamp"]
        expected = torch.clamp(codes + layer.output_qparams.zero_point, lo, hi)
        assert torch.equal(io.output.to(torch.int64), expected), layer.name
    # same qparams, different arithmetic: predictions agree almost everywhere
    agree = (run(floating, images).predictions == ours.predictions).float().mean()
    assert agree >= 0.99


class PoolingZoo(torch.nn.Module):
    """Average pooling (with and without padding), a standalone ReLU and an add that reads a value twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.pool1 = torch.nn.AvgPool2d(2)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.pool2 = torch.nn.AvgPool2d(3, stride=2, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        y = self.conv2(self.pool1(self.conv1(x)))
        y = self.relu(y) + y  # conv2's output has two readers, so the ReLU cannot fuse
        return self.fc(torch.flatten(self.pool2(y), 1))


def test_pooling_standalone_relu_and_add_match_fbgemm():
    torch.manual_seed(2)
    qmodel = quantize(PoolingZoo(), torch.rand(32, 3, 16, 16), QuantConfig(reduce_range=True))
    assert [layer.op for layer in qmodel.layers] == ["conv2d", "avgpool", "conv2d", "relu", "add", "avgpool",
                                                     "linear"]
    counts = chain_mismatches(qmodel, torch.rand(64, 3, 16, 16))
    assert sum(counts.values()) == 0, counts
