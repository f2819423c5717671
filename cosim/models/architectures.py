"""Model architectures, written out (no torchvision). Every model takes images scaled to [0, 1].

All are traceable by torch.fx with only the ops the integer engine lowers: Conv2d(+BatchNorm2d)(+ReLU/ReLU6),
Linear, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), residual add, SiLU, Sigmoid, elementwise mul, Flatten.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5 for 28x28 MNIST: the first conv pads by 2 (the classic 32x32 input); max pooling, ReLU."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)


class DigitsCNN(nn.Module):
    """A small CNN for scikit-learn's 8x8 digits: two 3x3 convs, one max pool, two linear layers."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        x = self.flatten(self.pool(x))
        return self.fc2(self.relu3(self.fc1(x)))


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: type = nn.ReLU) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class DSCNN(nn.Module):
    """Depthwise-separable CNN (MobileNet-v1 style): a strided 3x3 conv, then (depthwise 3x3 + pointwise 1x1)
    blocks with BatchNorm and ReLU6, global average pooling and one linear classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1,
                 widths: tuple[int, ...] = (32, 64, 128, 128), strides: tuple[int, ...] = (1, 2, 1)) -> None:
        super().__init__()
        blocks = [_conv_bn(in_channels, widths[0], 3, stride=2, act=nn.ReLU6)]
        for cin, cout, stride in zip(widths[:-1], widths[1:], strides):
            blocks.append(_conv_bn(cin, cin, 3, stride=stride, groups=cin, act=nn.ReLU6))  # depthwise
            blocks.append(_conv_bn(cin, cout, 1, act=nn.ReLU6))  # pointwise
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18, CIFAR variant (3x3 stem, no stem pooling); `width` scales every stage (64 is the original)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64,
                 blocks: tuple[int, ...] = (2, 2, 2, 2)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        stages, cin = [], width
        for i, count in enumerate(blocks):
            cout = width * (2 ** i)
            for j in range(count):
                stages.append(BasicBlock(cin, cout, 2 if (j == 0 and i > 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(x)))


class ResNet20(ResNet18):
    """ResNet-20 for CIFAR-10 (He et al. 2016): a 3x3 stem and three stages of three basic blocks, 16/32/64
    channels, global average pooling. The committed CIFAR-10 model: the smallest of the classic CIFAR ResNets
    (0.27 M parameters, about 270 KB of INT8 weights), so its recipe trains in about an hour on one CPU thread.
    Downsampling shortcuts are 1x1 conv + BatchNorm (option B), which the integer engine folds like any conv."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 16,
                 blocks: tuple[int, ...] = (3, 3, 3)) -> None:
        super().__init__(num_classes, in_channels, width, tuple(blocks))


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.act = nn.SiLU()
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation (EfficientNet); residual when shapes allow."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = _conv_bn(cin, hidden, 1, act=nn.SiLU) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(hidden, hidden, kernel, stride=stride, groups=hidden, act=nn.SiLU)
        self.se = SqueezeExcitation(hidden, max(1, cin // 4))
        self.project = _conv_bn(hidden, cout, 1, act=None)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return out + x if self.residual else out


#: EfficientNet-B0 stages: (expand ratio, channels, repeats, stride, kernel)
_B0_STAGES = ((1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3), (6, 112, 3, 1, 5),
              (6, 192, 4, 2, 5), (6, 320, 1, 1, 3))


class EfficientNetB0(nn.Module):
    """EfficientNet-B0 (no dropout/stochastic depth at inference). `width`/`depth` multipliers shrink it for
    tests; `stem_stride` 1 suits 32x32 CIFAR images."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: float = 1.0, depth: float = 1.0,
                 stem_stride: int = 2) -> None:
        super().__init__()

        def channels(c: int) -> int:
            return max(8, int(c * width + 4) // 8 * 8)

        stem = channels(32)
        self.stem = _conv_bn(in_channels, stem, 3, stride=stem_stride, act=nn.SiLU)
        blocks, cin = [], stem
        for expand, c, repeats, stride, kernel in _B0_STAGES:
            cout = channels(c)
            for i in range(max(1, math.ceil(repeats * depth))):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        head = channels(1280)
        self.head = _conv_bn(cin, head, 1, act=nn.SiLU)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.head(self.blocks(self.stem(x))))))
