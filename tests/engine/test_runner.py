"""The access-exposure API: record, read_hook, LayerIO contents, immutability."""

import dataclasses

import pytest
import torch

from cosim.engine import EngineResult, LayerIO, QuantConfig, quantize, quantize_trained, run


@pytest.fixture(scope="module")
def lenet(settings):
    return quantize_trained("lenet5", settings)


@pytest.fixture(scope="module")
def images(mnist_test):
    return mnist_test.images[:64]


def test_record_exposes_every_layer(lenet, images):
    plain = run(lenet, images)
    recorded = run(lenet, images, record=True)
    assert isinstance(plain, EngineResult) and plain.layers == ()
    assert torch.equal(plain.logits, recorded.logits)
    assert [io.name for io in recorded.layers] == list(lenet.layer_names)
    by_name = {io.name: io for io in recorded.layers}
    conv1, fc1, pool1 = by_name["conv1"], by_name["fc1"], by_name["pool1"]
    assert isinstance(conv1, LayerIO) and conv1.op == "conv2d"
    assert conv1.weight.dtype == torch.int8 and conv1.weight.shape == (6, 1, 5, 5) and conv1.weight_bits == 8
    assert conv1.bias.dtype == torch.int32
    assert conv1.input.dtype == torch.uint8 and conv1.input.shape == (64, 1, 28, 28) and conv1.input_bits == 8
    assert conv1.output.shape == (64, 6, 28, 28) and conv1.output_bits == 8
    assert conv1.macs_per_image == 28 * 28 * 6 * 25
    assert by_name["conv2"].macs_per_image == 10 * 10 * 16 * 6 * 25
    assert fc1.input.shape == (64, 400) and fc1.macs_per_image == 400 * 120
    assert pool1.weight is None and pool1.macs_per_image == 0
    # each layer reads what the previous one wrote
    assert torch.equal(by_name["conv2"].input, pool1.output)
    assert torch.equal(fc1.input, by_name["pool2"].output.flatten(1))
    assert recorded.predictions.dtype == torch.int64 and recorded.logits.shape == (64, 10)


def test_identity_hook_sees_every_read_and_changes_nothing(lenet, images):
    calls = []

    def hook(name, kind, codes):
        calls.append((name, kind, codes.dtype))
        return codes

    hooked = run(lenet, images, read_hook=hook)
    assert torch.equal(hooked.logits, run(lenet, images).logits)
    weighted = {"conv1", "conv2", "fc1", "fc2", "fc3"}
    assert {(n, k) for n, k, _ in calls} == {(n, "input") for n in lenet.layer_names} | {(n, "weight") for n in weighted}
    assert all(dtype == (torch.int8 if kind == "weight" else torch.uint8) for _, kind, dtype in calls)


def test_hook_errors_reach_the_computation(lenet, images):
    def flip_sign_bit_of_conv1_weights(name, kind, codes):
        if name == "conv1" and kind == "weight":
            return codes ^ torch.tensor(-128, dtype=torch.int8)  # flips bit 7 of every weight
        return codes

    def zero_fc3_input(name, kind, codes):
        return torch.zeros_like(codes) if (name, kind) == ("fc3", "input") else codes

    clean = run(lenet, images)
    assert not torch.equal(run(lenet, images, read_hook=flip_sign_bit_of_conv1_weights).logits, clean.logits)
    zeroed = run(lenet, images, read_hook=zero_fc3_input, record=True)
    assert int(zeroed.layers[-1].input.max()) == 0
    # all inputs equal -> every image gets the same logits
    assert torch.equal(zeroed.logits, zeroed.logits[:1].expand_as(zeroed.logits))


def test_hook_that_breaks_the_float32_bound_stays_exact(lenet, images):
    # all weights +127: sum|w| * 255 exceeds 2^24 for fc1, so the engine must switch to float64 accumulation
    def saturate(name, kind, codes):
        return torch.full_like(codes, 127) if kind == "weight" else codes

    result = run(lenet, images, read_hook=saturate, record=True)
    fc1 = lenet.layer("fc1")
    io = result.layers[lenet.layer_names.index("fc1")]
    acc = (io.input.to(torch.int64) - fc1.input_qparams[0].zero_point).sum(1, keepdim=True) * 127
    value = (acc + fc1.bias.reshape(1, -1)).float() * fc1.multiplier.reshape(1, -1)
    lo, hi = fc1.compute["clamp"]
    expected = torch.clamp(torch.round(value) + fc1.output_qparams.zero_point, lo, hi)
    assert torch.equal(io.output.to(torch.int64), expected.to(torch.int64))


def test_hook_must_keep_shape_and_range(lenet, images):
    with pytest.raises(ValueError, match="shape"):
        run(lenet, images, read_hook=lambda n, k, c: c.flatten())
    with pytest.raises(ValueError, match="outside"):
        run(lenet, images, read_hook=lambda n, k, c: c.to(torch.int32) + 300 if k == "input" else c)


def test_quantized_model_is_immutable(lenet):
    with pytest.raises(dataclasses.FrozenInstanceError):
        lenet.layers = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        lenet.layers[0].weight = None
    assert lenet.input_qparams.bits == 8 and lenet.layer_names[0] == "conv1"


def test_qparams_equal_torch_observers():
    from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

    from cosim.engine.qparams import MinMaxObserver as Ours
    from cosim.engine.qparams import symmetric_per_channel_scales

    generator = torch.Generator().manual_seed(3)
    batches = [torch.randn(64, 8, generator=generator) * 3 + 1 for _ in range(3)]
    theirs = MinMaxObserver(dtype=torch.quint8)
    ours = Ours()
    for batch in batches:
        theirs(batch)
        ours = ours.observe(batch)
    scale, zero_point = theirs.calculate_qparams()
    q = ours.qparams(8)
    assert q.scale == float(scale) and q.zero_point == int(zero_point)
    weight = torch.randn(16, 3, 5, 5, generator=generator)
    per_channel = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    per_channel(weight)
    scales, zero_points = per_channel.calculate_qparams()
    assert torch.equal(symmetric_per_channel_scales(weight, 8), scales.float()) and int(zero_points.abs().sum()) == 0


def test_observers_do_not_change_what_they_watch():
    from cosim.engine.qparams import MinMaxObserver

    tensor = torch.randn(10)
    copy = tensor.clone()
    observer = MinMaxObserver().observe(tensor)
    assert torch.equal(tensor, copy) and observer.min_val == float(copy.min())


def test_record_shows_what_the_hook_delivered(lenet, images):
    def corrupt(name, kind, codes):
        if name == "fc2" and kind == "weight":
            return torch.zeros_like(codes)
        if name == "conv2" and kind == "input":
            return torch.full_like(codes, 7)
        return codes

    layers = {io.name: io for io in run(lenet, images, read_hook=corrupt, record=True).layers}
    assert int(layers["fc2"].weight.abs().sum()) == 0 and layers["fc2"].weight.dtype == torch.int8
    assert bool((layers["conv2"].input == 7).all())
    assert not torch.equal(layers["conv2"].input, layers["pool1"].output)
