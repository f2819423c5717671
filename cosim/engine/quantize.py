"""Post-training static quantization of a FloatProgram into integer layers.

Weights: per-channel symmetric signed codes (int8 by default). Activations: per-tensor affine unsigned codes with a
zero point (uint8 by default), qparams from min/max observers over calibration images. Bias: int32 codes in units
of input_scale * weight_scale[channel]. Requantization of the int32 accumulator to the output codes uses the
multiplier M = input_scale * weight_scale / output_scale (float32, computed as fbgemm does). Two arithmetic modes:

* "fbgemm": y = fl32(fl32(acc + bias) * M), code = round_half_even(y) + zero_point: the exact float32 steps of
  fbgemm's requantization, so codes match torch.ao/fbgemm bit for bit (tests/engine/test_bitexact.py proves it).
* "fixed_point": M = M0 * 2^-shift with an int32 M0 in [2^30, 2^31) (exact, M is a float32), code =
  round_half_even((acc + bias) * M0 >> shift) in int64: what integer-only hardware does. It differs from "fbgemm"
  only where fbgemm's float32 rounding of the product moves a value across a .5 boundary (rare; measured in tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from cosim.engine.graph import LUT_FUNCTIONS, QPARAM_PRESERVING_OPS, WEIGHTED_OPS, FloatProgram, lower, run_float
from cosim.engine.qparams import MinMaxObserver, QParams, check_bits, quantize_weight

REQUANTIZATION_MODES = ("fbgemm", "fixed_point")
#: float32 represents every integer below this exactly; accumulations bounded by it may run in float32
FLOAT32_EXACT_LIMIT = 1 << 24


@dataclass(frozen=True)
class QuantConfig:
    """How to quantize. Per-layer overrides are (layer name, value) pairs so the config stays hashable."""

    weight_bits: int = 8
    activation_bits: int = 8
    layer_weight_bits: tuple[tuple[str, int], ...] = ()
    layer_activation_bits: tuple[tuple[str, int], ...] = ()  #: bits of the named layer's OUTPUT codes
    prune_fraction: float = 0.0  #: fraction of each weighted layer's smallest-magnitude weights set to zero
    requantization: str = "fbgemm"
    #: choose activation qparams for half the code range, as torch's fbgemm qconfig does: fbgemm's depthwise (and
    #: some conv) kernels sum uint8*int8 pairs in saturating int16, so with full-range activations fbgemm itself
    #: deviates from exact integer arithmetic; our kernels are exact either way
    reduce_range: bool = False
    calibration_batch_size: int = 256

    def __post_init__(self) -> None:
        check_bits(self.weight_bits, "weight_bits")
        check_bits(self.activation_bits, "activation_bits")
        for name, bits in self.layer_weight_bits + self.layer_activation_bits:
            check_bits(bits, f"layer {name}")
        if not 0.0 <= self.prune_fraction < 1.0:
            raise ValueError(f"prune_fraction {self.prune_fraction} must be in [0, 1)")
        if self.requantization not in REQUANTIZATION_MODES:
            raise ValueError(f"requantization {self.requantization!r}: use one of {REQUANTIZATION_MODES}")

    def weight_bits_of(self, layer: str) -> int:
        return dict(self.layer_weight_bits).get(layer, self.weight_bits)

    def activation_bits_of(self, value: str) -> int:
        return dict(self.layer_activation_bits).get(value, self.activation_bits)


@dataclass(frozen=True, eq=False)
class Layer:
    """One integer layer, ready to execute. Tensors are never modified after construction."""

    name: str
    op: str
    inputs: tuple[str, ...]
    input_qparams: tuple[QParams, ...]
    output_qparams: QParams
    activation: str = "none"
    weight: torch.Tensor | None = None  #: int64 codes [out, in/groups, kh, kw] or [out, in]
    weight_bits: int = 0
    weight_scale: torch.Tensor | None = None  #: float32 [out]
    bias: torch.Tensor | None = None  #: int64 codes (int32 range) [out]
    multiplier: torch.Tensor | None = None  #: float32 [out]  input_scale * weight_scale / output_scale
    fixed_multiplier: torch.Tensor | None = None  #: int64 [out], M0 in [2^30, 2^31)
    fixed_shift: torch.Tensor | None = None  #: int64 [out]
    lut: torch.Tensor | None = None  #: float32 [2^input_bits] output code per input code (LUT_FUNCTIONS ops)
    kernel_size: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    out_shape: tuple[int, ...] = ()  #: reshape: per-image output shape
    macs_per_image: int = 0
    # precomputed execution constants (derived from the fields above; cached for speed)
    compute: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True, eq=False)
class QuantizedModel:
    """An integer program: immutable after `quantize`."""

    layers: tuple[Layer, ...]
    input_qparams: QParams
    output: str
    config: QuantConfig
    input_shape: tuple[int, ...]  #: one image, [C, H, W]
    requantization: str = "fbgemm"

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def output_qparams(self) -> QParams:
        return self.layer(self.output).output_qparams

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r}; layers are {', '.join(self.layer_names)}")

    def weight_bytes(self) -> int:
        return sum(layer.weight.numel() * layer.weight_bits // 8 for layer in self.layers if layer.weight is not None)


def prune_by_magnitude(weight: torch.Tensor, fraction: float) -> torch.Tensor:
    """Zero the `fraction` smallest-|w| entries of one layer (ties broken by position, deterministic)."""
    if fraction <= 0.0:
        return weight
    count = int(math.floor(fraction * weight.numel()))
    if count == 0:
        return weight
    flat = weight.flatten()
    order = torch.argsort(flat.abs(), stable=True)
    pruned = flat.clone()
    pruned[order[:count]] = 0.0
    return pruned.reshape(weight.shape)


def fixed_point_multiplier(multiplier: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact (M0, shift) with multiplier = M0 * 2^-shift, M0 in [2^30, 2^31) (a float32 has a 24-bit mantissa)."""
    m0s, shifts = [], []
    for m in multiplier.double().tolist():
        if m <= 0:
            raise ValueError(f"requantization multiplier {m} must be positive")
        mantissa, exponent = math.frexp(m)  # m = mantissa * 2^exponent, mantissa in [0.5, 1)
        m0 = int(mantissa * (1 << 31))
        if m0 / (1 << 31) != mantissa:  # pragma: no cover - cannot happen for float32 multipliers
            raise ValueError(f"multiplier {m} is not exactly representable")
        m0s.append(m0)
        shifts.append(31 - exponent)
    return torch.tensor(m0s, dtype=torch.int64), torch.tensor(shifts, dtype=torch.int64)


def _macs(layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    if layer.op == "linear":
        return int(layer.weight.shape[0] * layer.weight.shape[1])
    if layer.op in ("conv2d", "depthwise_conv2d"):
        per_output = layer.weight.shape[1] * layer.weight.shape[2] * layer.weight.shape[3]
        return int(math.prod(out_shape[1:]) * per_output)
    if layer.op == "mul":
        return int(math.prod(out_shape[1:]))
    return 0


def _lut(op: str, in_q: QParams, out_q: QParams) -> torch.Tensor:
    """Output code for every input code of an elementwise nonlinearity (float64 reference, round half even)."""
    codes = torch.arange(in_q.qmin, in_q.qmax + 1, dtype=torch.float64)
    real = (codes - in_q.zero_point) * in_q.scale
    fn = LUT_FUNCTIONS[op]
    out = torch.round(fn(real) / out_q.scale) + out_q.zero_point
    return torch.clamp(out, out_q.qmin, out_q.qmax).to(torch.float32)


def calibrate(program: FloatProgram, images: torch.Tensor, batch_size: int) -> dict[str, MinMaxObserver]:
    """Min/max of every value that gets its own qparams, over all calibration images."""
    preserving = {layer.name for layer in program.layers if layer.op in QPARAM_PRESERVING_OPS}
    observers: dict[str, MinMaxObserver] = {}

    def observe(name: str, tensor: torch.Tensor) -> None:
        if name not in preserving:
            observers[name] = observers.get(name, MinMaxObserver()).observe(tensor)

    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            run_float(program, images[start:start + batch_size].float(), observe)
    return observers


def quantize(model: torch.nn.Module, calibration_images: torch.Tensor, config: QuantConfig = QuantConfig()
             ) -> QuantizedModel:
    """Quantize `model` (float, eval) post-training with min/max calibration on `calibration_images`."""
    if len(calibration_images) == 0:
        raise ValueError("need at least one calibration image")
    program = lower(model, calibration_images[:1].float())
    from cosim.engine.kernels import prepare  # kernels imports this module

    if config.prune_fraction > 0:
        program = FloatProgram(
            layers=tuple(replace(l, weight=prune_by_magnitude(l.weight, config.prune_fraction))
                         if l.op in WEIGHTED_OPS else l for l in program.layers),
            output=program.output, input_name=program.input_name)
    observers = calibrate(program, calibration_images, config.calibration_batch_size)
    shapes: dict[str, tuple[int, ...]] = {}
    with torch.no_grad():
        run_float(program, calibration_images[:1].float(), lambda n, t: shapes.__setitem__(n, tuple(t.shape)))

    qparams: dict[str, QParams] = {
        program.input_name: observers[program.input_name].qparams(config.activation_bits_of(program.input_name),
                                                                   config.reduce_range)}
    layers: list[Layer] = []
    for fl in program.layers:
        in_q = tuple(qparams[v] for v in fl.inputs)
        if fl.op in QPARAM_PRESERVING_OPS:
            out_q = in_q[0]
        else:
            out_q = observers[fl.name].qparams(config.activation_bits_of(fl.name), config.reduce_range)
        qparams[fl.name] = out_q
        common = dict(name=fl.name, op=fl.op, inputs=fl.inputs, input_qparams=in_q, output_qparams=out_q,
                      activation=fl.activation, kernel_size=fl.kernel_size, stride=fl.stride, padding=fl.padding,
                      dilation=fl.dilation, groups=fl.groups, out_shape=fl.out_shape,
                      macs_per_image=_macs(fl, shapes[fl.inputs[0]], shapes[fl.name]))
        if fl.op in WEIGHTED_OPS:
            bits = config.weight_bits_of(fl.name)
            codes, w_scale = quantize_weight(fl.weight, bits)
            in_scale = torch.tensor(in_q[0].scale, dtype=torch.float32)
            # float32 products, as fbgemm forms act_times_w_scale and the output multiplier
            act_times_w_scale = in_scale * w_scale
            multiplier = act_times_w_scale / torch.tensor(out_q.scale, dtype=torch.float32)
            bias = torch.round(fl.bias.double() / act_times_w_scale.double())
            bias = torch.clamp(bias, -(2**31), 2**31 - 1).to(torch.int64)
            m0, shift = fixed_point_multiplier(multiplier)
            layer = Layer(**common, weight=codes, weight_bits=bits, weight_scale=w_scale, bias=bias,
                          multiplier=multiplier, fixed_multiplier=m0, fixed_shift=shift)
        elif fl.op in LUT_FUNCTIONS:
            layer = Layer(**common, lut=_lut(fl.op, in_q[0], out_q))
        else:
            layer = Layer(**common)
        layers.append(prepare(layer, config.requantization))
    return QuantizedModel(layers=tuple(layers), input_qparams=qparams[program.input_name], output=program.output,
                          config=config, input_shape=tuple(calibration_images.shape[1:]),
                          requantization=config.requantization)
