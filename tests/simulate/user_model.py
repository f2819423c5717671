"""A user's model file as the README's example has it: a class with a default constructor (16x16 RGB, 5 classes)."""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.classifier = nn.Linear(8 * 8 * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class Other(nn.Module):
    """Another class: its state_dict does not fit Net."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 16 * 16, 5)

    def forward(self, x):
        return self.fc(x.flatten(1))


class WithGelu(Net):
    """GELU has no integer kernel: refused with the fx node and module path."""

    def __init__(self) -> None:
        super().__init__()
        self.features[2] = nn.GELU()
