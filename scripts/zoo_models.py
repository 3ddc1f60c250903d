"""zoo_models.py - PyTorch definitions of the zoo's torchvision-structured models, adapted to 32x32 images.

models.py (../shared/reference/pytorch) has RepDistiller's CIFAR models; these are the ones users bring
from torchvision, written plainly (torchvision is not needed) with torchvision's module structure, so
their state_dict keys and shapes are torchvision's (`conv1.weight`, `layer1.0.conv1.weight`,
`layer2.0.downsample.0.weight`, `fc.weight`; `features.0.0.weight`, `features.2.conv.1.0.weight`,
`classifier.1.weight`). Like models.py's models, forward(x, upto=None) returns (logits, feats, pre).

The CIFAR changes (the common ones, as in kuangliu/pytorch-cifar):
  resnet18/resnet50  conv1 is 3x3 stride 1 padding 1 (torchvision: 7x7 stride 2 padding 3) and there is
                     no max-pool: 32x32 reaches layer1 at full size and layer4 at 4x4.
  mobilenetv2        the stem conv stride 1 (torchvision: 2) and the first stride-2 stage (t=6, c=24)
                     at stride 1: 32x32 ends at 4x4 (torchvision would reduce it to 1x1).
  `width` scales the channels (resnet: conv1's and layer1's 64; mobilenetv2: torchvision's
  width_mult) and `last_channels` overrides mobilenetv2's 1280-channel head, for the small parity
  models; the defaults are torchvision's sizes. Dropout before mobilenetv2's classifier is p=0 by
  default (torchvision 0.2; RepDistiller none), kept as module 0 so the classifier is `classifier.1`.
"""
import os
import sys

import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference", "pytorch"))
from models import BasicBlock  # noqa: E402  torchvision's BasicBlock, returning (out, pre)


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck: 1x1 - 3x3 (stride here) - 1x1 to 4 * planes, shortcut, relu."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        pre = self.bn3(self.conv3(out)) + (x if self.downsample is None else self.downsample(x))
        return F.relu(pre), pre



class TorchvisionResNet(nn.Module):
    """torchvision's ResNet with the CIFAR stem; feats/pre: layer1..layer4 outputs and their last block's pre-ReLU sum."""

    def __init__(self, block, layers, width=64, num_classes=10, in_channels=3):
        super().__init__()
        expansion = getattr(block, "expansion", 1)  # models.py's BasicBlock has no attribute: 1, as torchvision's
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        inplanes = width
        for i, n in enumerate(layers):
            planes = width * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(inplanes, planes, 2 if (i > 0 and j == 0) else 1))
                inplanes = planes * expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(inplanes, num_classes)
        self.stage_channels = [width * 2 ** i * expansion for i in range(4)]

    def forward(self, x, upto=None):
        out = F.relu(self.bn1(self.conv1(x)))
        feats, pre = [], []
        for k, layer in enumerate((self.layer1, self.layer2, self.layer3, self.layer4), 1):
            for blk in layer:
                out, p = blk(out)
            feats.append(out)
            pre.append(p)
            if upto == k:
                return None, feats, pre
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out), feats, pre


def make_divisible(v, divisor=8):
    """torchvision's _make_divisible: the nearest multiple of `divisor`, at least `divisor`, never 10% below v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_relu6(inp, oup, kernel=3, stride=1, groups=1):
    """torchvision's Conv2dNormActivation with BatchNorm2d and ReLU6: modules 0, 1, 2."""
    return nn.Sequential(nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(oup), nn.ReLU6())


class InvertedResidual(nn.Module):
    """torchvision's block: [1x1 expand-bn-relu6] - 3x3 depthwise-bn-relu6 - 1x1 project-bn, residual when shapes allow."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = [conv_bn_relu6(inp, hidden, kernel=1)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# t, c, n, s as torchvision, with the CIFAR change: the c=24 stage at stride 1 (torchvision: 2).
MOBILENETV2_SETTING = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
# The features tapped (indices into `features`): the ends of the c=24, 32, 96 and 320 stages, as RepDistiller.
MOBILENETV2_TAPS = [3, 6, 13, 17]


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 with a stride-1 stem and the c=24 stage at stride 1, for 32x32 input.

    feats: the outputs of features.3, .6, .13 and .17 (32x32, 16x16, 8x8, 4x4 for 32x32 input); these
    linear-bottleneck outputs are followed by no ReLU, so pre is the same tensors.
    """

    def __init__(self, width=1.0, num_classes=10, in_channels=3, last_channels=None, dropout=0.0):
        super().__init__()
        inp = make_divisible(32 * width)
        last = last_channels or make_divisible(1280 * max(1.0, width))
        features = [conv_bn_relu6(in_channels, inp, stride=1)]
        for t, c, n, s in MOBILENETV2_SETTING:
            oup = make_divisible(c * width)
            for i in range(n):
                features.append(InvertedResidual(inp, oup, s if i == 0 else 1, t))
                inp = oup
        features.append(conv_bn_relu6(inp, last, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

    def forward(self, x, upto=None):
        feats = []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in MOBILENETV2_TAPS:
                feats.append(x)
                if upto == len(feats):
                    return None, feats, list(feats)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x), feats, list(feats)


ZOO = {
    "resnet18": lambda width=64, **kw: TorchvisionResNet(BasicBlock, [2, 2, 2, 2], width, **kw),
    "resnet50": lambda width=64, **kw: TorchvisionResNet(Bottleneck, [3, 4, 6, 3], width, **kw),
    "mobilenetv2": lambda width=1.0, **kw: MobileNetV2(width, **kw),
    "mobilenetv2_half": lambda width=0.5, **kw: MobileNetV2(width, **kw),
}
