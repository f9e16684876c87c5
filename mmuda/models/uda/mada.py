"""Multi-adversarial training (Shen et al. 2019, paper 004, section 2.2) and its adversarial
confidence map for proxy labels (section 2.3)."""
import math
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from .uda_segmentor import Losses, UDASegmentor

Tensor = torch.Tensor
Tap = Union[int, str]


@MODELS.register_module()
class MultiAdversarial(UDASegmentor):
    """Patch discriminators on features of several levels; their outputs double as a
    per-pixel "looks like source" confidence for proxy-label selection.

    The paper's D1 judges the decoder output F(x) and D2 a mid-level feature F_l(x); each
    entry of ``discriminators`` is one of them and ``adv_features`` names the feature it
    judges. With ``adv_loss`` labelling source 1 and target 0 (the paper's convention):

    * segmentor step (eq. 4, non-saturating form): ``lambda_seg * L_seg(source) +
      sum_k adv_weights[k] * L(D_k(tap_k(x_t)), source)``: target features should look like
      source features at every level;
    * discriminator step (eqs. 2-3): ``sum_k L(D_k(tap_k(x_s)), source) + L(D_k(tap_k(x_t)),
      target)`` on detached features (the sum of the two expectations, as eq. 2 writes it).

    ``L`` is :class:`AdversarialLoss` averaged over D's output cells (the 1/Z sum of eq. 2).

    :meth:`adversarial_confidence` is the map ``A`` of section 2.3: each D's source score map
    upsampled to the image size, put on a common scale (``confidence_norm``), averaged over the
    discriminators. The paper says only that the outputs of the two discriminators are
    normalised "to the same scale"; how is a choice (configs/mada/recipes.yaml states it).

    Args:
        adv_features: Discriminator name -> what it sees: an int indexes the segmentor's
            ``extract_feat`` outputs (DeepLab-v2 with out_indices (2, 3): 0 = layer3, 1 =
            layer4; with the FusionDecoder neck -1 is its fused output), ``'main'`` / ``'aux'``
            the softmax of that head's logits.
        adv_weights: Discriminator name -> lambda of its adversarial term (the paper's
            lambda_1, lambda_2; not given there: AdaptSegNet's 0.001 / 0.0002 by default).
        lambda_seg: Weight of the source segmentation losses.
        adv_loss: Config of :class:`AdversarialLoss`; the paper's labels are source 1,
            target 0.
        confidence_norm: How each discriminator's map is put on a common scale before
            averaging: ``'per_image_minmax'`` stretches it to [0, 1] per image (a constant
            map becomes 0.5), so each D has an equal say in every image however confident it
            is overall; ``'none'`` keeps the sigmoid probability (already in [0, 1]), so a D
            that is sure everywhere outweighs one near 0.5. It only changes the proxy labels:
            ``tools/generate_pseudo_labels.py --cfg-options model.confidence_norm=none``
            relabels a trained model without retraining.
        confidence_input: What is normalised: ``'probability'``, D's belief that a pixel is
            source (sigmoid for BCE), or ``'logit'``, D's raw output oriented so that larger
            means source (needs ``'per_image_minmax'``). The paper says "the outputs of the
            discriminators".
        disc_output_stride: Check that each discriminator's output is this many times smaller
            than the input image (the paper: 32), naming ``num_downsamples`` when it is not;
            None skips the check.
    """

    CONFIDENCE_NORMS = ('per_image_minmax', 'none')
    CONFIDENCE_INPUTS = ('probability', 'logit')
    HEAD_TAPS = ('main', 'aux')

    def __init__(self, adv_features: Dict[str, Tap], adv_weights: Dict[str, float],
                 lambda_seg: float = 1.0,
                 adv_loss: dict = dict(type='AdversarialLoss', gan_type='vanilla',
                                       source_label=1.0, target_label=0.0),
                 confidence_norm: str = 'per_image_minmax',
                 confidence_input: str = 'probability',
                 disc_output_stride: Optional[int] = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self._check_confidence_options(confidence_norm, confidence_input)
        self._check_keys(adv_features=adv_features, adv_weights=adv_weights)
        for name, tap in adv_features.items():
            self._check_tap_spec(name, tap)
        self.adv_features = dict(adv_features)
        self.adv_weights = dict(adv_weights)
        self.lambda_seg = float(lambda_seg)
        self.adv_loss = MODELS.build(adv_loss)
        self.confidence_norm = confidence_norm
        self.confidence_input = confidence_input
        self.disc_output_stride = disc_output_stride

    def _check_keys(self, **per_discriminator: dict) -> None:
        """Every per-discriminator option names exactly the discriminators."""
        names = sorted(self.discriminators)
        if not names:
            raise KeyError('MultiAdversarial needs at least one entry in model.discriminators')
        for key, value in per_discriminator.items():
            if sorted(value) != names:
                raise KeyError(f'model.{key} needs one entry per discriminator: '
                               f'model.discriminators has {names}, model.{key} has '
                               f'{sorted(value)}')

    def _check_confidence_options(self, norm: str, source: str) -> None:
        if norm not in self.CONFIDENCE_NORMS:
            raise ValueError(f'model.confidence_norm must be one of {self.CONFIDENCE_NORMS}, '
                             f'got {norm!r}')
        if source not in self.CONFIDENCE_INPUTS:
            raise ValueError(f'model.confidence_input must be one of '
                             f'{self.CONFIDENCE_INPUTS}, got {source!r}')
        if source == 'logit' and norm == 'none':
            raise ValueError("model.confidence_input='logit' needs model.confidence_norm="
                             "'per_image_minmax': raw logits are not in [0, 1]")

    def _check_tap_spec(self, name: str, tap: Tap) -> None:
        """Build-time check of what ``adv_features.<name>`` names."""
        if isinstance(tap, str):
            if tap not in self.HEAD_TAPS:
                raise ValueError(f'model.adv_features.{name} is {tap!r}: a string names a '
                                 f'head output, one of {self.HEAD_TAPS}; an int a feature')
            head = dict(main='decode_head', aux='auxiliary_head')[tap]
            if getattr(self.segmentor, head, None) is None:
                raise KeyError(f'model.adv_features.{name} is {tap!r}, but the segmentor has '
                               f'no {head}')
        elif not isinstance(tap, int) or isinstance(tap, bool):
            raise TypeError(f'model.adv_features.{name} must be an int (feature index) or '
                            f'one of {self.HEAD_TAPS}, got {tap!r}')

    # ------------------------------------------------------------------ what D sees
    def tap(self, out: dict, name: str) -> Tensor:
        """The input of discriminator ``name`` from one :meth:`forward_heads` output, with
        errors naming the config keys."""
        spec = self.adv_features[name]
        if isinstance(spec, str):
            x = F.softmax(out[spec], dim=1)
        else:
            feats = out['feats']
            if not -len(feats) <= spec < len(feats):
                raise IndexError(f'model.adv_features.{name} is {spec}, but the segmentor '
                                 f'extracts {len(feats)} feature map(s) (indices '
                                 f'{-len(feats)}..{len(feats) - 1})')
            x = feats[spec]
        expected = getattr(self.discriminators[name], 'in_channels', x.shape[1])
        if x.shape[1] != expected:
            raise ValueError(f'model.discriminators.{name}.in_channels is {expected}, but '
                             f'model.adv_features.{name}={spec!r} has {x.shape[1]} channels')
        return x

    def judge(self, name: str, x: Tensor, image_size) -> Tensor:
        """Raw logits of discriminator ``name`` on ``x``, with the output-stride check."""
        d_out = self.discriminators[name](x)
        stride = self.disc_output_stride
        if stride:
            # floor(size / stride) .. ceil(size / stride) + 1: ceil-mode layers (DeepLab-v2's
            # pool: 65x129 at 1/8 of 512x1024) may add a cell
            ok = [range(s // stride, math.ceil(s / stride) + 2) for s in image_size]
            if any(o not in cells for o, cells in zip(d_out.shape[2:], ok)):
                expected = tuple(math.ceil(s / stride) for s in image_size)
                raise ValueError(
                    f'discriminator {name} outputs {tuple(d_out.shape[2:])} cells for a '
                    f'{tuple(image_size)} image, not 1/{stride} of it '
                    f'({expected}): adjust model.discriminators.{name}.'
                    f'num_downsamples to the resolution of model.adv_features.{name}, or set '
                    'model.disc_output_stride=None')
        return d_out

    # ------------------------------------------------------------------ training
    def segmentor_losses(self, batch: dict) -> Tuple[Losses, dict]:
        src_out, tgt_out = self.forward_domains(batch['source'], batch['target'])
        losses = self._weighted_source_losses(src_out, batch['source_samples'])
        cache = dict(source={}, target={}, size=dict(source=batch['source'].shape[2:],
                                                     target=batch['target'].shape[2:]))
        for name in self.discriminators:
            x_s, x_t = self.tap(src_out, name), self.tap(tgt_out, name)
            fool = self.adv_loss(self.judge(name, x_t, batch['target'].shape[2:]),
                                 is_source=True)
            losses[f'adv.{name}.loss_gen'] = self.adv_weights[name] * fool
            cache['source'][name], cache['target'][name] = x_s.detach(), x_t.detach()
        return losses, cache

    def _weighted_source_losses(self, out: dict, samples) -> Losses:
        """``lambda_seg`` times every supervised loss term (accuracies are left as they are)."""
        losses = self.source_seg_losses(out, samples)
        return {k: self.lambda_seg * v if 'loss' in k else v for k, v in losses.items()}

    def discriminator_losses(self, cache: dict) -> Losses:
        losses = {}
        for name in self.discriminators:
            d_src = self.judge(name, cache['source'][name], cache['size']['source'])
            d_tgt = self.judge(name, cache['target'][name], cache['size']['target'])
            losses[f'disc.{name}.loss_src'] = self.adv_loss(d_src, is_source=True)
            losses[f'disc.{name}.loss_tgt'] = self.adv_loss(d_tgt, is_source=False)
            # logged only: parse_losses sums the keys that contain 'loss'
            losses[f'disc.{name}.acc'] = self.discriminator_accuracy(d_src, d_tgt)
        return losses

    # ------------------------------------------------------------------ confidence
    def source_belief(self, d_out: Tensor) -> Tensor:
        """D's belief in [0, 1] that each cell of its raw output comes from the source.

        The output is put on the label scale of ``adv_loss`` (sigmoid for BCE, raw for least
        squares) and mapped from the target label to the source label; with the paper's
        labels (source 1, target 0) and BCE this is ``sigmoid(d_out)``.
        """
        gan_type = getattr(self.adv_loss, 'gan_type', 'vanilla')
        src = getattr(self.adv_loss, 'source_label', 1.0)
        tgt = getattr(self.adv_loss, 'target_label', 0.0)
        value = d_out.sigmoid() if gan_type == 'vanilla' else d_out
        return ((value - tgt) / (src - tgt)).clamp(0.0, 1.0)

    @torch.no_grad()
    def discriminator_accuracy(self, d_src: Tensor, d_tgt: Tensor) -> Tensor:
        """Share of D's output cells (both domains pooled) given the right domain; a logged
        diagnostic (near 1: D wins, near 0.5: D is fooled)."""
        right = (self.source_belief(d_src) > 0.5).sum() + (self.source_belief(d_tgt) < 0.5).sum()
        return right.float() / (d_src.numel() + d_tgt.numel())

    def source_score(self, d_out: Tensor) -> Tensor:
        """The map ``confidence_input`` names: the source belief, or the raw output times
        the sign of ``source_label - target_label`` (larger = more source-like)."""
        if self.confidence_input == 'probability':
            return self.source_belief(d_out)
        src = getattr(self.adv_loss, 'source_label', 1.0)
        tgt = getattr(self.adv_loss, 'target_label', 0.0)
        return d_out if src > tgt else -d_out

    def normalise(self, score: Tensor) -> Tensor:
        """Put one discriminator's (N, 1, H, W) map on the common scale of ``A``."""
        if self.confidence_norm == 'none':
            return score
        flat = score.flatten(1)
        low = flat.min(dim=1)[0].view(-1, 1, 1, 1)
        span = flat.max(dim=1)[0].view(-1, 1, 1, 1) - low
        scaled = (score - low) / span.clamp(min=torch.finfo(score.dtype).tiny)
        return torch.where(span > 0, scaled, torch.full_like(score, 0.5))

    @torch.no_grad()
    def adversarial_confidence(self, inputs: Tensor) -> Tensor:
        """The adversarial confidence ``A`` of preprocessed ``inputs``: (N, 1, H, W) in [0, 1].

        Per discriminator: :meth:`source_score` on its output grid, upsampled bilinearly
        (``align_corners=False``) to the input size, normalised (``confidence_norm``); then the
        mean over discriminators. Uses
        the modules as they are (call it in eval mode for inference), never computes
        gradients; this is what the ``adversarial_proxy`` pseudo-label policy reads.
        """
        size = tuple(inputs.shape[2:])
        out = self.forward_heads(inputs)
        maps = []
        for name in self.discriminators:
            score = self.source_score(self.judge(name, self.tap(out, name), size))
            score = F.interpolate(score, size=size, mode='bilinear', align_corners=False)
            maps.append(self.normalise(score))
        return torch.stack(maps).mean(dim=0).clamp(0.0, 1.0)

    @torch.no_grad()
    def visual_maps(self, inputs: Tensor) -> Dict[str, Tensor]:
        """The base maps plus ``adv_confidence``: :meth:`adversarial_confidence` (bright =
        looks like source, where proxy labels are kept)."""
        maps = super().visual_maps(inputs)
        maps['adv_confidence'] = self.adversarial_confidence(inputs)[:, 0]
        return maps
