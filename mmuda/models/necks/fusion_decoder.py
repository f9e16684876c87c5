"""The light decoder of the multi-adversarial proxies paper's feature backbone F (paper 004)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS

Tensor = torch.Tensor


@MODELS.register_module()
class FusionDecoder(BaseModule):
    """Top-down fusion of backbone features into one 128-channel map (paper 004, Figure 4).

    Each selected backbone output is reduced to ``channels`` by a 1x1 convolution; starting
    from the deepest, the running sum is upsampled (bilinear) to the next feature's size and
    added to it; the sum is optionally upsampled by ``upsample_factor`` and goes through a
    dilated 3x3 convolution (the paper enlarges the field of view there). With ResNet-101 the
    paper fuses Res5c (layer4) and Res4b22 (layer3, its last block) and states a 1/4-resolution
    output; with DeepLab-v2's output stride 8 both are at 1/8, so 1/4 is reached either by
    ``upsample_factor=2`` (the paper's two taps; the default of the R101 fusion model) or by
    also fusing layer1 (1/4) with ``upsample_factor=1``.

    As an mmseg neck it replaces the backbone outputs seen by the heads; with ``keep_inputs``
    it returns ``(*inputs, fused)``, so the decode head takes the fused map (``in_index=-1``)
    while a discriminator or an auxiliary head can still read a backbone feature by index.

    Args:
        in_channels: Channels of every backbone output, in the backbone's order.
        fuse_indices: Which backbone outputs to fuse, deepest (lowest resolution) first.
        channels: Width of the reduced and fused features (the paper: 128).
        dilation: Dilation (= padding) of the final 3x3 convolution; the paper gives none.
        upsample_factor: Bilinear upsampling of the fused sum before the final convolution
            (1: none).
        norm_cfg: Normalisation after each convolution (None: none, so the decoder does not mix
            samples of a batch and the one-pass source+target forward stays exact).
        act_cfg: Activation after each convolution.
        align_corners: Of every bilinear resize.
        keep_inputs: Return the backbone features before the fused map.
    """

    def __init__(self, in_channels: Sequence[int], fuse_indices: Sequence[int] = (-1, -2),
                 channels: int = 128, dilation: int = 2, upsample_factor: float = 2.0,
                 norm_cfg: Optional[dict] = None, act_cfg: Optional[dict] = dict(type='ReLU'),
                 align_corners: bool = False, keep_inputs: bool = True, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.in_channels = tuple(in_channels)
        self.fuse_indices = self._checked_indices(fuse_indices)
        self.channels = channels
        self.upsample_factor = float(upsample_factor)
        self.align_corners = align_corners
        self.keep_inputs = keep_inputs
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.reduce = nn.ModuleList(
            ConvModule(self.in_channels[i], channels, 1, **conv) for i in self.fuse_indices)
        self.fuse = ConvModule(channels, channels, 3, padding=dilation, dilation=dilation,
                               **conv)

    def _checked_indices(self, indices: Sequence[int]) -> Tuple[int, ...]:
        n = len(self.in_channels)
        if not indices:
            raise ValueError('FusionDecoder fuse_indices must name at least one input')
        bad = [i for i in indices if not -n <= i < n]
        if bad:
            raise IndexError(f'FusionDecoder fuse_indices {tuple(indices)}: {bad} out of range '
                             f'for {n} inputs (in_channels={self.in_channels})')
        return tuple(i % n for i in indices)

    @property
    def out_channels(self) -> int:
        return self.channels

    def _resize(self, x: Tensor, size) -> Tensor:
        if tuple(x.shape[2:]) == tuple(size):
            return x
        return F.interpolate(x, size=size, mode='bilinear', align_corners=self.align_corners)

    def fused(self, inputs: Sequence[Tensor]) -> Tensor:
        """The decoder output F(x): (N, channels, h, w) at the shallowest tap's size times
        ``upsample_factor``."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'FusionDecoder got {len(inputs)} inputs, its in_channels names '
                             f'{len(self.in_channels)}: set the backbone out_indices and the '
                             'neck in_channels alike')
        out = None
        for index, reduce in zip(self.fuse_indices, self.reduce):
            x = reduce(inputs[index])
            out = x if out is None else self._resize(out, x.shape[2:]) + x
        if self.upsample_factor != 1.0:
            size = [int(round(s * self.upsample_factor)) for s in out.shape[2:]]
            out = self._resize(out, size)
        return self.fuse(out)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        fused = self.fused(inputs)
        return (*inputs, fused) if self.keep_inputs else (fused, )
