"""SSF-DAN's Semantic-wise Separable Discriminator (SS-D, paper 003, section 3.3)."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from mmuda.models.utils import mode_downsample

Tensor = torch.Tensor


@MODELS.register_module()
class SemanticSeparableDiscriminator(BaseModule):
    """One independent convolutional discriminator per class, run as grouped convolutions.

    For every class c, the feature map masked by that class's one-hot mask (``F^c = F * M^c``)
    goes through its own module ``D^c``: convolutions with ``kernel_sizes`` (1, 3, 3, 3, 3) and
    widths ``in_channels -> channels -> 1`` (2048 -> 1024 -> 512 -> 256 -> 128 -> 1 in the
    paper), LeakyReLU(0.2) after all but the last. The class outputs are summed into one
    channel (eqs. 4-5).

    The C modules are stored as grouped convolutions (``groups=C``): one call per layer runs all
    classes, instead of C calls per layer in a Python loop. The first layer is 1x1, so
    ``W_c (F * M^c) + b_c = (W_c F) * M^c + b_c``: it runs as one dense convolution of the
    unmasked feature to ``C x channels[0]`` outputs, and the ``C x in_channels`` stack of masked
    copies of the feature is never materialised.

    Args:
        in_channels: Channels of the feature (layer4 of DeepLab-v2: 2048).
        num_classes: Number of classes C, one module each.
        channels: Hidden widths of each class module.
        kernel_sizes: Kernel of each of the ``len(channels) + 1`` layers (padding ``k // 2``).
        strides: Stride of each layer. The paper does not give one; its eq. 4 scores every
            feature cell (h, w), so the default is 1 throughout.
        negative_slope: Slope of the LeakyReLU.
        mask_outputs: Multiply each class output by its own mask (resampled to the output size
            by mode) before the sum, so that each output cell is scored by the discriminator of
            its class only. ``False`` sums the raw outputs of all C modules everywhere.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 channels: Sequence[int] = (1024, 512, 256, 128),
                 kernel_sizes: Sequence[int] = (1, 3, 3, 3, 3),
                 strides: Sequence[int] = (1, 1, 1, 1, 1), negative_slope: float = 0.2,
                 mask_outputs: bool = True, init_cfg=None) -> None:
        super().__init__(init_cfg)
        depth = len(channels) + 1
        for key, value in (('kernel_sizes', kernel_sizes), ('strides', strides)):
            if len(value) != depth:
                raise ValueError(f'SemanticSeparableDiscriminator {key} needs one entry per '
                                 f'layer ({depth} = len(channels) + 1), got {tuple(value)}')
        if num_classes < 1:
            raise ValueError(f'SemanticSeparableDiscriminator num_classes must be >= 1, '
                             f'got {num_classes}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.negative_slope = negative_slope
        self.mask_outputs = mask_outputs
        widths = [in_channels, *channels, 1]
        self.convs = nn.ModuleList(
            nn.Conv2d(num_classes * c_in, num_classes * c_out, k, stride=s, padding=k // 2,
                      groups=num_classes)
            for c_in, c_out, k, s in zip(widths[:-1], widths[1:], kernel_sizes, strides))

    def _check_inputs(self, x: Tensor, masks: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects features with {self.in_channels} '
                             f'channels (its `in_channels`), got shape {tuple(x.shape)}; set '
                             'in_channels to the width of the feature the head consumes')
        expected = (x.shape[0], self.num_classes, *x.shape[2:])
        if tuple(masks.shape) != expected:
            raise ValueError(f'{type(self).__name__} expects class masks of shape {expected} '
                             f'(batch, num_classes, feature size), got {tuple(masks.shape)}')

    def _first_layer(self, x: Tensor, masks: Tensor) -> Tensor:
        """All classes' first layer on their masked feature, shape (N, C * channels[0], h, w)."""
        conv = self.convs[0]
        c = self.num_classes
        if conv.kernel_size == (1, 1):
            step = conv.stride
            x, masks = x[..., ::step[0], ::step[1]], masks[..., ::step[0], ::step[1]]
            out = F.conv2d(x, conv.weight).unflatten(1, (c, -1))
            out = out * masks.unsqueeze(2) + conv.bias.view(1, c, -1, 1, 1)
            return out.flatten(1, 2)
        stacked = (x.unsqueeze(1) * masks.unsqueeze(2)).flatten(1, 2)
        return conv(stacked)

    def forward_classes(self, x: Tensor, masks: Tensor) -> Tensor:
        """Every class module on its separated feature: (N, C, h', w') raw logits ``D^c(F^c)``.

        Args:
            x: (N, in_channels, h, w) feature.
            masks: (N, C, h, w) one-hot (or all-zero) class masks at the feature size.
        """
        self._check_inputs(x, masks)
        out = self._first_layer(x, masks)
        for conv in self.convs[1:]:
            out = conv(F.leaky_relu(out, self.negative_slope))
        return out

    def forward(self, x: Tensor, masks: Tensor) -> Tensor:
        """One-channel domain logits (N, 1, h', w'): the class outputs summed (eqs. 4-5)."""
        out = self.forward_classes(x, masks)
        if self.mask_outputs:
            out = out * mode_downsample(masks, out.shape[-2:])
        return out.sum(1, keepdim=True)


def _per_class_modules(disc: SemanticSeparableDiscriminator) -> nn.ModuleList:
    """Verification and benchmarking only: the C class modules as separate ``nn.Sequential``
    copies of ``disc``'s grouped weights, the straightforward implementation that the grouped
    one must equal (see tests/test_models/test_ssf_dan.py, tools/analysis_tools/benchmark_ssd.py).
    """
    modules = []
    for c in range(disc.num_classes):
        layers: List[nn.Module] = []
        for i, grouped in enumerate(disc.convs):
            c_out = grouped.out_channels // disc.num_classes
            conv = nn.Conv2d(grouped.in_channels // disc.num_classes, c_out,
                             grouped.kernel_size, grouped.stride, grouped.padding)
            with torch.no_grad():
                conv.weight.copy_(grouped.weight[c * c_out:(c + 1) * c_out])
                conv.bias.copy_(grouped.bias[c * c_out:(c + 1) * c_out])
            if i:
                layers.append(nn.LeakyReLU(disc.negative_slope))
            layers.append(conv)
        modules.append(nn.Sequential(*layers))
    return nn.ModuleList(modules).to(disc.convs[0].weight.device)


def _per_class_loop_forward(modules: nn.ModuleList, x: Tensor, masks: Tensor,
                            mask_outputs: bool = True) -> Tensor:
    """Verification and benchmarking only: eqs. 4-5 as a Python loop over classes."""
    out = 0
    for c, module in enumerate(modules):
        logits = module(x * masks[:, c:c + 1])
        if mask_outputs:
            logits = logits * mode_downsample(masks, logits.shape[-2:])[:, c:c + 1]
        out = out + logits
    return out
