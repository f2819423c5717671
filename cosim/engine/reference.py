"""The fbgemm twin of a QuantizedModel: the same layers, weights and qparams executed by torch.ao's quantized
operators (torch.backends.quantized.engine = "fbgemm"). Used by the bit-exactness tests and the benchmark.

Ops without an fbgemm operator (silu/sigmoid lookup tables, mul) have no twin; `supports` says which do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.ao.nn.quantized as nnq
import torch.nn.functional as F

from cosim.engine.quantize import Layer, QuantizedModel

TWIN_OPS = frozenset({"conv2d", "depthwise_conv2d", "linear", "maxpool", "avgpool", "gap", "relu", "add", "cat",
                      "reshape", "upsample"})


def use_fbgemm() -> None:
    """Select the fbgemm backend (process-wide torch setting; the twin needs it)."""
    torch.backends.quantized.engine = "fbgemm"


def supports(qmodel: QuantizedModel) -> bool:
    return all(layer_supported(layer) for layer in qmodel.layers)


def fbgemm_float_bias(layer: Layer) -> torch.Tensor:
    """The float32 bias that fbgemm turns back into exactly our int32 bias codes.

    fbgemm receives a float bias and adds bias / (input_scale * weight_scale) to the float accumulator; we pick,
    per channel, a float32 whose quotient is exactly the integer code (nudging by one ulp where rounding misses).
    """
    ats = torch.tensor(layer.input_qparams[0].scale, dtype=torch.float32) * layer.weight_scale
    codes = layer.bias.to(torch.float32)
    bias = codes * ats
    for _ in range(4):
        miss = (bias / ats) != codes
        if not bool(miss.any()):
            break
        direction = torch.where((bias / ats) < codes, torch.full_like(bias, float("inf")),
                                torch.full_like(bias, float("-inf")))
        bias = torch.where(miss, torch.nextafter(bias, direction), bias)
    return bias


@dataclass(frozen=True, eq=False)
class TwinLayer:
    layer: Layer
    packed: object | None  # fbgemm packed weights for conv/linear


def layer_supported(layer: Layer) -> bool:
    return layer.op in TWIN_OPS and layer.weight_bits in (0, 8) and all(
        q.bits == 8 for q in layer.input_qparams + (layer.output_qparams,))


def build_twin(qmodel: QuantizedModel, partial: bool = False) -> tuple[TwinLayer, ...]:
    """Twins of every layer; with partial=True layers without an fbgemm operator get twin None (per-layer use)."""
    if not partial and not supports(qmodel):
        raise ValueError("the fbgemm twin covers 8-bit models of conv/linear/pool/relu/add layers only")
    use_fbgemm()
    twins = []
    for layer in qmodel.layers:
        packed = None
        if not layer_supported(layer):
            twins.append(None)
            continue
        if layer.weight is not None:
            qweight = torch._make_per_channel_quantized_tensor(
                layer.weight.to(torch.int8), layer.weight_scale.double(),
                torch.zeros(layer.weight.shape[0], dtype=torch.int64), 0)
            bias = fbgemm_float_bias(layer)
            if layer.op == "linear":
                packed = torch.ops.quantized.linear_prepack(qweight, bias)
            else:
                packed = torch.ops.quantized.conv2d_prepack(qweight, bias, list(layer.stride), list(layer.padding),
                                                            list(layer.dilation), layer.groups)
        twins.append(TwinLayer(layer, packed))
    return tuple(twins)


def quantize_input_torch(qmodel: QuantizedModel, images: torch.Tensor) -> torch.Tensor:
    q = qmodel.input_qparams
    return torch.quantize_per_tensor(images.float(), q.scale, q.zero_point, torch.quint8)


def as_quantized(codes: torch.Tensor, qparams) -> torch.Tensor:
    """Wrap integer codes (our engine's) as a quint8 torch tensor with the same qparams."""
    return torch._make_per_tensor_quantized_tensor(codes.to(torch.uint8), qparams.scale, qparams.zero_point)


def twin_layer(twin: TwinLayer, inputs: list[torch.Tensor]) -> torch.Tensor:
    """One layer by torch.ao's quantized operators; inputs and output are quint8 tensors."""
    layer = twin.layer
    x = inputs[0]
    q = layer.output_qparams
    if layer.op == "linear":
        x = x.flatten(1) if x.dim() > 2 else x
        fn = torch.ops.quantized.linear_relu if layer.activation == "relu" else torch.ops.quantized.linear
        y = fn(x, twin.packed, q.scale, q.zero_point)
    elif layer.op in ("conv2d", "depthwise_conv2d"):
        fn = torch.ops.quantized.conv2d_relu if layer.activation == "relu" else torch.ops.quantized.conv2d
        y = fn(x, twin.packed, q.scale, q.zero_point)
    elif layer.op == "maxpool":
        y = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding)
    elif layer.op == "avgpool":
        y = F.avg_pool2d(x, layer.kernel_size, layer.stride, layer.padding)
    elif layer.op == "gap":
        y = F.adaptive_avg_pool2d(x, 1)
    elif layer.op == "relu":
        y = F.relu(x)
    elif layer.op == "add":
        fn = torch.ops.quantized.add_relu if layer.activation == "relu" else torch.ops.quantized.add
        y = fn(x, inputs[1], q.scale, q.zero_point)
    elif layer.op == "cat":
        y = torch.ops.quantized.cat(inputs, 1, q.scale, q.zero_point)
    elif layer.op == "reshape":
        y = x.reshape(len(x), *layer.out_shape)
    elif layer.op == "upsample":
        y = F.interpolate(x, scale_factor=layer.kernel_size, mode="nearest")
    else:  # pragma: no cover - supports() rules these out
        raise ValueError(layer.op)
    if layer.activation == "relu6":
        y = nnq.ReLU6()(y)
    return y


def run_twin(qmodel: QuantizedModel, twins: tuple[TwinLayer, ...], images: torch.Tensor,
             keep: bool = True) -> dict[str, torch.Tensor]:
    """Run the twin end to end (each layer reads the twin's own previous outputs); value name -> quint8 tensor
    (all values if keep, else only the output)."""
    use_fbgemm()
    values = {"input": quantize_input_torch(qmodel, images)}
    for twin in twins:
        values[twin.layer.name] = twin_layer(twin, [values[v] for v in twin.layer.inputs])
        if not keep:
            values = {k: v for k, v in values.items() if k in _still_needed(qmodel, twin.layer.name)}
    return values


def _still_needed(qmodel: QuantizedModel, done: str) -> set[str]:
    names = qmodel.layer_names
    later = qmodel.layers[names.index(done) + 1:]
    return {v for layer in later for v in layer.inputs} | {done, qmodel.output}
