"""A zoo of CNNs in the styles users bring (no torchvision here): MobileNetV2, ResNet-20, EfficientNet-B0 (SiLU,
squeeze-excitation), a VGG-style net with grouped convolution and channel concatenation, and a net that uses every
other operation of the lowering's coverage list. Small widths: the tests run them on a handful of images."""

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(cin, cout, k=3, stride=1, groups=1, act=nn.ReLU6):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, act()) if act is not None else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(conv_bn(cin, hidden, 1), conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                   conv_bn(hidden, cout, 1, act=None))

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=10, width=8):
        super().__init__()
        w = width
        self.features = nn.Sequential(conv_bn(3, w, 3, 2), InvertedResidual(w, w, 1, 1),
                                      InvertedResidual(w, 2 * w, 2, 4), InvertedResidual(2 * w, 2 * w, 1, 4),
                                      InvertedResidual(2 * w, 3 * w, 2, 4), conv_bn(3 * w, 8 * w, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(8 * w, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))  # residual add with a ReLU after


class ResNet20(nn.Module):
    """CIFAR ResNet-20 (3 stages x 3 blocks); `blocks` shrinks it for tests."""

    def __init__(self, num_classes=10, width=8, blocks=3):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        stages, cin = [], width
        for i, cout in enumerate((width, 2 * width, 4 * width)):
            for j in range(blocks):
                stages.append(BasicBlock(cin, cout, 2 if i > 0 and j == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn(self.conv(x))))
        x = torch.mean(x, dim=(2, 3))  # torch.mean over H, W
        return self.fc(x.view(x.size(0), -1))


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeezed):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        s = F.silu(self.reduce(s))
        return x * torch.sigmoid(self.expand(s))


class MBConv(nn.Module):
    def __init__(self, cin, cout, expand, k, stride):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.expand = conv_bn(cin, hidden, 1, act=nn.SiLU) if expand != 1 else nn.Identity()
        self.depthwise = conv_bn(hidden, hidden, k, stride, groups=hidden, act=nn.SiLU)
        self.se = SqueezeExcite(hidden, max(1, cin // 4))
        self.project = conv_bn(hidden, cout, 1, act=None)

    def forward(self, x):
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return x + y if self.use_res else y


class EfficientNetB0(nn.Module):
    """EfficientNet-B0's stage layout (expand, kernel, stride, channels), widths scaled down, one block a stage."""

    STAGES = ((1, 3, 1, 16), (6, 3, 2, 24), (6, 5, 2, 40), (6, 3, 2, 80), (6, 5, 1, 112), (6, 5, 2, 192),
              (6, 3, 1, 320))

    def __init__(self, num_classes=10, width=0.25):
        super().__init__()
        ch = lambda c: max(8, int(c * width) // 8 * 8)  # noqa: E731
        self.stem = conv_bn(3, ch(32), 3, 1, act=nn.SiLU)
        blocks, cin = [], ch(32)
        for expand, k, stride, c in self.STAGES:
            blocks.append(MBConv(cin, ch(c), expand, k, stride))
            cin = ch(c)
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(cin, ch(1280), 1, act=nn.SiLU)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(ch(1280), num_classes)

    def forward(self, x):
        x = self.pool(self.head(self.blocks(self.stem(x))))
        return self.fc(self.dropout(x.flatten(1)))


class VGGCat(nn.Module):
    """VGG-style stacks with a grouped (not depthwise) convolution, two branches joined by torch.cat, hardswish."""

    def __init__(self, num_classes=10, width=8):
        super().__init__()
        w = width
        self.block1 = nn.Sequential(nn.Conv2d(3, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
                                    nn.Conv2d(2 * w, 2 * w, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(2))
        self.left = nn.Conv2d(2 * w, w, 3, padding=1, groups=2)
        self.right = nn.Conv2d(2 * w, w, 1)
        self.block2 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, padding=1, groups=4), nn.Hardswish(),
                                    nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 4 * 4, 32), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(32, num_classes))

    def forward(self, x):
        x = self.block1(x)
        x = torch.cat([F.relu(self.left(x)), self.right(x)], dim=1)
        return self.classifier(self.block2(x))


class Coverage(nn.Module):
    """The rest of the coverage list: BatchNorm without a conv, hardsigmoid, nearest x2 upsampling, adaptive average
    pooling to 2x2, a reshape to 4-D in the middle of the net, a standalone ReLU6, Identity."""

    def __init__(self, num_classes=5):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.bn = nn.BatchNorm2d(8)  # after a pool: no conv to fold into
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.adapt = nn.AdaptiveAvgPool2d(2)
        self.fc1 = nn.Linear(32, 32)
        self.conv3 = nn.Conv2d(8, 8, 1)
        self.id = nn.Identity()
        self.fc2 = nn.Linear(8 * 2 * 2, num_classes)

    def forward(self, x):
        x = self.bn(self.pool(self.conv(x)))
        x = F.hardsigmoid(x)
        x = self.conv2(F.interpolate(x, scale_factor=2, mode="nearest"))
        x = self.adapt(self.up(x))  # 16x16 -> 32x32 -> 2x2
        y = self.fc1(x.reshape(len(x), -1))
        y = y.view(-1, 8, 2, 2)  # back to an image: a real reshape between layers
        y = F.relu6(self.conv3(y) + self.id(x))  # add with a ReLU6 after
        y = F.relu6(y)  # standalone (its producer's activation is taken)
        return self.fc2(torch.flatten(y, 1))
