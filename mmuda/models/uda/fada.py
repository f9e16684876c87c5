"""FADA (Wang et al., ECCV 2020): fine-grained, class-aware adversarial feature alignment."""
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from .domain_encoding import ENCODINGS, class_knowledge, domain_targets
from .uda_segmentor import Losses, UDASegmentor

Tensor = torch.Tensor


@MODELS.register_module()
class FADA(UDASegmentor):
    """Adversarial alignment of backbone features with a domain x class discriminator.

    One discriminator, ``discriminators.fine`` (a :class:`FineGrainedDiscriminator` with 2K
    outputs), sees a backbone feature map (layer4 for DeepLab-v2). Its targets are domain
    encodings: the classifier's own class knowledge ``a`` placed in the source half
    ``[a | 0]`` or the target half ``[0 | a]`` of its 2K channels.

    * Segmentor step: source cross-entropy on ``logits / T`` (the reference code's temperature,
      ``source_temperature``) plus ``adv_weight * L(D(f_t), [a_t | 0])`` (eq. 6): target
      features should be classified as source features *of their own class*.
    * Discriminator step: ``0.5 * L(D(f_s), [a_s | 0]) + 0.5 * L(D(f_t), [0 | a_t])`` (eq. 5)
      on detached features.

    ``L`` is the soft-label cross-entropy over the 2K channels, averaged over pixels.

    Args:
        domain_encoding: ``'soft'`` (eq. 8 with confidence clipping, the paper's choice),
            ``'hard'`` (eq. 7, confident pixels only) or ``'binary'`` (plain domain labels,
            needs a discriminator with ``num_classes=1``): the three rows of Table 5.
        temperature: T of the soft labels and of the source loss (paper: 1.8).
        confidence: Clipping value of soft labels, threshold of hard labels (paper: 0.9).
        adv_weight: lambda_adv (paper: 0.001).
        source_temperature: Divide the source logits by T in the segmentation loss, as the
            reference code does (the paper does not mention it).
        feature_index: Which output of the segmentor's ``extract_feat`` D sees (-1: the
            deepest, layer4 of DeepLab-v2 / the last stage of other backbones).
        upsample_to_input: Score D's output and the encodings at the input size (bilinear,
            align_corners=True), as the reference does; ``False`` keeps the feature resolution.
        adv_loss: Config of the soft-label loss.
    """

    def __init__(self, domain_encoding: str = 'soft', temperature: float = 1.8,
                 confidence: float = 0.9, adv_weight: float = 0.001,
                 source_temperature: bool = True, feature_index: int = -1,
                 upsample_to_input: bool = True,
                 adv_loss: dict = dict(type='SoftLabelCrossEntropyLoss'), **kwargs) -> None:
        super().__init__(**kwargs)
        if domain_encoding not in ENCODINGS:
            raise ValueError(f'model.domain_encoding must be one of {ENCODINGS}, '
                             f'got {domain_encoding!r}')
        if set(self.discriminators) != {'fine'}:
            raise KeyError('FADA needs exactly one discriminator named "fine" '
                           f'(model.discriminators.fine), got {sorted(self.discriminators)}')
        if temperature <= 0:
            raise ValueError(f'model.temperature must be positive, got {temperature}')
        self.domain_encoding = domain_encoding
        self.temperature = temperature
        self.confidence = confidence
        self.adv_weight = adv_weight
        self.source_temperature = source_temperature
        self.feature_index = feature_index
        self.upsample_to_input = upsample_to_input
        self.adv_loss = MODELS.build(adv_loss)
        self._check_discriminator_outputs()

    def class_count_fields(self) -> Dict[str, int]:
        """The heads' ``num_classes`` and, unless domains are encoded as 'binary', the fine
        discriminator's ``num_classes`` (K of its 2K outputs)."""
        fields = super().class_count_fields()
        if self.domain_encoding != 'binary' and hasattr(self.discriminators['fine'], 'num_classes'):
            fields['model.discriminators.fine.num_classes'] = \
                self.discriminators['fine'].num_classes
        return fields

    def _check_discriminator_outputs(self) -> None:
        """D needs 2 outputs per class knowledge channel: 2K, or 2 for binary labels."""
        classes = 1 if self.domain_encoding == 'binary' else self.segmentor.decode_head.num_classes
        got = getattr(self.discriminators['fine'], 'num_classes', classes)
        if got != classes:
            raise ValueError(
                f'model.discriminators.fine.num_classes is {got}, but the '
                f'{self.domain_encoding!r} domain encoding has {classes} channel(s) per domain '
                "(the segmentor's classes; 1 for 'binary')")

    def feature(self, out: dict) -> Tensor:
        """The feature map D sees, with errors that name the config keys."""
        feats = out['feats']
        if not -len(feats) <= self.feature_index < len(feats):
            raise IndexError(f'model.feature_index is {self.feature_index}, but the segmentor '
                             f'extracts {len(feats)} feature map(s)')
        feat = feats[self.feature_index]
        expected = getattr(self.discriminators['fine'], 'in_channels', feat.shape[1])
        if feat.shape[1] != expected:
            raise ValueError(f'model.discriminators.fine.in_channels is {expected}, but feature '
                             f'{self.feature_index} (model.feature_index) has {feat.shape[1]} '
                             'channels')
        return feat

    def _resize(self, x: Tensor, size: Tuple[int, int]) -> Tensor:
        if x.shape[2:] == size:
            return x
        return F.interpolate(x, size=size, mode='bilinear', align_corners=True)

    def _score_size(self, image: Tensor, logits: Tensor) -> Tuple[int, int]:
        return tuple(image.shape[2:] if self.upsample_to_input else logits.shape[2:])

    def encode(self, logits: Tensor, size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
        """Class knowledge and valid mask of one domain's logits at the scoring size."""
        return class_knowledge(self._resize(logits, size), self.domain_encoding,
                               self.temperature, self.confidence)

    def domain_loss(self, feat: Tensor, knowledge: Tensor, valid, size: Tuple[int, int],
                    is_source: bool) -> Tensor:
        """``L(D(feat), [a | 0])`` (source) or ``L(D(feat), [0 | a])`` (target)."""
        logits = self._resize(self.discriminators['fine'](feat), size)
        return self.adv_loss(logits, domain_targets(knowledge, is_source), valid)

    def segmentor_losses(self, batch: dict) -> Tuple[Losses, dict]:
        src_out, tgt_out = self.forward_domains(batch['source'], batch['target'])
        scaled = dict(src_out)
        if self.source_temperature:
            scaled['main'] = src_out['main'] / self.temperature
        losses = self.source_seg_losses(scaled, batch['source_samples'])
        f_s, f_t = self.feature(src_out), self.feature(tgt_out)
        size_s = self._score_size(batch['source'], src_out['main'])
        size_t = self._score_size(batch['target'], tgt_out['main'])
        a_s, valid_s = self.encode(src_out['main'], size_s)
        a_t, valid_t = self.encode(tgt_out['main'], size_t)
        fool = self.domain_loss(f_t, a_t, valid_t, size_t, is_source=True)
        losses['adv.fine.loss_gen'] = self.adv_weight * fool
        cache = dict(source=(f_s.detach(), a_s, valid_s, size_s),
                     target=(f_t.detach(), a_t, valid_t, size_t))
        return losses, cache

    def discriminator_losses(self, cache: dict) -> Losses:
        return {
            'disc.fine.loss_src': 0.5 * self.domain_loss(*cache['source'], is_source=True),
            'disc.fine.loss_tgt': 0.5 * self.domain_loss(*cache['target'], is_source=False),
        }
