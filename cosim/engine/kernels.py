"""Integer kernels. Activation codes travel between layers as float32 tensors holding exact integers.

Why float tensors: torch's float convolution/matmul kernels are much faster than anything integer on CPU, and they
are exact on integer-valued operands as long as every partial sum is an integer float represents exactly. A
uint8 x int8 accumulation is bounded by sum|w| * max|code - zero_point|; below 2^24 float32 is exact in any
summation order, otherwise we accumulate in float64 (exact below 2^53). `prepare` picks the type per layer from
the actual weights; a read hook that changes weights triggers the same check on the weights actually read.
"""

from __future__ import annotations

from dataclasses import replace

import numba
import numpy as np
import torch
import torch.nn.functional as F

from cosim.engine.qparams import QParams, code_dtype
from cosim.engine.quantize import FLOAT32_EXACT_LIMIT, Layer

_F32 = torch.float32


def _f32(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=_F32)


def accumulation_dtype(weight_codes: torch.Tensor, input_qparams: QParams) -> torch.dtype:
    """float32 when |accumulator| < 2^24 is guaranteed for every output, else float64."""
    max_deviation = max(input_qparams.zero_point - input_qparams.qmin, input_qparams.qmax - input_qparams.zero_point)
    worst = float(weight_codes.abs().flatten(1).sum(1).max()) * max_deviation
    return _F32 if worst < FLOAT32_EXACT_LIMIT else torch.float64


def output_clamp(layer: Layer) -> tuple[int, int]:
    q = layer.output_qparams
    lo, hi = q.qmin, q.qmax
    if layer.activation in ("relu", "relu6"):
        lo = q.zero_point  # real 0
    if layer.activation == "relu6":
        six = float(torch.round(_f32(6.0) * (_f32(1.0) / _f32(q.scale))))
        hi = min(hi, q.zero_point + int(six))
    return lo, hi


def prepare(layer: Layer, requantization: str) -> Layer:
    """Attach the execution constants a layer needs (shaped for broadcasting, in the compute dtypes)."""
    c: dict = {"mode": requantization}
    c["clamp"] = output_clamp(layer)
    if layer.weight is not None:
        shape = (1, -1, 1, 1) if layer.weight.dim() == 4 else (1, -1)
        dtype = accumulation_dtype(layer.weight, layer.input_qparams[0])
        c["dtype"] = dtype
        c["weight"] = layer.weight.to(dtype)
        c["bias_f32"] = layer.bias.to(_F32).reshape(shape)
        # per output channel, as numpy vectors for the fused requantization
        c["bias_vec"] = layer.bias.to(_F32).numpy().copy()
        c["multiplier_vec"] = layer.multiplier.to(_F32).numpy().copy()
        c["bias_i64"] = layer.bias.reshape(shape)
        c["multiplier"] = layer.multiplier.reshape(shape)
        c["m0"] = layer.fixed_multiplier.reshape(shape)
        c["shift"] = layer.fixed_shift.reshape(shape)
        c["round_bias"] = ((torch.ones_like(layer.fixed_shift) << (layer.fixed_shift - 1)) - 1).reshape(shape)
    if layer.op == "add":
        qa, qb = layer.input_qparams
        c["inv_out_scale"] = _f32(1.0) / _f32(layer.output_qparams.scale)
        # torch's quantized add dequantizes with one fused multiply-add: code * scale + (-zp * scale)
        c["premul"] = [(-q.zero_point * _f32(q.scale)).double() for q in (qa, qb)]
        c["scales"] = [_f32(q.scale).double() for q in (qa, qb)]
    if layer.op == "cat":
        c["inv_out_scale"] = _f32(1.0) / _f32(layer.output_qparams.scale)
        c["premul"] = [(-q.zero_point * _f32(q.scale)).double() for q in layer.input_qparams]
        c["scales"] = [_f32(q.scale).double() for q in layer.input_qparams]
        # inputs already in the output's qparams are copied code for code
        c["same"] = [q == layer.output_qparams for q in layer.input_qparams]
    if layer.op == "mul":
        qa, qb = layer.input_qparams
        c["multiplier"] = (_f32(qa.scale) * _f32(qb.scale) / _f32(layer.output_qparams.scale))
    if layer.op in ("avgpool", "gap"):
        # the pooled output keeps the input qparams, so the requantization is a division by the window size
        c["zero_point"] = layer.input_qparams[0].zero_point
    return replace(layer, compute=c)


@numba.njit(nogil=True, cache=True)
def _requantize_fbgemm(acc, bias, multiplier, zero_point, lo, hi, codes):
    """In place over acc [N, C, S] (float32): code = clamp(round((acc + bias[c]) * multiplier[c]) + zero_point, lo,
    hi), each step one float32 rounding as torch's add_/mul_/round_ (half to even) make it, no fused multiply-add;
    the same codes also go to ``codes`` (the integer dtype a memory stores), in the same pass."""
    n_images, n_channels, size = acc.shape
    for n in range(n_images):
        for c in range(n_channels):
            b, m = bias[c], multiplier[c]
            for k in range(size):
                v = np.rint((acc[n, c, k] + b) * m) + zero_point
                v = min(max(v, lo), hi)
                acc[n, c, k] = v
                codes[n, c, k] = v


def requantize(layer: Layer, acc: torch.Tensor, with_codes: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """int32 accumulator (exact integer in a float tensor) -> output codes (float32 tensor), and with ``with_codes``
    the same codes in their integer dtype (else None)."""
    c = layer.compute
    q = layer.output_qparams
    zp = q.zero_point
    lo, hi = c["clamp"]
    if c["mode"] == "fbgemm" and acc.dtype == _F32 and acc.is_contiguous() and acc.numel():
        # one compiled pass instead of five torch passes and a conversion: ~3x faster on a LeNet-5 conv output,
        # identical values (tests/engine compare against fbgemm bit for bit)
        # without codes wanted, the kernel's second store goes to acc itself (the same value again)
        codes = torch.empty(acc.shape, dtype=code_dtype(q.bits, q.signed)) if with_codes else acc
        n = acc.shape[0]
        _requantize_fbgemm(acc.numpy().reshape(n, acc.shape[1], -1), c["bias_vec"], c["multiplier_vec"],
                           np.float32(zp), np.float32(lo), np.float32(hi), codes.numpy().reshape(n, acc.shape[1], -1))
        return acc, codes if with_codes else None
    if c["mode"] == "fbgemm":
        # in place: acc is a fresh tensor we own; each step is one float32 rounding, as in fbgemm
        value = acc.add_(c["bias_f32"]) if acc.dtype == _F32 else acc.to(_F32).add_(c["bias_f32"])
        codes = value.mul_(c["multiplier"]).round_()
        if zp:
            codes.add_(zp)
    else:
        value = acc.to(torch.int64) + c["bias_i64"]
        product = value * c["m0"]
        shift = c["shift"]
        odd = (product >> shift) & 1  # round half to even: a tie rounds up only from an odd quotient
        codes = ((product + c["round_bias"] + odd) >> shift).add_(zp).to(_F32)
    codes = codes.clamp_(lo, hi)
    return codes, codes.to(code_dtype(q.bits, q.signed)) if with_codes else None


def _centered(x: torch.Tensor, zero_point: int, dtype: torch.dtype) -> torch.Tensor:
    """Input codes minus their zero point, in the accumulation type: no pass over the input where the zero point
    is 0 (the convolution only reads it)."""
    return (x - zero_point).to(dtype) if zero_point else x.to(dtype)


def conv2d(layer: Layer, x: torch.Tensor, weight: torch.Tensor, with_codes: bool = False
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    centered = _centered(x, layer.input_qparams[0].zero_point, weight.dtype)
    acc = F.conv2d(centered, weight, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return requantize(layer, acc, with_codes)


def linear(layer: Layer, x: torch.Tensor, weight: torch.Tensor, with_codes: bool = False
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    acc = F.linear(_centered(x, layer.input_qparams[0].zero_point, weight.dtype), weight)
    return requantize(layer, acc, with_codes)


def maxpool(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    # max commutes with the monotone code map; padding never wins since every window holds a real element
    (kh, kw), h, w = layer.kernel_size, x.shape[2], x.shape[3]
    if layer.stride == layer.kernel_size and layer.padding == (0, 0) and h % kh == 0 and w % kw == 0:
        # non-overlapping windows: elementwise maxima of strided views are ~7x faster than max_pool2d on CPU
        rows = x[:, :, 0::kh]
        for i in range(1, kh):
            rows = torch.maximum(rows, x[:, :, i::kh])
        out = rows[..., 0::kw]
        for j in range(1, kw):
            out = torch.maximum(out, rows[..., j::kw])
        return out
    return F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding)


def _pool_requantize(layer: Layer, window_sum: torch.Tensor, count: int) -> torch.Tensor:
    """Mean of the window's codes, rounded half to even: round(sum of codes / n).

    Output and input share qparams, so no rescaling. Note the tie rule acts on the raw code mean, as torch's
    quantized pooling does (zp + round((sum - zp*n)/n) would break ties differently when zp is odd).
    float64 division of integers is correctly rounded and x.5 is representable, so ties are seen exactly.
    """
    q = layer.output_qparams
    return torch.clamp(torch.round(window_sum / count), q.qmin, q.qmax).to(_F32)


def avgpool(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    count = layer.kernel_size[0] * layer.kernel_size[1]
    # zero padding pads with the real value 0, i.e. the zero point code
    zp = layer.compute["zero_point"]
    padded = F.pad(x.double() - zp, (layer.padding[1],) * 2 + (layer.padding[0],) * 2) + zp
    window_sum = F.avg_pool2d(padded, layer.kernel_size, layer.stride) * count  # exact: sums of small integers
    return _pool_requantize(layer, torch.round(window_sum), count)


def gap(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    count = x.shape[2] * x.shape[3]
    return _pool_requantize(layer, x.double().sum(dim=(2, 3), keepdim=True), count)


def relu(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, min=float(layer.output_qparams.zero_point))


def add(layer: Layer, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    c = layer.compute
    # float64 holds code*scale + premul exactly, so one rounding to float32 equals the fused multiply-add
    real_a = (a.double() * c["scales"][0] + c["premul"][0]).to(_F32)
    real_b = (b.double() * c["scales"][1] + c["premul"][1]).to(_F32)
    total = real_a + real_b
    if layer.activation == "relu":
        total = torch.clamp(total, min=0.0)
    q = layer.output_qparams
    codes = torch.round(total * c["inv_out_scale"]) + q.zero_point
    lo, hi = c["clamp"]
    return codes.clamp_(lo, hi)


def mul(layer: Layer, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    qa, qb = layer.input_qparams
    product = (a.double() - qa.zero_point) * (b.double() - qb.zero_point)  # exact integer
    codes = torch.round(product.to(_F32) * layer.compute["multiplier"]) + layer.output_qparams.zero_point
    lo, hi = layer.compute["clamp"]
    return codes.clamp_(lo, hi)


def lookup(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    offset = layer.input_qparams[0].qmin
    return layer.lut[(x - offset).long()]


def cat(layer: Layer, inputs: list[torch.Tensor]) -> torch.Tensor:
    """Channel concatenation into the output's qparams: each input dequantized as `add` does (float32 fused
    multiply-add), then `round_half_even(x * (1/s_out)) + zp`, torch's quantize step (tests check the formula)."""
    c = layer.compute
    q = layer.output_qparams
    lo, hi = c["clamp"]
    parts = []
    for i, x in enumerate(inputs):
        if c["same"][i]:
            parts.append(x)
            continue
        real = (x.double() * c["scales"][i] + c["premul"][i]).to(_F32)
        parts.append((torch.round(real * c["inv_out_scale"]) + q.zero_point).clamp_(lo, hi))
    return torch.cat(parts, dim=1)


def reshape(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), *layer.out_shape)


def upsample(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour upsampling by integer factors: every code repeated, qparams kept."""
    fh, fw = layer.kernel_size
    return x.repeat_interleave(fh, dim=2).repeat_interleave(fw, dim=3)
