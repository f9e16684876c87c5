"""ADVENT (Vu et al., CVPR 2019): entropy-based adaptation, adversarial (AdvEnt) and direct
(MinEnt)."""
import math
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from .adaptsegnet import AdaptSegNet
from .uda_segmentor import Losses, UDASegmentor

Tensor = torch.Tensor


def self_information(prob: Tensor) -> Tensor:
    """Weighted self-information map ``-p * log(p) / log(C)`` per class channel.

    Summed over the ``C`` channels it is the pixel's entropy normalised to [0, 1]. The division
    by ``log(C)`` follows the reference code (the paper writes ``-p log p``); it only rescales
    the map. ``p`` is clamped at the smallest normal float inside the log so that a probability
    that underflowed to 0 contributes 0 with a finite gradient instead of NaN.
    """
    tiny = torch.finfo(prob.dtype).tiny
    return -prob * torch.log(prob.clamp_min(tiny)) / math.log(prob.shape[1])


def entropy_maps(out: dict, size: Tuple[int, int]) -> Dict[str, Tensor]:
    """``entropy.<level>``: the normalised entropy (N, H, W), in [0, 1], of every prediction
    level of ``out`` at the input size; what both ADVENT variants drive down on the target."""
    maps = {}
    for level in ('main', 'aux'):
        if level in out:
            logits = F.interpolate(out[level], size=size, mode='bilinear', align_corners=True)
            maps[f'entropy.{level}'] = self_information(F.softmax(logits, dim=1)).sum(dim=1)
    return maps


@MODELS.register_module()
class ADVENT(AdaptSegNet):
    """AdvEnt: AdaptSegNet whose discriminators see weighted self-information maps.

    A source-trained model is confident (low entropy) on source images and unsure on target
    ones; ADVENT aligns the two domains on the structure of that uncertainty. Everything but
    the discriminator input is AdaptSegNet's: one FCDiscriminator per level, BCE-with-logits,
    the segmentor scored against the source label, then a discriminator step on detached maps.

    Args:
        adv_input: Must be ``'output'``: the map is computed from class probabilities (the
            softmax of the level's logits, upsampled to the input size when
            ``upsample_to_input``).
        **kwargs: As :class:`AdaptSegNet` (``adv_weights``: main 0.001, aux 0.0002 in the
            reference code).
    """

    def __init__(self, adv_input: str = 'output', **kwargs) -> None:
        if adv_input != 'output':
            raise ValueError(f"ADVENT model.adv_input must be 'output' (the self-information "
                             f'map is computed from class probabilities), got {adv_input!r}')
        super().__init__(adv_input=adv_input, **kwargs)

    def discriminator_input(self, out: dict, level: str, size: Tuple[int, int]) -> Tensor:
        """The self-information map of AdaptSegNet's input (the softmax) for ``level``."""
        return self_information(super().discriminator_input(out, level, size))

    @torch.no_grad()
    def visual_maps(self, inputs: Tensor) -> Dict[str, Tensor]:
        """AdaptSegNet's maps (prediction, discriminator belief) plus the entropy maps."""
        maps = super().visual_maps(inputs)
        maps.update(entropy_maps(self.forward_heads(inputs), tuple(inputs.shape[2:])))
        return maps


@MODELS.register_module()
class MinEnt(UDASegmentor):
    """MinEnt: the direct variant, no discriminator.

    Segmentor step: the source segmentation loss plus, per level, ``ent_weights[level]`` times
    the mean over target pixels of the normalised entropy of the prediction, which pushes the
    model to be as confident on target images as it is on source ones.

    Args:
        ent_weights: Weight of the entropy term of each prediction level (``main``, ``aux``);
            the reference code uses main 0.001, aux 0.0002.
        upsample_to_input: Upsample the logits bilinearly to the input size before the
            softmax, as the reference code does.
    """

    def __init__(self, ent_weights: Dict[str, float], upsample_to_input: bool = True,
                 **kwargs) -> None:
        if kwargs.get('discriminators'):
            raise ValueError('MinEnt has no discriminators: remove model.discriminators '
                             '(use ADVENT for the adversarial variant)')
        super().__init__(**kwargs)
        if not ent_weights:
            raise ValueError('MinEnt model.ent_weights is empty: give a weight per level, '
                             'e.g. dict(main=0.001, aux=0.0002)')
        for level in ent_weights:
            try:
                self.head_of(level)
            except KeyError as err:
                raise KeyError(f'model.ent_weights.{level}: {err.args[0]}') from err
        self.ent_weights = dict(ent_weights)
        self.upsample_to_input = upsample_to_input

    def target_entropy(self, logits: Tensor, size: Tuple[int, int]) -> Tensor:
        """Mean over pixels (and images) of the entropy normalised by ``log(C)``."""
        if self.upsample_to_input:
            logits = F.interpolate(logits, size=size, mode='bilinear', align_corners=True)
        return self_information(F.softmax(logits, dim=1)).sum(dim=1).mean()

    def segmentor_losses(self, batch: dict) -> Tuple[Losses, dict]:
        src_out, tgt_out = self.forward_domains(batch['source'], batch['target'])
        losses = self.source_seg_losses(src_out, batch['source_samples'])
        size = batch['target'].shape[2:]
        for level, weight in self.ent_weights.items():
            losses[f'ent.{level}.loss_ent'] = weight * self.target_entropy(tgt_out[level], size)
        return losses, {}

    @torch.no_grad()
    def visual_maps(self, inputs: Tensor) -> Dict[str, Tensor]:
        """The segmentor's prediction plus the entropy map of every level."""
        maps = super().visual_maps(inputs)
        maps.update(entropy_maps(self.forward_heads(inputs), tuple(inputs.shape[2:])))
        return maps
