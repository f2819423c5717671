"""Lower a float torch model to a flat list of layers the integer engine executes.

We trace with torch.fx, fold BatchNorm into the preceding convolution (eval-mode statistics), fuse a ReLU/ReLU6
into the conv/linear/add that feeds it when nothing else reads the pre-activation, and turn reshapes into aliases.
The result is a `FloatProgram`: the same computation as the model in eval mode, in a form both the calibration
pass and the quantizer walk layer by layer.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

#: ops whose output codes reuse their input's qparams (as torch.ao does), so they need no observer
QPARAM_PRESERVING_OPS = frozenset({"maxpool", "avgpool", "gap", "relu"})
WEIGHTED_OPS = frozenset({"conv2d", "depthwise_conv2d", "linear"})
ACTIVATIONS = ("none", "relu", "relu6")


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """One float operation; `inputs` and `name` are value names (a layer's output value is its name)."""

    name: str
    op: str  # conv2d | depthwise_conv2d | linear | maxpool | avgpool | gap | add | mul | relu | silu | sigmoid
    inputs: tuple[str, ...]
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    activation: str = "none"
    kernel_size: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


@dataclass(frozen=True, eq=False)
class FloatProgram:
    layers: tuple[FloatLayer, ...]
    output: str  #: the value holding the logits
    input_name: str = "input"


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv_layer(name: str, src: str, conv: nn.Conv2d) -> FloatLayer:
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError(f"{name}: only explicit zero padding is supported")
    depthwise = conv.groups > 1 and conv.groups == conv.in_channels and conv.out_channels % conv.groups == 0
    if conv.groups > 1 and not depthwise:
        raise ValueError(f"{name}: grouped convolution with groups={conv.groups} is not supported (depthwise only)")
    bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(conv.out_channels)
    return FloatLayer(
        name=name,
        op="depthwise_conv2d" if depthwise else "conv2d",
        inputs=(src,),
        weight=conv.weight.detach().clone(),
        bias=bias,
        kernel_size=_pair(conv.kernel_size),
        stride=_pair(conv.stride),
        padding=_pair(conv.padding),
        dilation=_pair(conv.dilation),
        groups=conv.groups,
    )


def _fold_batchnorm(layer: FloatLayer, bn: nn.BatchNorm2d) -> FloatLayer:
    # float64 so folding adds no error beyond the final float32 rounding
    inv_std = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(inv_std)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(inv_std)
    factor = gamma * inv_std
    weight = layer.weight.double() * factor.reshape(-1, 1, 1, 1)
    bias = (layer.bias.double() - bn.running_mean.double()) * factor + beta
    return replace(layer, weight=weight.float(), bias=bias.float())


@dataclass
class _Builder:
    """Mutable state of one lowering pass (local to `lower`)."""

    layers: list[FloatLayer] = field(default_factory=list)
    value_of: dict[str, str] = field(default_factory=dict)  # fx node name -> value name
    readers: dict[str, int] = field(default_factory=dict)  # value name -> how many fx nodes read it

    def index(self, value: str) -> int | None:
        for i, layer in enumerate(self.layers):
            if layer.name == value:
                return i
        return None

    def add(self, node: torch.fx.Node, layer: FloatLayer) -> None:
        if self.index(layer.name) is not None:
            raise ValueError(f"duplicate layer name {layer.name}")
        self.layers.append(layer)
        self.value_of[node.name] = layer.name
        self.readers[layer.name] = len(node.users)

    def alias(self, node: torch.fx.Node, value: str) -> None:
        self.value_of[node.name] = value
        self.readers[value] = len(node.users)

    def fuse_activation(self, node: torch.fx.Node, src: str, activation: str) -> bool:
        """Fuse into the producer when it is a conv/linear/add whose output only this node reads."""
        i = self.index(src)
        if i is None or self.readers.get(src) != 1:
            return False
        producer = self.layers[i]
        if producer.op not in WEIGHTED_OPS | {"add"} or producer.activation != "none":
            return False
        self.layers[i] = replace(producer, activation=activation)
        self.alias(node, src)
        return True


def _layer_name(node: torch.fx.Node) -> str:
    return str(node.target) if node.op == "call_module" else node.name


def lower(model: nn.Module) -> FloatProgram:
    """Trace `model` (put in eval mode) into a FloatProgram."""
    model = model.eval()
    traced = torch.fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    b = _Builder()
    output: str | None = None
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            if b.value_of:
                raise ValueError("models with more than one input are not supported")
            b.alias(node, "input")
            continue
        if node.op == "output":
            output = b.value_of[node.args[0].name]
            continue
        args = [b.value_of[a.name] if isinstance(a, torch.fx.Node) else a for a in node.args]
        name = _layer_name(node)
        kind = _classify(node, modules)
        src = args[0] if args else None
        if kind == "conv":
            b.add(node, _conv_layer(name, src, modules[node.target]))
        elif kind == "batchnorm":
            i = b.index(src)
            if i is None or b.layers[i].op not in ("conv2d", "depthwise_conv2d") or b.readers[src] != 1 \
                    or b.layers[i].activation != "none":
                raise ValueError(f"{name}: BatchNorm must directly follow a convolution")
            b.layers[i] = _fold_batchnorm(b.layers[i], modules[node.target])
            b.alias(node, src)
        elif kind in ("relu", "relu6"):
            if not b.fuse_activation(node, src, kind):
                if kind == "relu6":
                    raise ValueError(f"{name}: ReLU6 must follow a conv/linear/add it can fuse into")
                b.add(node, FloatLayer(name=name, op="relu", inputs=(src,)))
        elif kind == "linear":
            lin = modules[node.target]
            bias = lin.bias.detach().clone() if lin.bias is not None else torch.zeros(lin.out_features)
            b.add(node, FloatLayer(name=name, op="linear", inputs=(src,), weight=lin.weight.detach().clone(),
                                   bias=bias))
        elif kind in ("maxpool", "avgpool"):
            m = modules[node.target]
            if getattr(m, "ceil_mode", False) or (kind == "maxpool" and _pair(m.dilation) != (1, 1)):
                raise ValueError(f"{name}: ceil_mode/dilated pooling is not supported")
            if kind == "avgpool" and not m.count_include_pad and _pair(m.padding) != (0, 0):
                raise ValueError(f"{name}: avg pooling with padding must count the padding")
            stride = m.stride if m.stride is not None else m.kernel_size
            b.add(node, FloatLayer(name=name, op=kind, inputs=(src,), kernel_size=_pair(m.kernel_size),
                                   stride=_pair(stride), padding=_pair(m.padding)))
        elif kind == "gap":
            b.add(node, FloatLayer(name=name, op="gap", inputs=(src,)))
        elif kind == "alias":
            b.alias(node, src)
        elif kind in ("add", "mul"):
            if len(args) != 2 or not all(isinstance(a, str) for a in args):
                raise ValueError(f"{name}: only tensor {kind} of two tensors is supported")
            b.add(node, FloatLayer(name=name, op=kind, inputs=(args[0], args[1])))
        elif kind in ("silu", "sigmoid"):
            b.add(node, FloatLayer(name=name, op=kind, inputs=(src,)))
        else:
            raise ValueError(f"unsupported operation {node.op} {node.target} at {name}")
    if output is None:
        raise ValueError("model has no output")
    return FloatProgram(layers=tuple(b.layers), output=output)


def _classify(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        m = modules[node.target]
        table = [
            (nn.Conv2d, "conv"), (nn.BatchNorm2d, "batchnorm"), (nn.ReLU6, "relu6"), (nn.ReLU, "relu"),
            (nn.Linear, "linear"), (nn.MaxPool2d, "maxpool"), (nn.AvgPool2d, "avgpool"),
            (nn.Flatten, "alias"), (nn.Dropout, "alias"), (nn.Identity, "alias"), (nn.SiLU, "silu"),
            (nn.Sigmoid, "sigmoid"),
        ]
        for cls, kind in table:
            if type(m) is cls:
                return kind
        if isinstance(m, nn.AdaptiveAvgPool2d) and _pair(m.output_size) == (1, 1):
            return "gap"
        return "unsupported"
    if node.op == "call_function":
        functions = {
            operator.add: "add", torch.add: "add", operator.mul: "mul", torch.mul: "mul",
            torch.flatten: "alias", F.relu: "relu", torch.relu: "relu", F.relu6: "relu6",
            torch.sigmoid: "sigmoid", F.silu: "silu",
        }
        if node.target is F.adaptive_avg_pool2d and _pair(node.args[1]) == (1, 1):
            return "gap"
        return functions.get(node.target, "unsupported")
    if node.op == "call_method":
        methods = {"flatten": "alias", "view": "alias", "reshape": "alias", "relu": "relu", "sigmoid": "sigmoid"}
        return methods.get(node.target, "unsupported")
    return "unsupported"


def run_float(program: FloatProgram, images: torch.Tensor, observe=None) -> torch.Tensor:
    """Evaluate the program in float32 (the folded model); `observe(value_name, tensor)` sees every value."""
    values: dict[str, torch.Tensor] = {program.input_name: images}
    if observe is not None:
        observe(program.input_name, images)
    for layer in program.layers:
        x = values[layer.inputs[0]]
        if layer.op in ("conv2d", "depthwise_conv2d"):
            y = F.conv2d(x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
        elif layer.op == "linear":
            y = F.linear(x.flatten(1), layer.weight, layer.bias)
        elif layer.op == "maxpool":
            y = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding)
        elif layer.op == "avgpool":
            y = F.avg_pool2d(x, layer.kernel_size, layer.stride, layer.padding)
        elif layer.op == "gap":
            y = F.adaptive_avg_pool2d(x, 1)
        elif layer.op == "add":
            y = x + values[layer.inputs[1]]
        elif layer.op == "mul":
            y = x * values[layer.inputs[1]]
        elif layer.op == "relu":
            y = F.relu(x)
        elif layer.op == "silu":
            y = F.silu(x)
        elif layer.op == "sigmoid":
            y = torch.sigmoid(x)
        else:  # pragma: no cover - lower() only emits the ops above
            raise ValueError(layer.op)
        if layer.activation == "relu":
            y = F.relu(y)
        elif layer.activation == "relu6":
            y = F.relu6(y)
        values[layer.name] = y
        if observe is not None:
            observe(layer.name, y)
    return values[program.output]
