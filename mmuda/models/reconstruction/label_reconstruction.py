"""LDR's label-driven reconstruction losses (paper 001, section 3.4, eqs. 4-5).

The reconstruction network M turns a label map omega (N, C, H, W) back into the image; a
multi-scale conditional PatchGAN D_k judges (label map, image) pairs, concatenated on channels
(eq. 4 conditions D on omega, as pix2pix/pix2pixHD do). The two functions are the two halves
of the alternating optimisation: the generator step (M and, in LDR, the segmentor that
produced omega; discriminators frozen by the caller) and the discriminator step on detached
tensors. Their keys are bare (``loss_adv``, ...); the callers prefix them.
"""
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

Tensor = torch.Tensor


def _pair(omega: Tensor, image: Tensor) -> Tensor:
    """The conditional pair (omega, X) of eq. 4, on channels."""
    return torch.cat([omega, image], dim=1)


def _check_inputs(discriminator: nn.Module, omega: Tensor, image: Tensor) -> None:
    if omega.dim() != 4 or image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f'label reconstruction expects omega (N, C, H, W) and an RGB image '
                         f'(N, 3, H, W), got {tuple(omega.shape)} and {tuple(image.shape)}')
    if omega.shape[0] != image.shape[0] or omega.shape[2:] != image.shape[2:]:
        raise ValueError(f'omega {tuple(omega.shape)} and image {tuple(image.shape)} must have '
                         'the same batch and spatial size (omega is taken at image size)')
    expected = omega.shape[1] + 3
    got = getattr(discriminator, 'in_channels', expected)
    if got != expected:
        raise ValueError(f'the reconstruction discriminator judges (label map, image) pairs: '
                         f'in_channels must be {omega.shape[1]} classes + 3 = {expected}, got '
                         f'{got}')


def _scored(gan_loss: nn.Module, feats: List[List[Tensor]], target_is_real: bool) -> Tensor:
    """``sum_k GAN(D_k logits, target)`` over the scales of a multi-scale discriminator."""
    return sum(gan_loss(scale[-1], target_is_real) for scale in feats)


def reconstruction_generator_losses(
        reconstructor: nn.Module, discriminator: nn.Module, omega: Tensor, image: Tensor,
        gan_loss: nn.Module, perceptual: nn.Module, feature_matching: nn.Module,
        adv_weight: float, rec_weight: float) -> Tuple[Dict[str, Tensor], Tensor]:
    """The generator side of eqs. 4-5 for one batch: ``(losses, recon)``.

    ``recon = M(omega)`` and, with ``F_k(a, b)`` the activations of ``D_k`` on ``cat(a, b)``::

        loss_adv = adv_weight * sum_k GAN(D_k(omega, recon), real)
        loss_vgg = rec_weight * perceptual(recon, image)
        loss_fm  = rec_weight * feature_matching(F(omega, image), F(omega, recon))

    Choices (eq. 4-6 leave them open or imply them):

    * The adversarial term is the non-saturating one: the generated pair is scored against
      "real" rather than minimising ``log(1 - D)``, whose gradient vanishes exactly when D
      wins, i.e. early in training (Goodfellow et al. 2014; pix2pix and pix2pixHD do the
      same).
    * Gradients of all three terms reach M *and* omega: in LDR omega is the Boltzmann softmax of
      the segmentor's logits, and eq. 5 "penalizes omega when it deviates from the image", the
      whole point of reconstructing from labels. A caller that wants M alone to learn (the
      pre-training on one-hot ground truth) passes an omega without gradient.
    * The real pair's features in the feature-matching term are computed with omega attached
      (eq. 5 literally: both D_k^(n)(omega, X) and D_k^(n)(omega, M(omega)) depend on omega),
      so the segmentor also gets the gradient of how its labels change D's view of the real
      pair. pix2pixHD detaches the real side; with a fixed one-hot omega the two coincide.
      The image itself is a target and carries no gradient (it is detached here).
    * The discriminators' parameters are the caller's to freeze (the alternating step does);
      gradients still flow through D_k to its inputs.

    Args:
        reconstructor: M, ``num_classes`` -> 3 channels, RGB in [-1, 1].
        discriminator: ``MultiScaleDiscriminator`` on ``num_classes + 3`` channels
            (``forward_features`` per scale, logits last).
        omega: (N, C, H, W) class probabilities at image size.
        image: (N, 3, H, W) RGB in [-1, 1] (:func:`to_unit_rgb`).
        gan_loss: ``GANLoss``; ``forward(logits, target_is_real)``.
        perceptual: ``VGGPerceptualLoss``; ``forward(recon, image)``.
        feature_matching: ``FeatureMatchingLoss``; ``forward(real_feats, fake_feats)``.
        adv_weight: Weight of the adversarial term (alpha of eq. 6 in LDR).
        rec_weight: Weight of both reconstruction terms (beta of eq. 6).

    Returns:
        ``{'loss_adv', 'loss_vgg', 'loss_fm'}`` and the reconstruction (with its graph).
    """
    _check_inputs(discriminator, omega, image)
    image = image.detach()
    recon = reconstructor(omega)
    fake_feats = discriminator.forward_features(_pair(omega, recon))
    real_feats = discriminator.forward_features(_pair(omega, image))
    losses = dict(
        loss_adv=adv_weight * _scored(gan_loss, fake_feats, True),
        loss_vgg=rec_weight * perceptual(recon, image),
        loss_fm=rec_weight * feature_matching(real_feats, fake_feats))
    return losses, recon


def reconstruction_discriminator_losses(discriminator: nn.Module, omega: Tensor, image: Tensor,
                                        recon: Tensor, gan_loss: nn.Module
                                        ) -> Dict[str, Tensor]:
    """The discriminator side of eq. 4, on detached inputs: D_k learns real from generated.

    ``loss_real = 0.5 * sum_k GAN(D_k(omega, image), real)`` and
    ``loss_fake = 0.5 * sum_k GAN(D_k(omega, recon), fake)``; the 0.5 halves D's objective
    relative to the generator's, as pix2pix does, to slow D down. Every input is detached:
    only the discriminator's parameters receive gradients.
    """
    omega, image, recon = omega.detach(), image.detach(), recon.detach()
    _check_inputs(discriminator, omega, image)
    if recon.shape != image.shape:
        raise ValueError(f'recon {tuple(recon.shape)} and image {tuple(image.shape)} must have '
                         'the same shape')
    real = discriminator.forward_features(_pair(omega, image))
    fake = discriminator.forward_features(_pair(omega, recon))
    return dict(loss_real=0.5 * _scored(gan_loss, real, True),
                loss_fake=0.5 * _scored(gan_loss, fake, False))
