"""Quantization parameters and the observers that choose them.

The formulas mirror torch.ao's MinMaxObserver (per-tensor affine) and PerChannelMinMaxObserver (per-channel
symmetric), computed in float32 exactly as torch does, so our qparams equal fbgemm's for the same data.
Observers are immutable values: `observe` returns a new observer and never touches the tensor it watches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: torch's observers floor every scale at float32 epsilon (avoids a zero scale for constant tensors)
_SCALE_FLOOR = float(torch.finfo(torch.float32).eps)
SUPPORTED_BITS: tuple[int, ...] = (4, 8, 16)


def check_bits(bits: int, what: str) -> int:
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"{what}: {bits} bits unsupported; use one of {SUPPORTED_BITS}")
    return bits


@dataclass(frozen=True)
class QParams:
    """Affine quantization of one tensor: real = (code - zero_point) * scale."""

    scale: float  #: a float32 value (stored as a Python float that float32 represents exactly)
    zero_point: int
    bits: int
    signed: bool = False

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


def code_dtype(bits: int, signed: bool) -> torch.dtype:
    """The narrowest torch integer dtype that holds codes of this width (what a memory stores)."""
    if bits <= 8:
        return torch.int8 if signed else torch.uint8
    return torch.int16 if signed else torch.int32


@dataclass(frozen=True)
class MinMaxObserver:
    """Running min/max of everything observed (like torch.ao.quantization.MinMaxObserver)."""

    min_val: float = float("inf")
    max_val: float = float("-inf")

    def observe(self, tensor: torch.Tensor) -> "MinMaxObserver":
        detached = tensor.detach()
        return MinMaxObserver(
            min(self.min_val, float(detached.min())), max(self.max_val, float(detached.max()))
        )

    def qparams(self, bits: int, reduce_range: bool = False) -> QParams:
        if self.min_val > self.max_val:
            raise ValueError("observer saw no data: run calibration images through the model first")
        return affine_qparams(self.min_val, self.max_val, bits, reduce_range)


def affine_qparams(min_val: float, max_val: float, bits: int, reduce_range: bool = False) -> QParams:
    """Per-tensor affine unsigned qparams, float32 arithmetic as torch's `_calculate_qparams`.

    reduce_range (torch's fbgemm default) picks scale/zero point for half the code range, 0..2^(bits-1)-1, while
    codes are still clamped to the full range: it keeps fbgemm's int16 pair sums (vpmaddubsw) from saturating.
    """
    qmin, qmax = 0, (1 << (bits - 1 if reduce_range else bits)) - 1
    min_neg = torch.clamp(torch.tensor(min_val, dtype=torch.float32), max=0.0)
    max_pos = torch.clamp(torch.tensor(max_val, dtype=torch.float32), min=0.0)
    scale = (max_pos - min_neg) / float(qmax - qmin)
    scale = torch.clamp(scale, min=_SCALE_FLOOR)
    zero_point = qmin - torch.round(min_neg / scale).to(torch.int64)
    zero_point = int(torch.clamp(zero_point, qmin, qmax))
    return QParams(scale=float(scale), zero_point=zero_point, bits=bits)


def symmetric_per_channel_scales(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """float32 [out_channels] scales of per-channel symmetric weights (torch's per_channel_symmetric)."""
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    flat = weight.detach().to(torch.float32).reshape(weight.shape[0], -1)
    min_neg = torch.clamp(flat.min(dim=1).values, max=0.0)
    max_pos = torch.clamp(flat.max(dim=1).values, min=0.0)
    max_abs = torch.maximum(-min_neg, max_pos)
    scale = max_abs / (float(qmax - qmin) / 2)
    return torch.clamp(scale, min=_SCALE_FLOOR)


def quantize_weight(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer codes as int64, float32 per-channel scales); zero point is 0 (symmetric)."""
    scales = symmetric_per_channel_scales(weight, bits)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    codes = torch.round(weight.detach().to(torch.float32) / scales.reshape(shape))
    return torch.clamp(codes, qmin, qmax).to(torch.int64), scales


def quantize_activation(values: torch.Tensor, qparams: QParams) -> torch.Tensor:
    """float32 tensor of codes: clamp(round(x * (1/scale)) + zp), the float32 steps of fbgemm's Quantize."""
    inverse_scale = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(qparams.scale, dtype=torch.float32)
    scaled = values.to(torch.float32) * inverse_scale
    return torch.clamp(torch.round(scaled) + qparams.zero_point, qparams.qmin, qparams.qmax)
