"""The evaluation model suite (issue: evaluation): small Brevitas models trained here on real data.

* ``digits_cnn`` — the built-in example (examples/digits).
* ``digits_mlp`` — 64-32-10 MLP on scikit-learn's digits.
* ``mnist1d_mlp`` — 40-64-32-10 MLP on MNIST-1D (generated locally by the ``mnist1d`` package).
* ``mnist1d_cnn`` — a 1-D CNN on MNIST-1D.
* ``res_cnn`` — untrained: float per-channel scales, BatchNorm and a residual Add (complete-design tests).

All use power-of-two (fixed-point) 8-bit quantizers and no biases, like the digits example, so
their integer hardware is exact.
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
from torch import nn

_WQ = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=8, bias=False)
_AQ = dict(act_quant=Uint8ActPerTensorFixedPoint, bit_width=8, return_quant_tensor=True)


def _input_quant():
    return qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=8, return_quant_tensor=True)


class MLP(nn.Module):
    """Quantized MLP: input quantizer, then Linear/ReLU pairs, then a Linear head."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        self.inp = _input_quant()
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(qnn.QuantLinear(a, b, **_WQ))
            if i < len(sizes) - 2:
                layers.append(qnn.QuantReLU(**_AQ))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(self.inp(torch.flatten(x, 1)))


class CNN1D(nn.Module):
    """conv1d(1->8,k5) relu pool2 -> conv1d(8->16,k5) relu pool2 -> fc(16*7->32) relu -> fc(32->10)."""

    def __init__(self, length: int = 40):
        super().__init__()
        self.inp = _input_quant()
        self.conv0 = qnn.QuantConv1d(1, 8, 5, **_WQ)
        self.relu0 = qnn.QuantReLU(**_AQ)
        self.conv1 = qnn.QuantConv1d(8, 16, 5, **_WQ)
        self.relu1 = qnn.QuantReLU(**_AQ)
        self.pool = nn.MaxPool1d(2)
        n = ((length - 4) // 2 - 4) // 2
        self.fc0 = qnn.QuantLinear(16 * n, 32, **_WQ)
        self.relu2 = qnn.QuantReLU(**_AQ)
        self.fc1 = qnn.QuantLinear(32, 10, **_WQ)

    def forward(self, x):
        x = self.pool(self.relu0(self.conv0(self.inp(x))))
        x = self.pool(self.relu1(self.conv1(x)))
        return self.fc1(self.relu2(self.fc0(torch.flatten(x, 1))))


def digits_mlp() -> MLP:
    return MLP([64, 32, 10])


def mnist1d_mlp() -> MLP:
    return MLP([40, 64, 32, 10])


def mnist1d_cnn() -> CNN1D:
    return CNN1D(40)


class ResCNN(nn.Module):
    """Float scales, BatchNorm and a residual Add (8x8 input): an untrained test model for the complete design.

    conv(1->8)+BN -> ReLU -> [conv(8->8, bias)+BN] + skip -> ReLU -> maxpool 2 -> fc(128->10).
    Per-channel float weight scales (``Int8WeightPerChannelFloat``), float activation scales
    (``Int8ActPerTensorFloat``/``Uint8ActPerTensorFloat``); both inputs of the Add pass through one
    shared quantiser, so the sum is an integer add on one scale.
    """

    def __init__(self, residual: bool = True):
        super().__init__()
        from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Uint8ActPerTensorFloat
        wq = dict(weight_quant=Int8WeightPerChannelFloat)
        self.residual = residual
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
        self.conv0 = qnn.QuantConv2d(1, 8, 3, padding=1, bias=False, **wq)
        self.bn0 = nn.BatchNorm2d(8)
        self.relu0 = qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
        self.conv1 = qnn.QuantConv2d(8, 8, 3, padding=1, bias=True, **wq)
        self.bn1 = nn.BatchNorm2d(8)
        self.shared = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
        self.relu1 = qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
        self.pool = nn.MaxPool2d(2)
        self.fc = qnn.QuantLinear(8 * 4 * 4, 10, bias=False, **wq)

    def forward(self, x):
        a = self.relu0(self.bn0(self.conv0(self.inp(x))))
        b = self.shared(self.bn1(self.conv1(a)))
        if self.residual:
            b = b + self.shared(a)
        return self.fc(torch.flatten(self.pool(self.relu1(b)), 1))


def res_cnn(residual: bool = True, seed: int = 0) -> ResCNN:
    """The residual CNN with random BatchNorm statistics (fixed seed), so the BN is not an identity."""
    torch.manual_seed(seed)
    m = ResCNN(residual)
    with torch.no_grad():
        for bn in (m.bn0, m.bn1):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.1)
            bn.running_mean.normal_(0, 0.1)
            bn.running_var.uniform_(0.5, 2.0)
    return m.eval()


def _random_batchnorm(module: nn.Module) -> None:
    """Random BatchNorm (and brevitas_examples TensorNorm) statistics, positive factors, so untrained ones are not
    identities."""
    with torch.no_grad():
        for bn in module.modules():
            if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)) or type(bn).__name__ == "TensorNorm":
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.normal_(0, 0.2)
                bn.running_mean.normal_(0, 0.5)
                bn.running_var.uniform_(0.5, 2.0)


def bnn_tfc(weight_bits: int, act_bits: int, in_features: tuple[int, int] = (28, 28), seed: int = 0) -> nn.Module:
    """brevitas_examples' TFC (``bnn_pynq`` FC, 64-64-64-10, TensorNorm head), untrained, random BatchNorm.

    ``in_features`` smaller than 28x28 keeps the architecture and quantisers with a smaller first layer (tests).
    """
    from brevitas_examples.bnn_pynq.models.FC import FC
    torch.manual_seed(seed)
    m = FC(num_classes=10, weight_bit_width=weight_bits, act_bit_width=act_bits, in_bit_width=act_bits,
           in_channels=1, out_features=[64, 64, 64], in_features=in_features)
    _random_batchnorm(m)
    return m.eval()


def bnn_cnv(weight_bits: int = 2, act_bits: int = 2, width: float = 1.0, seed: int = 0) -> nn.Module:
    """brevitas_examples' CNV (32x32x3, six 3x3 convs, two max-pools, 3 FCs, TensorNorm), untrained, random BN.

    ``width`` < 1 scales every layer's channel count (the same layer sequence and quantisers, smaller kernels).
    """
    from brevitas_examples.bnn_pynq.models import CNV as cnv_mod
    saved = (cnv_mod.CNV_OUT_CH_POOL, cnv_mod.INTERMEDIATE_FC_FEATURES, cnv_mod.LAST_FC_IN_FEATURES)
    w = lambda c: max(4, int(c * width))
    try:
        cnv_mod.CNV_OUT_CH_POOL = [(w(c), p) for c, p in saved[0]]
        cnv_mod.INTERMEDIATE_FC_FEATURES = [(w(a), w(b)) for a, b in saved[1]]
        cnv_mod.LAST_FC_IN_FEATURES = w(saved[2])
        torch.manual_seed(seed)
        m = cnv_mod.CNV(num_classes=10, weight_bit_width=weight_bits, act_bit_width=act_bits, in_bit_width=8, in_ch=3)
    finally:
        cnv_mod.CNV_OUT_CH_POOL, cnv_mod.INTERMEDIATE_FC_FEATURES, cnv_mod.LAST_FC_IN_FEATURES = saved
    _random_batchnorm(m)
    return m.eval()


class MobileNetHead(nn.Module):
    """MobileNetV1-4b's first three layers (brevitas_examples ``quant_mobilenet_v1_4b``, untrained): the 8-bit
    3x3 stride-2 init conv, then the first depthwise-separable block (3x3 depthwise + 1x1 pointwise), each with
    BatchNorm and a 4-bit per-tensor ReLU quantiser. The full model takes float images; an 8-bit input quantiser
    is added in front (the streaming design takes integers)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        from brevitas.quant import Int8ActPerTensorFloat
        from brevitas_examples.imagenet_classification.models import quant_mobilenet_v1_4b
        torch.manual_seed(seed)
        full = quant_mobilenet_v1_4b(pretrained=False)
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
        self.init_block = full.features.init_block
        self.block = full.features.stage1.unit1
        _random_batchnorm(self)

    def forward(self, x):
        return self.block(self.init_block(self.inp(x))).value


def mobilenet_v1_head(seed: int = 0) -> MobileNetHead:
    return MobileNetHead(seed).eval()
