"""Execute a QuantizedModel on images; optionally record what every layer reads and writes, or pass every read
through a hook (the co-simulation injects SRAM bit errors there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from cosim.engine import kernels
from cosim.engine.graph import LUT_FUNCTIONS
from cosim.engine.qparams import QParams, code_dtype, quantize_activation
from cosim.engine.quantize import Layer, QuantizedModel

#: (layer name, "weight" | "input", integer codes) -> the codes the layer actually reads
ReadHook = Callable[[str, str, torch.Tensor], torch.Tensor]


@dataclass(frozen=True, eq=False)
class LayerIO:
    """What one layer reads and writes, as integer codes (activation codes: uint8 for <= 8 bits, int32 for
    16; weight codes: int8 for <= 8 bits, int16 for 16). Under a read hook, weight and inputs are the codes the
    hook returned, i.e. what the layer actually computed with."""

    name: str
    op: str
    weight: torch.Tensor | None
    weight_bits: int
    bias: torch.Tensor | None  #: int32 codes
    input: torch.Tensor  #: [N, ...]; a two-input layer (add, mul) records its first input here
    input_bits: int
    output: torch.Tensor
    output_bits: int
    macs_per_image: int
    extra_inputs: tuple[torch.Tensor, ...] = ()  #: the further inputs of add/mul, in order


@dataclass(frozen=True, eq=False)
class EngineResult:
    logits: torch.Tensor  #: float32, dequantized [N, classes]
    predictions: torch.Tensor  #: int64 [N]
    layers: tuple[LayerIO, ...]  #: in execution order; empty unless record=True


def _codes(x: torch.Tensor, q: QParams) -> torch.Tensor:
    return x.to(code_dtype(q.bits, q.signed))


def _weight_codes(layer: Layer) -> torch.Tensor:
    return layer.weight.to(code_dtype(layer.weight_bits, True))


def _check_hooked(layer: Layer, what: str, codes: torch.Tensor, shape: torch.Size, lo: int, hi: int) -> torch.Tensor:
    if codes.shape != shape:
        raise ValueError(f"read_hook changed the shape of {layer.name} {what}: {tuple(codes.shape)} != {tuple(shape)}")
    if not codes.is_floating_point() and codes.dtype != torch.bool:
        info = torch.iinfo(codes.dtype)
        if lo <= info.min and info.max <= hi:  # every value of the dtype is a valid code
            return codes
    if codes.numel() and (int(codes.min()) < lo or int(codes.max()) > hi):
        raise ValueError(f"read_hook returned {layer.name} {what} codes outside [{lo}, {hi}]")
    return codes


def _single(kernel):
    return lambda layer, inputs, weight, with_codes: (kernel(layer, inputs[0]), None)


#: op -> (layer, inputs, weight, with_codes) -> (float32 output codes, the same codes in their integer dtype or None)
KERNELS = {
    "conv2d": lambda L, xs, w, wc: kernels.conv2d(L, xs[0], w, wc),
    "depthwise_conv2d": lambda L, xs, w, wc: kernels.conv2d(L, xs[0], w, wc),
    "linear": lambda L, xs, w, wc: kernels.linear(L, xs[0], w, wc),
    "maxpool": _single(kernels.maxpool), "avgpool": _single(kernels.avgpool), "gap": _single(kernels.gap),
    "relu": _single(kernels.relu), "reshape": _single(kernels.reshape), "upsample": _single(kernels.upsample),
    "add": lambda L, xs, w, wc: (kernels.add(L, xs[0], xs[1]), None),
    "mul": lambda L, xs, w, wc: (kernels.mul(L, xs[0], xs[1]), None),
    "cat": lambda L, xs, w, wc: (kernels.cat(L, xs), None),
    **{op: _single(kernels.lookup) for op in LUT_FUNCTIONS},
}


def _execute(layer: Layer, inputs: list[torch.Tensor], weight: torch.Tensor | None, with_codes: bool
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The layer's output (float32 codes) and, where the kernel makes them in the same pass and ``with_codes``, the
    same codes in their integer dtype (else None)."""
    return KERNELS[layer.op](layer, inputs, weight, with_codes)


def quantize_input(qmodel: QuantizedModel, images: torch.Tensor) -> torch.Tensor:
    """Image codes (float32 tensor of integers) as the first layer reads them."""
    return quantize_activation(images, qmodel.input_qparams)


def run(qmodel: QuantizedModel, images: torch.Tensor, *, record: bool = False,
        read_hook: ReadHook | None = None) -> EngineResult:
    """Run the integer program on float images [N, C, H, W] (normalised as the float model expects)."""
    values: dict[str, torch.Tensor] = {"input": quantize_input(qmodel, images)}
    records: list[LayerIO] = []
    # recorded output codes by value name: a layer whose input is an earlier output, read without a hook, records
    # the same codes (reshaped), not a second conversion of the same tensor
    recorded: dict[str, torch.Tensor] = {}

    def stored_codes(layer: Layer, inputs: list[torch.Tensor], k: int) -> torch.Tensor:
        """Input k's codes as the memory holds them: the producing layer's recorded codes where it recorded them
        (no second conversion of the same tensor)."""
        q, name = layer.input_qparams[k], layer.inputs[k]
        known = recorded.get(name)
        if known is not None and known.dtype == code_dtype(q.bits, q.signed) and known.numel() == inputs[k].numel():
            return known.reshape(inputs[k].shape)
        return _codes(inputs[k], q)

    with torch.no_grad():
        for layer in qmodel.layers:
            inputs = [values[v] for v in layer.inputs]
            if layer.op == "linear" and inputs[0].dim() > 2:
                inputs[0] = inputs[0].flatten(1)
            weight = layer.compute.get("weight")
            weight_read = None  # the weight codes the hook returned (recorded instead of the stored ones)
            read_codes = None  # likewise the input codes it returned
            if read_hook is not None:
                inputs, weight, weight_read, read_codes = _hooked_reads(layer, inputs, read_hook, stored_codes)
            out, out_codes = _execute(layer, inputs, weight, record)
            values[layer.name] = out
            if record:
                qs, oq = layer.input_qparams, layer.output_qparams
                recorded[layer.name] = out_codes = _codes(out, oq) if out_codes is None else out_codes
                records.append(LayerIO(
                    name=layer.name, op=layer.op,
                    weight=(weight_read if weight_read is not None else _weight_codes(layer))
                    if layer.weight is not None else None,
                    weight_bits=layer.weight_bits,
                    bias=layer.bias.to(torch.int32) if layer.bias is not None else None,
                    input=read_codes[0] if read_codes else stored_codes(layer, inputs, 0), input_bits=qs[0].bits,
                    output=out_codes, output_bits=oq.bits, macs_per_image=layer.macs_per_image,
                    extra_inputs=tuple(read_codes[1:]) if read_codes else
                    tuple(stored_codes(layer, inputs, k) for k in range(1, len(inputs))),
                ))
    oq = qmodel.output_qparams
    output = values[qmodel.output]
    logits = ((output - oq.zero_point) * torch.tensor(oq.scale, dtype=torch.float32)).flatten(1)
    return EngineResult(logits=logits, predictions=logits.argmax(dim=1), layers=tuple(records))


def _hooked_reads(layer: Layer, inputs: list[torch.Tensor], hook: ReadHook,
                  stored_codes: Callable[[Layer, list[torch.Tensor], int], torch.Tensor]
                  ) -> tuple[list[torch.Tensor], torch.Tensor | None, torch.Tensor | None, list[torch.Tensor]]:
    """The layer's reads through ``hook``: inputs as float32 codes, weight in its accumulation type, and the integer
    codes the hook returned for the weight and for each input (what the layer read, recorded as such). Codes the
    hook hands back unchanged (the same tensor) keep the operand the layer already had."""
    hooked_inputs, input_codes = [], []
    for k, (x, q) in enumerate(zip(inputs, layer.input_qparams)):
        stored = stored_codes(layer, inputs, k)
        codes = hook(layer.name, "input", stored)
        if codes is stored:
            input_codes.append(stored)
            hooked_inputs.append(x)
            continue
        codes = _check_hooked(layer, "input", codes, x.shape, q.qmin, q.qmax)
        input_codes.append(codes if codes.dtype == code_dtype(q.bits, q.signed) else _codes(codes, q))
        hooked_inputs.append(codes.to(torch.float32))
    weight, codes = layer.compute.get("weight"), None
    if layer.weight is not None:
        stored = _weight_codes(layer)
        codes = hook(layer.name, "weight", stored)
        if codes is not stored:
            lo, hi = -(1 << (layer.weight_bits - 1)), (1 << (layer.weight_bits - 1)) - 1
            codes = _check_hooked(layer, "weight", codes, layer.weight.shape, lo, hi)
            # changed weights may break the float32 exactness bound: re-derive the accumulation type
            dtype = kernels.accumulation_dtype(codes.to(torch.int64), layer.input_qparams[0])
            weight = codes.to(dtype)
            codes = codes.to(code_dtype(layer.weight_bits, True))
    return hooked_inputs, weight, codes, input_codes
