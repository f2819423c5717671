"""Lower a float torch model to a flat list of layers the integer engine executes.

We trace with torch.fx (or walk a torch.export graph as it is), fold BatchNorm into the preceding convolution
(eval-mode statistics; a BatchNorm on its own becomes a 1x1 depthwise convolution), fuse a ReLU/ReLU6 into the
conv/linear/add that feeds it when nothing else reads the pre-activation, and turn flattens into aliases. Module
calls, torch functions and aten overloads map to one op kind through tables, then one handler per kind.
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

from cosim.errors import ModelError

#: ops whose output codes reuse their input's qparams (as torch.ao does), so they need no observer
QPARAM_PRESERVING_OPS = frozenset({"maxpool", "avgpool", "gap", "relu", "reshape", "upsample"})
WEIGHTED_OPS = frozenset({"conv2d", "depthwise_conv2d", "linear"})
ACTIVATIONS = ("none", "relu", "relu6")


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """One float operation; `inputs` and `name` are value names (a layer's output value is its name)."""

    name: str
    #: conv2d (any groups) | depthwise_conv2d | linear | maxpool | avgpool | gap | add | mul | cat | relu | relu6 |
    #: silu | sigmoid | hardswish | hardsigmoid | reshape | upsample (nearest, integer factor in kernel_size)
    op: str
    inputs: tuple[str, ...]
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    activation: str = "none"
    kernel_size: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    out_shape: tuple[int, ...] = ()  #: reshape: the per-image shape of the output


@dataclass(frozen=True, eq=False)
class FloatProgram:
    layers: tuple[FloatLayer, ...]
    output: str  #: the value holding the logits
    input_name: str = "input"


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


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


def _module_path(node: torch.fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack")
    if stack:
        path = list(stack.values())[-1]
        path = path[0] if isinstance(path, tuple) else path
        return str(path).removeprefix("L['self'].").removeprefix("L__self__.") or "the top-level forward"
    return "the top-level forward"


def _what(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"{type(modules[node.target]).__name__} module"
    if node.op == "call_method":
        return f"tensor method .{node.target}()"
    target = node.target
    return str(target) if isinstance(target, torch._ops.OpOverload) else getattr(target, "__name__", str(target))


HINT = ("rewrite it with supported operations (docs/own-model.md lists them) or fold it into a neighbouring layer "
        "before export")


def refuse(node: torch.fx.Node, modules: dict[str, nn.Module], why: str = "is not supported by the INT8 engine",
           hint: str = HINT) -> ModelError:
    """The one-line error for an operation the engine cannot run: fx node, module path, op and a hint."""
    return ModelError(f"fx node {node.name!r} in {_module_path(node)}: {_what(node, modules)} {why}; {hint}")


def _shape(node) -> tuple[int, ...] | None:
    """Per-image shape of a value (without the batch dimension), from shape propagation or export metadata."""
    if not isinstance(node, torch.fx.Node):
        return None
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    if shape is None:
        val = node.meta.get("val")
        shape = getattr(val, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(d) for d in shape)[1:]
    except TypeError:  # symbolic sizes
        return None


class _Args:
    """Positional-or-keyword access to an fx node's arguments, with get_attr parameters resolved to tensors."""

    def __init__(self, node: torch.fx.Node, consts: dict[str, torch.Tensor]) -> None:
        self.node, self.consts = node, consts

    def __call__(self, index: int, key: str, default=None):
        if index < len(self.node.args):
            value = self.node.args[index]
        else:
            value = self.node.kwargs.get(key, default)
        if isinstance(value, torch.fx.Node) and value.name in self.consts:
            return self.consts[value.name]
        return value


def _aten(*names: str) -> list:
    out = []
    for full in names:
        packet, _, overload = full.partition(".")
        p = getattr(torch.ops.aten, packet, None)
        if p is not None and hasattr(p, overload or "default"):
            out.append(getattr(p, overload or "default"))
    return out


def _kinds(pairs) -> dict:
    table = {}
    for kind, targets in pairs:
        for t in targets:
            table[t] = kind
    return table


#: functions (torch/F/operator and the aten overloads torch.export and TorchScript conversion produce) -> kind
FUNCTIONS = _kinds([
    ("conv", [F.conv2d, *_aten("conv2d", "convolution")]),
    ("batchnorm", [F.batch_norm, *_aten("batch_norm", "_native_batch_norm_legit_no_training")]),
    ("linear", [F.linear, *_aten("linear")]),
    ("maxpool", [F.max_pool2d, *_aten("max_pool2d")]),
    ("avgpool", [F.avg_pool2d, *_aten("avg_pool2d")]),
    ("adaptive_avgpool", [F.adaptive_avg_pool2d, *_aten("adaptive_avg_pool2d", "_adaptive_avg_pool2d")]),
    ("mean", [torch.mean, *_aten("mean.dim")]),
    ("relu", [F.relu, torch.relu, *_aten("relu", "relu_")]),
    ("relu6", [F.relu6, *_aten("relu6")]),
    ("hardtanh", [F.hardtanh, *_aten("hardtanh", "hardtanh_")]),
    ("silu", [F.silu, *_aten("silu", "silu_")]),
    ("sigmoid", [torch.sigmoid, F.sigmoid, *_aten("sigmoid")]),
    ("hardswish", [F.hardswish, *_aten("hardswish", "hardswish_")]),
    ("hardsigmoid", [F.hardsigmoid, *_aten("hardsigmoid", "hardsigmoid_")]),
    ("add", [operator.add, torch.add, *_aten("add.Tensor", "add_.Tensor")]),
    ("mul", [operator.mul, torch.mul, *_aten("mul.Tensor", "mul_.Tensor")]),
    ("cat", [torch.cat, torch.concat, *_aten("cat")]),
    ("reshape", [torch.flatten, torch.reshape, *_aten("flatten.using_ints", "view", "reshape", "_unsafe_view")]),
    ("identity", [F.dropout, F.dropout2d, *_aten("dropout", "clone", "alias", "detach", "contiguous")]),
    ("interpolate", [F.interpolate, *_aten("upsample_nearest2d.vec", "upsample_nearest2d")]),
    ("getitem", [operator.getitem]),
    ("shape", [getattr, *_aten("sym_size.int", "sym_size")]),
])
METHODS = {"flatten": "reshape", "view": "reshape", "reshape": "reshape", "contiguous": "identity",
           "clone": "identity", "detach": "identity", "relu": "relu", "sigmoid": "sigmoid", "mean": "mean",
           "size": "shape", "dim": "shape", "add": "add", "mul": "mul"}
MODULES = [
    (nn.Conv2d, "conv"), (nn.BatchNorm2d, "batchnorm"), (nn.ReLU6, "relu6"), (nn.ReLU, "relu"),
    (nn.Hardtanh, "hardtanh"), (nn.Linear, "linear"), (nn.MaxPool2d, "maxpool"), (nn.AvgPool2d, "avgpool"),
    (nn.AdaptiveAvgPool2d, "adaptive_avgpool"), (nn.Flatten, "reshape"), (nn.Dropout, "identity"),
    (nn.Dropout2d, "identity"), (nn.Identity, "identity"), (nn.SiLU, "silu"), (nn.Sigmoid, "sigmoid"),
    (nn.Hardswish, "hardswish"), (nn.Hardsigmoid, "hardsigmoid"), (nn.Upsample, "interpolate"),
]
#: elementwise nonlinearities run as a lookup table on the input codes (built in float64 at quantize time)
LUT_FUNCTIONS = {"silu": F.silu, "sigmoid": torch.sigmoid, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
                 "relu6": F.relu6}


def _classify(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        m = modules[node.target]
        for cls, kind in MODULES:
            if type(m) is cls:
                return kind
        return "unsupported"
    if node.op == "call_function":
        try:
            return FUNCTIONS.get(node.target, "unsupported")
        except TypeError:  # unhashable target
            return "unsupported"
    if node.op == "call_method":
        return METHODS.get(node.target, "unsupported")
    return "unsupported"


def lower(model: nn.Module, example: torch.Tensor | None = None) -> FloatProgram:
    """Lower `model` (put in eval mode) into a FloatProgram. A `torch.fx.GraphModule` (e.g. a torch.export
    program's `.module()`) is walked as it is; anything else is traced with torch.fx. `example` (a few input images)
    gives every value its shape, which reshapes and adaptive pooling need; an operation the engine cannot run
    raises ModelError naming the fx node, before any calibration work."""
    try:
        model = model.eval()
    except NotImplementedError:  # a torch.export module refuses .eval(); it is in inference form already
        pass
    if isinstance(model, torch.fx.GraphModule):
        gm = model
    else:
        try:
            gm = torch.fx.symbolic_trace(model)
        except Exception as exc:  # torch.fx raises many types for untraceable Python
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if example is not None:  # torch.export traces more Python (len, shapes, control flow on shapes)
                try:
                    return lower(torch.export.export(model, (example[:1].float(),)).module(), example)
                except ModelError:
                    raise
                except Exception:
                    pass
            raise ModelError(f"{type(model).__name__}: torch.fx cannot trace its forward ({first}); export it with "
                             f"torch.export.export(model, (example,)) and pass the .pt2 file") from None
    if example is not None and not any("val" in n.meta or "tensor_meta" in n.meta for n in gm.graph.nodes
                                       if n.op == "call_function"):
        from torch.fx.passes.shape_prop import ShapeProp

        with torch.no_grad():
            ShapeProp(gm).propagate(example[:1].float())
    modules = dict(gm.named_modules())
    b = _Builder()
    consts: dict[str, torch.Tensor] = {}
    skipped: set[str] = set()  # shape queries and guards: values the engine never needs
    output: str | None = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if "input" in b.value_of.values():
                raise refuse(node, modules, "is a second input", "cosim runs models with one image input")
            b.alias(node, "input")
            continue
        if node.op == "get_attr":
            target = gm
            for part in str(node.target).split("."):
                target = getattr(target, part)
            consts[node.name] = target.detach() if isinstance(target, torch.Tensor) else target
            continue
        if node.op == "output":
            out = node.args[0]
            while isinstance(out, (tuple, list)):
                if len(out) != 1:
                    raise refuse(node, modules, "returns several tensors", "return only the logits")
                out = out[0]
            output = b.value_of[out.name]
            continue
        if node.op == "call_module" and not node.users and str(node.target).startswith("_guards"):
            continue
        if node.op == "call_function" and not node.users and "assert" in str(node.target):
            continue
        kind = _classify(node, modules)
        if kind == "unsupported":
            raise refuse(node, modules)
        if kind == "shape":
            skipped.add(node.name)
            continue
        _HANDLERS[kind](b, node, _Lowering(node, modules, consts, skipped, b))
    if output is None:
        raise ModelError("model has no output")
    return FloatProgram(layers=tuple(b.layers), output=output)


@dataclass
class _Lowering:
    """What one node's handler needs: the node, its module (if any), resolved arguments, the value names."""

    node: torch.fx.Node
    modules: dict
    consts: dict
    skipped: set
    b: _Builder

    @property
    def name(self) -> str:
        return _layer_name(self.node)

    @property
    def module(self):
        return self.modules.get(self.node.target) if self.node.op == "call_module" else None

    def arg(self, index: int, key: str, default=None):
        return _Args(self.node, self.consts)(index, key, default)

    def value(self, item) -> str:
        if not isinstance(item, torch.fx.Node) or item.name not in self.b.value_of:
            raise self.refuse(f"reads {item!r}, which is not a tensor the engine computes",
                              "only tensors computed from the input image can flow between layers")
        return self.b.value_of[item.name]

    @property
    def src(self) -> str:
        return self.value(self.node.args[0])

    def refuse(self, why: str, hint: str = HINT) -> ModelError:
        return refuse(self.node, self.modules, why, hint)


def _tensor_const(x) -> torch.Tensor | None:
    return x.detach().clone().float() if isinstance(x, torch.Tensor) else None


def _h_conv(b: _Builder, node, lw: _Lowering) -> None:
    m = lw.module
    if m is not None:
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise lw.refuse(f"uses padding={m.padding!r} padding_mode={m.padding_mode!r}",
                            "use explicit zero padding (an int or a pair)")
        weight, bias = m.weight, m.bias
        stride, padding, dilation, groups = m.stride, m.padding, m.dilation, m.groups
    else:
        weight, bias = _tensor_const(lw.arg(1, "weight")), _tensor_const(lw.arg(2, "bias"))
        if node.target in _aten("convolution"):
            stride, padding, dilation = lw.arg(3, "stride"), lw.arg(4, "padding"), lw.arg(5, "dilation")
            if lw.arg(6, "transposed"):
                raise lw.refuse("is a transposed convolution", "use F.interpolate(scale_factor=2) + a convolution")
            groups = lw.arg(8, "groups", 1)
        else:
            stride, padding = lw.arg(3, "stride", 1), lw.arg(4, "padding", 0)
            dilation, groups = lw.arg(5, "dilation", 1), lw.arg(6, "groups", 1)
        if weight is None or isinstance(padding, str):
            raise lw.refuse("has a weight that is not a parameter, or string padding",
                            "keep the weight a module parameter and the padding explicit")
    if weight.dim() != 4:
        raise lw.refuse(f"is not a 2-D convolution (weight of {weight.dim()} dims)", "use Conv2d")
    out_channels = weight.shape[0]
    in_channels = weight.shape[1] * groups
    depthwise = groups > 1 and groups == in_channels
    bias = bias.detach().clone().float() if bias is not None else torch.zeros(out_channels)
    b.add(node, FloatLayer(name=lw.name, op="depthwise_conv2d" if depthwise else "conv2d", inputs=(lw.src,),
                           weight=weight.detach().clone().float(), bias=bias, kernel_size=_pair(weight.shape[2:]),
                           stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation), groups=groups))


def _h_batchnorm(b: _Builder, node, lw: _Lowering) -> None:
    m = lw.module
    if m is None:  # a BatchNorm2d built from the function's tensors, so folding has one path
        if node.target is F.batch_norm:
            mean, var, weight, bias, eps = (lw.arg(1, "running_mean"), lw.arg(2, "running_var"),
                                            lw.arg(3, "weight"), lw.arg(4, "bias"), lw.arg(7, "eps", 1e-5))
        elif node.target in _aten("batch_norm"):
            weight, bias, mean, var, eps = (lw.arg(1, "weight"), lw.arg(2, "bias"), lw.arg(3, "running_mean"),
                                            lw.arg(4, "running_var"), lw.arg(7, "eps", 1e-5))
        else:  # _native_batch_norm_legit_no_training(input, weight, bias, mean, var, momentum, eps)
            weight, bias, mean, var, eps = (lw.arg(1, "weight"), lw.arg(2, "bias"), lw.arg(3, "running_mean"),
                                            lw.arg(4, "running_var"), lw.arg(6, "eps", 1e-5))
        if not isinstance(mean, torch.Tensor) or not isinstance(var, torch.Tensor):
            raise lw.refuse("has no running statistics", "put the model in eval mode with trained BatchNorm stats")
        m = nn.BatchNorm2d(mean.numel(), eps=float(eps), affine=True)
        with torch.no_grad():
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.weight.copy_(weight if isinstance(weight, torch.Tensor) else torch.ones_like(mean))
            m.bias.copy_(bias if isinstance(bias, torch.Tensor) else torch.zeros_like(mean))
    src = lw.src
    i = b.index(src)
    if i is not None and b.layers[i].op in ("conv2d", "depthwise_conv2d") and b.readers[src] == 1 \
            and b.layers[i].activation == "none":
        b.layers[i] = _fold_batchnorm(b.layers[i], m)
        b.alias(node, src)
        return
    # BatchNorm on its own: a per-channel affine map, i.e. a 1x1 depthwise convolution
    c = m.num_features
    unit = FloatLayer(name=lw.name, op="depthwise_conv2d", inputs=(src,), weight=torch.ones(c, 1, 1, 1),
                      bias=torch.zeros(c), groups=c)
    b.add(node, _fold_batchnorm(unit, m))


def _h_linear(b: _Builder, node, lw: _Lowering) -> None:
    m = lw.module
    weight = m.weight if m is not None else _tensor_const(lw.arg(1, "weight"))
    bias = m.bias if m is not None else _tensor_const(lw.arg(2, "bias"))
    if weight is None:
        raise lw.refuse("has a weight that is not a parameter", "keep the weight a module parameter")
    bias = bias.detach().clone().float() if bias is not None else torch.zeros(weight.shape[0])
    b.add(node, FloatLayer(name=lw.name, op="linear", inputs=(lw.src,), weight=weight.detach().clone().float(),
                           bias=bias))


def _h_pool(b: _Builder, node, lw: _Lowering) -> None:
    kind = "maxpool" if _classify(node, lw.modules) == "maxpool" else "avgpool"
    m = lw.module
    if m is not None:
        kernel, stride, padding = m.kernel_size, m.stride, m.padding
        ceil = getattr(m, "ceil_mode", False)
        dilation = getattr(m, "dilation", 1)
        count_pad = getattr(m, "count_include_pad", True)
        divisor = getattr(m, "divisor_override", None)
    else:
        kernel, stride, padding = lw.arg(1, "kernel_size"), lw.arg(2, "stride"), lw.arg(3, "padding", 0)
        if kind == "maxpool":
            dilation, ceil, count_pad, divisor = lw.arg(4, "dilation", 1), lw.arg(5, "ceil_mode", False), True, None
        else:
            dilation, ceil = 1, lw.arg(4, "ceil_mode", False)
            count_pad, divisor = lw.arg(5, "count_include_pad", True), lw.arg(6, "divisor_override")
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        stride = kernel
    if ceil or _pair(dilation) != (1, 1) or divisor is not None:
        raise lw.refuse("uses ceil_mode, dilation or divisor_override", "use floor mode, no dilation, no divisor")
    if kind == "avgpool" and not count_pad and _pair(padding) != (0, 0):
        raise lw.refuse("pads without counting the padding", "set count_include_pad=True or remove the padding")
    b.add(node, FloatLayer(name=lw.name, op=kind, inputs=(lw.src,), kernel_size=_pair(kernel),
                           stride=_pair(stride), padding=_pair(padding)))


def _h_adaptive(b: _Builder, node, lw: _Lowering) -> None:
    size = lw.module.output_size if lw.module is not None else lw.arg(1, "output_size")
    size = _pair(size) if size is not None and not isinstance(size, (list, tuple)) or (
        isinstance(size, (list, tuple)) and None not in size) else None
    if size == (1, 1):
        b.add(node, FloatLayer(name=lw.name, op="gap", inputs=(lw.src,)))
        return
    shape = _shape(node.args[0])
    if size is None or shape is None or len(shape) != 3 or shape[1] % size[0] or shape[2] % size[1]:
        raise lw.refuse(f"pools {shape} to {size}", "adaptive average pooling needs an output size that divides "
                                                    "the input size (then it is a plain average pool)")
    k = (shape[1] // size[0], shape[2] // size[1])
    b.add(node, FloatLayer(name=lw.name, op="avgpool", inputs=(lw.src,), kernel_size=k, stride=k))


def _h_mean(b: _Builder, node, lw: _Lowering) -> None:
    dims = lw.arg(1, "dim")
    dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
    rank = len(_shape(node.args[0]) or (0, 0, 0)) + 1
    if rank != 4 or sorted(d % 4 for d in dims) != [2, 3]:
        raise lw.refuse(f"averages over dims {dims}", "torch.mean is supported over H and W (dims (2, 3)) of an image")
    b.add(node, FloatLayer(name=lw.name, op="gap", inputs=(lw.src,)))


def _h_relu(b: _Builder, node, lw: _Lowering) -> None:
    src = lw.src
    if not b.fuse_activation(node, src, "relu"):
        b.add(node, FloatLayer(name=lw.name, op="relu", inputs=(src,)))


def _h_relu6(b: _Builder, node, lw: _Lowering) -> None:
    if _classify(node, lw.modules) == "hardtanh":
        m = lw.module
        lo, hi = (m.min_val, m.max_val) if m is not None else (lw.arg(1, "min_val", -1.0), lw.arg(2, "max_val", 1.0))
        if (float(lo), float(hi)) != (0.0, 6.0):
            raise lw.refuse(f"clamps to [{lo}, {hi}]", "only hardtanh(0, 6), i.e. ReLU6, is supported")
    src = lw.src
    if not b.fuse_activation(node, src, "relu6"):
        b.add(node, FloatLayer(name=lw.name, op="relu6", inputs=(src,)))


def _h_lut(b: _Builder, node, lw: _Lowering) -> None:
    b.add(node, FloatLayer(name=lw.name, op=_classify(node, lw.modules), inputs=(lw.src,)))


def _h_binary(b: _Builder, node, lw: _Lowering) -> None:
    kind = _classify(node, lw.modules)
    if len(node.args) != 2 or not all(isinstance(a, torch.fx.Node) and a.name in b.value_of for a in node.args):
        raise lw.refuse(f"is a {kind} with a constant or a third argument",
                        "fold constants into the neighbouring layer's weights/bias; add/mul two tensors only")
    alpha = node.kwargs.get("alpha", 1)
    if alpha != 1:
        raise lw.refuse(f"has alpha={alpha}", "use a plain x + y")
    b.add(node, FloatLayer(name=lw.name, op=kind, inputs=(lw.value(node.args[0]), lw.value(node.args[1]))))


def _h_cat(b: _Builder, node, lw: _Lowering) -> None:
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = lw.arg(1, "dim", 0)
    shape = _shape(node)
    rank = len(shape) + 1 if shape is not None else 4
    if dim % rank != 1:
        raise lw.refuse(f"concatenates along dim {dim}", "torch.cat is supported along the channel dim (1)")
    inputs = tuple(lw.value(t) for t in tensors)
    b.add(node, FloatLayer(name=lw.name, op="cat", inputs=inputs))


def _h_reshape(b: _Builder, node, lw: _Lowering) -> None:
    src = lw.src
    in_shape, out_shape = _shape(node.args[0]), _shape(node)
    if in_shape is None or out_shape is None or out_shape == in_shape or len(out_shape) == 1:
        b.alias(node, src)  # same shape, or a flatten (every consumer of a flat value reads it flat)
        return
    b.add(node, FloatLayer(name=lw.name, op="reshape", inputs=(src,), out_shape=out_shape))


def _h_identity(b: _Builder, node, lw: _Lowering) -> None:
    b.alias(node, lw.src)


def _h_getitem(b: _Builder, node, lw: _Lowering) -> None:
    source = node.args[0]
    if isinstance(source, torch.fx.Node) and source.name in lw.skipped:
        lw.skipped.add(node.name)  # x.size()[0] and the like
        return
    if node.args[1] == 0 and isinstance(source, torch.fx.Node) and source.name in b.value_of:
        b.alias(node, b.value_of[source.name])  # the output of _native_batch_norm_legit_no_training
        return
    raise lw.refuse("indexes or slices a tensor", "slicing activations is not supported")


def _h_interpolate(b: _Builder, node, lw: _Lowering) -> None:
    m = lw.module
    mode = m.mode if m is not None else (node.kwargs.get("mode", "nearest") if node.target is F.interpolate
                                         else "nearest")
    in_shape, out_shape = _shape(node.args[0]), _shape(node)
    if m is not None and in_shape is None:
        factor = m.scale_factor
    elif node.target is F.interpolate and in_shape is None:
        factor = lw.arg(2, "scale_factor")
    else:
        factor = (out_shape[1] / in_shape[1], out_shape[2] / in_shape[2]) if in_shape and out_shape else None
    factor = _pair(int(factor)) if isinstance(factor, (int, float)) and float(factor).is_integer() else (
        tuple(int(f) for f in factor) if isinstance(factor, (tuple, list)) and all(float(f).is_integer()
                                                                                  for f in factor) else None)
    if mode != "nearest" or factor is None:
        raise lw.refuse(f"resizes with mode={mode!r}, factor {factor}",
                        "nearest-neighbour upsampling by an integer factor (e.g. scale_factor=2) is supported")
    b.add(node, FloatLayer(name=lw.name, op="upsample", inputs=(lw.src,), kernel_size=factor))


_HANDLERS = {
    "conv": _h_conv, "batchnorm": _h_batchnorm, "linear": _h_linear, "maxpool": _h_pool, "avgpool": _h_pool,
    "adaptive_avgpool": _h_adaptive, "mean": _h_mean, "relu": _h_relu, "relu6": _h_relu6, "hardtanh": _h_relu6,
    "silu": _h_lut, "sigmoid": _h_lut, "hardswish": _h_lut, "hardsigmoid": _h_lut, "add": _h_binary,
    "mul": _h_binary, "cat": _h_cat, "reshape": _h_reshape, "identity": _h_identity, "getitem": _h_getitem,
    "interpolate": _h_interpolate,
}


def _lut_float(op: str):
    fn = LUT_FUNCTIONS[op]
    return lambda layer, x, values: fn(x)


#: op -> float32 evaluation (layer, first input, all values)
FLOAT_OPS = {
    "conv2d": lambda L, x, v: F.conv2d(x, L.weight, L.bias, L.stride, L.padding, L.dilation, L.groups),
    "depthwise_conv2d": lambda L, x, v: F.conv2d(x, L.weight, L.bias, L.stride, L.padding, L.dilation, L.groups),
    "linear": lambda L, x, v: F.linear(x.flatten(1), L.weight, L.bias),
    "maxpool": lambda L, x, v: F.max_pool2d(x, L.kernel_size, L.stride, L.padding),
    "avgpool": lambda L, x, v: F.avg_pool2d(x, L.kernel_size, L.stride, L.padding),
    "gap": lambda L, x, v: F.adaptive_avg_pool2d(x, 1),
    "add": lambda L, x, v: x + v[L.inputs[1]],
    "mul": lambda L, x, v: x * v[L.inputs[1]],
    "relu": lambda L, x, v: F.relu(x),
    "cat": lambda L, x, v: torch.cat([v[i] for i in L.inputs], dim=1),
    "reshape": lambda L, x, v: x.reshape(len(x), *L.out_shape),
    "upsample": lambda L, x, v: x.repeat_interleave(L.kernel_size[0], 2).repeat_interleave(L.kernel_size[1], 3),
    **{op: _lut_float(op) for op in LUT_FUNCTIONS},
}


def run_float(program: FloatProgram, images: torch.Tensor, observe=None) -> torch.Tensor:
    """Evaluate the program in float32 (the folded model); `observe(value_name, tensor)` sees every value."""
    values: dict[str, torch.Tensor] = {program.input_name: images}
    if observe is not None:
        observe(program.input_name, images)
    for layer in program.layers:
        y = FLOAT_OPS[layer.op](layer, values[layer.inputs[0]], values)
        if layer.activation == "relu":
            y = F.relu(y)
        elif layer.activation == "relu6":
            y = F.relu6(y)
        values[layer.name] = y
        if observe is not None:
            observe(layer.name, y)
    return values[program.output]
