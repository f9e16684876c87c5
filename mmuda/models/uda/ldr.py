"""LDR (Yang et al., ECCV 2020): label-driven reconstruction on target-to-source translations."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import add_prefix

from ..reconstruction import (
    reconstruction_discriminator_losses,
    reconstruction_generator_losses,
    to_unit_rgb,
)
from ..utils import boltzmann_softmax
from .adaptsegnet import AdaptSegNet
from .uda_segmentor import Losses

Tensor = torch.Tensor
DOMAINS = dict(source='src', target='tgt')


@torch.no_grad()
def undecided_share(omega: Tensor, runner_up: float = 1e-3) -> Tensor:
    """Share of pixels whose label map is not yet one-hot: the runner-up class keeps at least
    ``runner_up`` of omega (top-two logit gap below ``tau * ln((1 - r) / r)``, 6.9 tau).

    A logged diagnostic (no ``loss`` in its key, so never summed): with the Boltzmann softmax at
    a low temperature, the reconstruction's gradient reaches the segmentor only through these
    pixels (elsewhere the Jacobian of eq. 3 is below ``runner_up / tau`` and, beyond a gap of
    ~104 tau, exactly 0 in float32).
    """
    second = omega.topk(2, dim=1).values[:, 1]
    return (second >= runner_up).float().mean()


@MODELS.register_module()
class LDR(AdaptSegNet):
    """Segmentation on source and translated target images, reconstructed from their labels.

    The target images this model trains on are the *translated* ones, ``X_{t->s}``: a
    ``CycleGANTranslator`` is trained first and ``tools/translate_dataset.py`` writes the
    translated target set that the dataset config points at (section 3.2). The objective is
    eq. 6 of the paper:

    * ``L_G`` (eq. 1): source cross-entropy, cross-entropy on the target's SSL pseudo labels
      (BDL's class-median thresholds, ``tools/generate_pseudo_labels.py --policy
      class_median``; the dataset sets ``target_labels='pseudo'``), and the output-space
      adversarial term of :class:`AdaptSegNet` with weight ``lambda`` (``adv_weights``, 0.001);
    * ``alpha * (L_adv^s + L_adv^{t->s})`` (eq. 4) and ``beta * (L_rec^s + L_rec^{t->s})``
      (eq. 5): each domain's prediction becomes a near one-hot label map by the Boltzmann
      softmax with temperature ``tau`` (eq. 3), the reconstruction network M turns it back
      into the image, multi-scale conditional discriminators D_k judge (label map, image)
      pairs, and a VGG perceptual plus discriminator feature-matching loss compare the
      reconstruction with the image. M is trained jointly with the segmentor (the min over G
      and M of eq. 6); its gradients reach the segmentor through the label map, which is what
      makes the segmentor's labels "semantically consistent" with the image.

    Optimisation: generator step on ``segmentor`` and ``reconstructor`` (discriminators
    frozen), then the discriminator step on ``discriminators`` (output space) and
    ``recon_discriminator`` (D_k), on detached tensors.

    Args:
        reconstructor: Config of M (a ``ResnetGenerator`` from ``num_classes`` to 3 channels);
            ``None`` switches the reconstruction off (the paper's Tables 3-4 ablation).
        recon_discriminator: Config of the D_k (a ``MultiScaleDiscriminator`` on
            ``num_classes + 3`` channels); required with a reconstructor.
        perceptual: Config of the VGG19 perceptual loss of eq. 5.
        recon_gan_loss: GAN loss of eq. 4 (``GANLoss``, vanilla = the paper's log-likelihood).
        feature_matching: Config of the discriminator feature-matching loss of eq. 5.
        tau: Temperature of the Boltzmann softmax (0.001, the paper's Table 5 best).
        recon_adv_weight: ``alpha`` of eq. 6 (0.001 for DeepLab-v2 ResNet-101).
        recon_weight: ``beta`` of eq. 6 (10).
        recon_scale: Resolution of the reconstruction relative to the input (1.0, the paper;
            smaller values are a cost option, e.g. for the CPU toy configs).
        use_pseudo_labels: Train on the target's pseudo labels (eq. 1's second term). When
            ``True`` a batch without them is an error (the dataset must set
            ``target_labels='pseudo'``); ``False`` is the first stage, before any pseudo
            labels exist.
        **kwargs: :class:`AdaptSegNet`'s arguments (segmentor, output-space discriminators,
            ``adv_weights`` = lambda of eq. 1, ...).
    """

    generator_children = ('segmentor', 'reconstructor')
    discriminator_children = ('discriminators', 'recon_discriminator')

    def __init__(self, reconstructor: Optional[dict] = None,
                 recon_discriminator: Optional[dict] = None, perceptual: Optional[dict] = None,
                 recon_gan_loss: dict = dict(type='GANLoss', gan_type='vanilla'),
                 feature_matching: dict = dict(type='FeatureMatchingLoss'), tau: float = 0.001,
                 recon_adv_weight: float = 0.001, recon_weight: float = 10.0,
                 recon_scale: float = 1.0, use_pseudo_labels: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if tau <= 0:
            raise ValueError(f'model.tau must be > 0 (Boltzmann temperature), got {tau}')
        if not 0 < recon_scale <= 1:
            raise ValueError(f'model.recon_scale must lie in (0, 1], got {recon_scale}')
        self.tau = tau
        self.recon_adv_weight = recon_adv_weight
        self.recon_weight = recon_weight
        self.recon_scale = recon_scale
        self.use_pseudo_labels = use_pseudo_labels
        self.with_reconstruction = reconstructor is not None
        # empty placeholders keep the child names stable when reconstruction is off
        self.reconstructor = nn.Module()
        self.recon_discriminator = nn.Module()
        if self.with_reconstruction:
            self._build_reconstruction(reconstructor, recon_discriminator, perceptual,
                                       recon_gan_loss, feature_matching)

    def class_count_fields(self) -> Dict[str, int]:
        """AdaptSegNet's, and M's input and its discriminator's (label map, image) input."""
        fields = super().class_count_fields()
        if self.with_reconstruction:
            fields['model.reconstructor.in_channels'] = self.reconstructor.in_channels
            fields['model.recon_discriminator.in_channels - 3'] = \
                self.recon_discriminator.in_channels - 3
        return fields

    def _build_reconstruction(self, reconstructor: dict, recon_discriminator: Optional[dict],
                              perceptual: Optional[dict], gan_loss: dict,
                              feature_matching: dict) -> None:
        if recon_discriminator is None or perceptual is None:
            raise ValueError('LDR with a model.reconstructor also needs '
                             'model.recon_discriminator and model.perceptual')
        classes = self.head_of('main').out_channels
        self.reconstructor = MODELS.build(reconstructor)
        self.recon_discriminator = MODELS.build(recon_discriminator)
        if self.reconstructor.in_channels != classes:
            raise ValueError(f'model.reconstructor.in_channels is '
                             f'{self.reconstructor.in_channels}, but the segmentor predicts '
                             f'{classes} classes')
        if self.recon_discriminator.in_channels != classes + 3:
            raise ValueError(f'model.recon_discriminator judges (label map, image) pairs: its '
                             f'in_channels must be {classes} classes + 3 = {classes + 3}, got '
                             f'{self.recon_discriminator.in_channels}')
        self.perceptual = MODELS.build(perceptual)
        self.recon_gan_loss = MODELS.build(gan_loss)
        self.feature_matching = MODELS.build(feature_matching)

    # ------------------------------------------------------------------ generator step
    def segmentor_losses(self, batch: dict) -> Tuple[Losses, dict]:
        src_out, tgt_out = self.forward_domains(batch['source'], batch['target'])
        losses = self.source_seg_losses(src_out, batch['source_samples'])
        losses.update(self.pseudo_label_losses(tgt_out, batch))
        adv, cache = self.adversarial_losses(src_out, tgt_out, batch)
        losses.update(adv)
        if self.with_reconstruction:
            cache['recon'] = {}
            for domain, out in (('source', src_out), ('target', tgt_out)):
                rec, cache['recon'][domain] = self.reconstruction_losses(
                    out['main'], batch[domain], domain)
                losses.update(add_prefix(rec, f'rec.{DOMAINS[domain]}'))
        return losses, cache

    def pseudo_label_losses(self, tgt_out: dict, batch: dict) -> Losses:
        """Cross-entropy of every head on the target's pseudo labels (eq. 1), ``tgt.``."""
        if not self.use_pseudo_labels:
            return {}
        if 'target_samples' not in batch:
            raise KeyError(
                'LDR(use_pseudo_labels=True) needs target pseudo labels in every batch: set '
                "train_dataloader.dataset.target_labels='pseudo' and point the target's "
                'data_prefix.seg_map_path at tools/generate_pseudo_labels.py output (or set '
                'model.use_pseudo_labels=False for the first stage)')
        return self.source_seg_losses(tgt_out, batch['target_samples'], prefix='tgt')

    def label_map(self, logits: Tensor, size: Tuple[int, int]) -> Tensor:
        """Omega of eq. 3: the Boltzmann softmax of the logits upsampled to ``size``."""
        logits = F.interpolate(logits, size=size, mode='bilinear', align_corners=True)
        return boltzmann_softmax(logits, self.tau)

    def reconstruction_image(self, inputs: Tensor, domain: str) -> Tensor:
        """The domain's network input as RGB in [-1, 1] at the reconstruction resolution."""
        image = to_unit_rgb(inputs, getattr(self.data_preprocessor, domain))
        if self.recon_scale < 1:
            size = [max(1, round(s * self.recon_scale)) for s in inputs.shape[2:]]
            image = F.interpolate(image, size=size, mode='area')
        return image

    def reconstruction_losses(self, logits: Tensor, inputs: Tensor, domain: str
                              ) -> Tuple[Losses, dict]:
        """Eqs. 4-5 for one domain, weighted by alpha and beta; and the D step's inputs."""
        image = self.reconstruction_image(inputs, domain)
        omega = self.label_map(logits, tuple(image.shape[2:]))
        losses, recon = reconstruction_generator_losses(
            self.reconstructor, self.recon_discriminator, omega, image, self.recon_gan_loss,
            self.perceptual, self.feature_matching, self.recon_adv_weight, self.recon_weight)
        losses['undecided'] = undecided_share(omega)
        return losses, dict(omega=omega.detach(), image=image, recon=recon.detach())

    # ------------------------------------------------------------------ discriminator step
    def discriminator_losses(self, cache: dict) -> Losses:
        losses = super().discriminator_losses(cache)
        for domain, pair in cache.get('recon', {}).items():
            rec = reconstruction_discriminator_losses(
                self.recon_discriminator, pair['omega'], pair['image'], pair['recon'],
                self.recon_gan_loss)
            losses.update(add_prefix(rec, f'disc.rec.{DOMAINS[domain]}'))
        return losses

    # ------------------------------------------------------------------ visualisation
    @torch.no_grad()
    def reconstruct(self, inputs: Tensor) -> Dict[str, Tensor]:
        """The label map and M's reconstruction (RGB in [-1, 1]) of target-domain ``inputs``."""
        if not self.with_reconstruction:
            raise RuntimeError('this LDR model has no reconstructor (model.reconstructor=None)')
        image = self.reconstruction_image(inputs, 'target')
        omega = self.label_map(self.forward_heads(inputs)['main'], tuple(image.shape[2:]))
        return dict(label_map=omega, image=image, reconstruction=self.reconstructor(omega))
