"""The built-in example: a small Brevitas CNN for scikit-learn's 8x8 digits.

Power-of-two (fixed-point) scales everywhere, so the integer hardware (shifts, no multipliers for
requantization) matches the QONNX executor bit for bit. No biases and no BatchNorm: every layer
is a constant integer matrix-vector product followed by a requantizing activation.
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
from torch import nn


class DigitsCNN(nn.Module):
    """conv(1->8) -> relu -> pool -> conv(8->16) -> relu -> pool -> fc(64->32) -> relu -> fc(32->10)."""

    def __init__(self, w_bits: int = 8, a_bits: int = 8):
        super().__init__()
        wq = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=w_bits, bias=False)
        aq = dict(act_quant=Uint8ActPerTensorFixedPoint, bit_width=a_bits, return_quant_tensor=True)
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=a_bits, return_quant_tensor=True)
        self.conv0 = qnn.QuantConv2d(1, 8, 3, padding=1, **wq)
        self.relu0 = qnn.QuantReLU(**aq)
        self.pool0 = nn.MaxPool2d(2)
        self.conv1 = qnn.QuantConv2d(8, 16, 3, padding=1, **wq)
        self.relu1 = qnn.QuantReLU(**aq)
        self.pool1 = nn.MaxPool2d(2)
        self.fc0 = qnn.QuantLinear(16 * 2 * 2, 32, **wq)
        self.relu2 = qnn.QuantReLU(**aq)
        self.fc1 = qnn.QuantLinear(32, 10, **wq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool0(self.relu0(self.conv0(self.inp(x))))
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.relu2(self.fc0(torch.flatten(x, 1)))
        return self.fc1(x)


def build_model(w_bits: int = 8, a_bits: int = 8) -> DigitsCNN:
    """Factory named in flow.yaml."""
    return DigitsCNN(w_bits=w_bits, a_bits=a_bits)
