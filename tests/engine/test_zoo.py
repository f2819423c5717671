"""Every network of the zoo lowers, quantizes, runs INT8 with each layer equal to the fbgemm twin or the float64
reference of its integer formula, and is charged (trace == vectorised counts). Random weights, BatchNorm
statistics set from data; 2-8 small images each so the suite stays fast."""

from collections import Counter

import pytest
import torch

from cosim.engine import QuantConfig, quantize, run
from cosim.engine.graph import lower, run_float

from engine_helpers import layerwise_mismatches, set_batchnorm_from_data
from zoo import Coverage, EfficientNetB0, MobileNetV2, ResNet20, VGGCat

ZOO = {
    "mobilenet_v2": (lambda: MobileNetV2(width=8), 32, {"depthwise_conv2d", "add", "gap", "linear"}),
    "resnet20": (lambda: ResNet20(width=8, blocks=1), 32, {"add", "gap", "conv2d"}),
    "efficientnet_b0": (lambda: EfficientNetB0(width=0.25), 32, {"silu", "sigmoid", "mul", "gap",
                                                                  "depthwise_conv2d", "add"}),
    "vgg_grouped_cat": (lambda: VGGCat(width=8), 16, {"conv2d", "cat", "hardswish", "maxpool"}),
    "coverage": (lambda: Coverage(), 16, {"depthwise_conv2d", "hardsigmoid", "upsample", "avgpool", "reshape",
                                          "relu6", "add"}),
}


def _build(name):
    factory, size, ops = ZOO[name]
    torch.manual_seed(0)
    model = factory()
    set_batchnorm_from_data(model, torch.rand(16, 3, size, size))
    return model, size, ops


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_lowers_quantizes_and_runs_exactly(name):
    model, size, ops = _build(name)
    images = torch.rand(8, 3, size, size)
    program = lower(model, images[:1])
    with torch.no_grad():
        assert torch.allclose(run_float(program, images), model(images), atol=1e-4, rtol=1e-4)
    qmodel = quantize(model, torch.rand(16, 3, size, size), QuantConfig(reduce_range=True))
    assert ops <= {layer.op for layer in qmodel.layers}
    result = run(qmodel, images, record=True)
    counts = layerwise_mismatches(qmodel, result)
    checked = counts.pop("_checked")
    assert sum(counts.values()) == 0, counts
    assert checked["twin"] + checked["reference"] == len(qmodel.layers)
    # INT8 tracks the float model: the argmax agrees on most images, the logits are close
    with torch.no_grad():
        ref = model(images)
    assert float((result.logits - ref).abs().max()) < 0.5 * float(ref.abs().max()) + 1e-3


def test_resnet18_style_from_the_package():
    from cosim.models import build_model

    torch.manual_seed(3)
    model = set_batchnorm_from_data(build_model("resnet18", width=8, blocks=(1, 1, 1, 1)), torch.rand(16, 3, 32, 32))
    qmodel = quantize(model, torch.rand(16, 3, 32, 32), QuantConfig(reduce_range=True))
    counts = layerwise_mismatches(qmodel, run(qmodel, torch.rand(4, 3, 32, 32), record=True))
    counts.pop("_checked")
    assert sum(counts.values()) == 0, counts


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_is_charged_trace_equals_vectorised(name, tmp_path):
    from cosim.memory.accelerator import load_accelerator
    from cosim.memory.mapping import ACTIVATIONS, WEIGHTS
    from cosim.memory.system import build_system, charge_batch, initial_act_state
    from cosim.memory.trace import trace
    from cosim.table import CharacterizationTable
    from cosim.types import Corner
    from tests.tablegen import write_table

    model, size, _ = _build(name)
    qmodel = quantize(model, torch.rand(8, 3, size, size))
    layers = run(qmodel, torch.rand(2, 3, size, size), record=True).layers
    costs = CharacterizationTable.load(write_table(tmp_path, num_words=256, word_size=32)).access_costs(
        Corner("tt", 1.7, 50.0))
    from dataclasses import replace

    from cosim.memory.accelerator import MemorySpec

    acc = load_accelerator()
    acc = replace(acc, weights=MemorySpec("sram_test", 2), activations=MemorySpec("sram_test", 2))
    ms = build_system(layers, acc, costs, costs)
    ch, cw, ca, _ = charge_batch(ms, layers, initial_act_state(ms), True)
    accesses = trace(ms, layers)
    assert accesses
    traced = Counter()  # (memory, layer, op) -> accesses; (memory, layer, "ones") -> ones read
    for a in accesses:
        if a.image >= 0:
            traced[(a.memory, a.layer, a.op)] += 1
            if a.op == "read":
                traced[(a.memory, a.layer, "ones")] += a.ones
    for memory, counted in ((WEIGHTS, cw), (ACTIVATIONS, ca)):
        for i in range(len(layers)):
            assert traced[(memory, i, "read")] == 2 * counted.reads[i], (memory, layers[i].name)
            assert traced[(memory, i, "write")] == 2 * counted.writes[i], (memory, layers[i].name)
            assert traced[(memory, i, "ones")] == int(counted.read_ones[:, i].sum()), (memory, layers[i].name)
    assert float(ch.energy_per_image_j.min()) > 0
