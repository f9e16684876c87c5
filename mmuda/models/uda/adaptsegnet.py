"""AdaptSegNet (Tsai et al., CVPR 2018): multi-level output-space adversarial adaptation."""
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from .uda_segmentor import Losses, UDASegmentor

Tensor = torch.Tensor


@MODELS.register_module()
class AdaptSegNet(UDASegmentor):
    """Output-space (or feature-level) adversarial learning at one or more prediction levels.

    Each discriminator is named after the level it watches: ``main`` (the decode head on layer4)
    or ``aux`` (the auxiliary head on layer3). Segmentor step: source segmentation loss of every
    head plus, per level, ``adv_weights[level] * L_adv(D(target), source label)``, which pushes
    target predictions towards the source distribution. Discriminator step: per level,
    ``(L_adv(D(source), source) + L_adv(D(target), target)) / 2`` on detached inputs.

    Args:
        adv_weights: Weight of the adversarial term of each level; the paper uses main 0.001,
            aux 0.0002 (0.0005 on Cross-City).
        adv_loss: Config of :class:`AdversarialLoss` (BCE-with-logits or least squares).
        adv_input: ``'output'``: D sees the softmax of the level's logits (the paper);
            ``'feature'``: D sees the backbone feature that the level's head consumes
            (the paper's feature-adaptation ablation).
        upsample_to_input: Upsample logits bilinearly to the input size before the softmax, as
            the reference code does; ``False`` scores the low-resolution map (cheaper).
    """

    ADV_INPUTS = ('output', 'feature')

    def __init__(self, adv_weights: Dict[str, float],
                 adv_loss: dict = dict(type='AdversarialLoss', gan_type='vanilla'),
                 adv_input: str = 'output', upsample_to_input: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if adv_input not in self.ADV_INPUTS:
            raise ValueError(f'AdaptSegNet adv_input must be one of {self.ADV_INPUTS}, '
                             f'got {adv_input!r}')
        if set(adv_weights) != set(self.discriminators):
            raise KeyError(f'AdaptSegNet needs one adv_weights entry per discriminator: '
                           f'discriminators {sorted(self.discriminators)}, '
                           f'adv_weights {sorted(adv_weights)}')
        self.adv_weights = dict(adv_weights)
        self.adv_input = adv_input
        for level in self.discriminators:
            self._check_discriminator_channels(level)
        self.upsample_to_input = upsample_to_input
        self.adv_loss = MODELS.build(adv_loss)

    def _check_discriminator_channels(self, level: str) -> None:
        """Fail at build time, naming the config key, when D cannot take its input."""
        head = self.head_of(level)  # also fails on a level the segmentor does not have
        expected = head.out_channels if self.adv_input == 'output' else head.in_channels
        got = getattr(self.discriminators[level], 'in_channels', expected)
        if got != expected:
            what = 'classes' if self.adv_input == 'output' else 'feature channels'
            raise ValueError(
                f'model.discriminators.{level}.in_channels is {got}, but the {level} level '
                f'feeds it {expected} {what} (adv_input={self.adv_input!r})')

    def class_count_fields(self) -> Dict[str, int]:
        """The heads' ``num_classes`` and, when D sees the softmax output, its ``in_channels``."""
        fields = super().class_count_fields()
        if self.adv_input == 'output':
            fields.update({f'model.discriminators.{level}.in_channels': disc.in_channels
                           for level, disc in self.discriminators.items()
                           if hasattr(disc, 'in_channels')})
        return fields

    def discriminator_input(self, out: dict, level: str, size: Tuple[int, int]) -> Tensor:
        """What the discriminator of ``level`` looks at, for one forward's outputs."""
        if self.adv_input == 'feature':
            return self.head_of(level)._transform_inputs(out['feats'])
        return F.softmax(self.upsampled(out[level], size), dim=1)

    def upsampled(self, logits: Tensor, size: Tuple[int, int]) -> Tensor:
        """Logits as the discriminator sees them before the softmax: bilinearly upsampled to
        the input size (``upsample_to_input``), else as they are."""
        if not self.upsample_to_input or tuple(logits.shape[2:]) == tuple(size):
            return logits
        return F.interpolate(logits, size=size, mode='bilinear', align_corners=True)

    def segmentor_losses(self, batch: dict) -> Tuple[Losses, dict]:
        """Source segmentation losses and the adversarial terms on the target.

        When the domains take separate passes, the source losses are backpropagated before the
        target pass (:meth:`backward_early`), as the reference loop does: the source graph is
        freed first, same gradients, lower peak memory.
        """
        if self.concatenates(batch['source'], batch['target']):
            src_out, tgt_out = self.forward_domains(batch['source'], batch['target'])
            src_out = self.shared_upsampling(src_out, batch)
            losses = self.source_seg_losses(src_out, batch['source_samples'])
        else:
            src_out = self.shared_upsampling(self.forward_heads(batch['source']), batch)
            losses = self.backward_early(
                self.source_seg_losses(src_out, batch['source_samples']))
            tgt_out = self.forward_heads(batch['target'])
        adv, cache = self.adversarial_losses(src_out, tgt_out, batch)
        losses.update(adv)
        return losses, cache

    def shared_upsampling(self, out: dict, batch: dict) -> dict:
        """``out`` with the logits of each discriminated level upsampled once, where the
        segmentation loss would upsample them in exactly the same way (to the label size, which
        is the input size, bilinear with ``align_corners=True``): the loss and the
        discriminator input then share one upsampling, as in the reference code, instead of
        computing it twice. Same numbers either way."""
        if self.adv_input != 'output' or not self.upsample_to_input:
            return out
        size = tuple(batch['source'].shape[2:])
        labels = {tuple(s.gt_sem_seg.shape) for s in batch['source_samples']}
        if labels != {size}:
            return out
        out = dict(out)
        for level in self.discriminators:
            if getattr(self.head_of(level), 'align_corners', False):
                out[level] = self.upsampled(out[level], size)
        return out

    def adversarial_losses(self, src_out: dict, tgt_out: dict, batch: dict
                           ) -> Tuple[Losses, dict]:
        """The generator terms of every level and the detached D inputs for the D step."""
        losses = {}
        cache = dict(source={}, target={})
        for level, disc in self.discriminators.items():
            d_src = self.discriminator_input(src_out, level, batch['source'].shape[2:])
            d_tgt = self.discriminator_input(tgt_out, level, batch['target'].shape[2:])
            fool = self.adv_loss(disc(d_tgt), is_source=True)
            losses[f'adv.{level}.loss_gen'] = self.adv_weights[level] * fool
            cache['source'][level], cache['target'][level] = d_src.detach(), d_tgt.detach()
        return losses, cache

    def discriminator_losses(self, cache: dict) -> Losses:
        losses = {}
        for level, disc in self.discriminators.items():
            d_src, d_tgt = disc(cache['source'][level]), disc(cache['target'][level])
            on_src = self.adv_loss(d_src, is_source=True)
            on_tgt = self.adv_loss(d_tgt, is_source=False)
            losses[f'disc.{level}.loss_src'] = on_src / 2
            losses[f'disc.{level}.loss_tgt'] = on_tgt / 2
            # logged only: parse_losses sums the keys that contain 'loss'
            losses[f'disc.{level}.acc'] = self.discriminator_accuracy(d_src, d_tgt)
        return losses

    # ------------------------------------------------------------------ visualisation
    def target_belief(self, d_out: Tensor) -> Tensor:
        """D's belief, in [0, 1], that each position of its raw output comes from the target.

        The output is mapped onto the domain-label scale of ``adv_loss`` (sigmoid for the
        vanilla/BCE loss, the raw value for least squares) and then from the source label (0)
        to the target label (1); with the defaults (vanilla, source 0, target 1) this is just
        ``sigmoid(d_out)``. A loss without these attributes is taken as vanilla, source 0.
        """
        gan_type = getattr(self.adv_loss, 'gan_type', 'vanilla')
        src = getattr(self.adv_loss, 'source_label', 0.0)
        tgt = getattr(self.adv_loss, 'target_label', 1.0)
        value = d_out.sigmoid() if gan_type == 'vanilla' else d_out
        return ((value - src) / (tgt - src)).clamp(0.0, 1.0)

    @torch.no_grad()
    def discriminator_accuracy(self, d_src: Tensor, d_tgt: Tensor) -> Tensor:
        """Fraction of D's output positions (both domains pooled) assigned to the right domain.

        A logged diagnostic, not a loss: near 1 the discriminator wins (its gradient to the
        segmentor saturates), near 0.5 it is fooled. Detached, so it never reaches backward.
        """
        right = (self.target_belief(d_src) < 0.5).sum() + (self.target_belief(d_tgt) > 0.5).sum()
        return right.float() / (d_src.numel() + d_tgt.numel())

    @torch.no_grad()
    def visual_maps(self, inputs: Tensor) -> Dict[str, Tensor]:
        """The base maps plus ``disc.<level>``: :meth:`target_belief` of each discriminator,
        upsampled bilinearly to the input size.

        With the vanilla (BCE) loss and source label 0 this is ``sigmoid(D(x))``, D's
        probability that the pixel comes from the target domain: bright regions are the ones
        the adaptation has not yet made source-like.
        """
        maps = super().visual_maps(inputs)
        size = tuple(inputs.shape[2:])
        out = self.forward_heads(inputs)
        for level, disc in self.discriminators.items():
            d_out = disc(self.discriminator_input(out, level, size))
            d_out = F.interpolate(d_out, size=size, mode='bilinear', align_corners=False)
            maps[f'disc.{level}'] = self.target_belief(d_out)[:, 0]
        return maps
