"""Pre-training of LDR's reconstruction network M on source labels (paper 001, section 4.3)."""
import copy
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import add_prefix

from ..alternating_model import AlternatingModel, Losses
from ..discriminators.patchgan_discriminator import MultiScaleDiscriminator
from .image_space import to_unit_rgb
from .label_reconstruction import (
    reconstruction_discriminator_losses,
    reconstruction_generator_losses,
)

Tensor = torch.Tensor


def one_hot_labels(labels: Tensor, num_classes: int, ignore_index: int = 255) -> Tensor:
    """(N, H, W) or (N, 1, H, W) class indices -> (N, C, H, W) one-hot float label map.

    Ignored pixels become the all-zero vector: "no class", which M sees as such instead of a
    made-up one (padding and unlabelled regions of GTA5/SYNTHIA are 255).
    """
    if labels.dim() == 4 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 3 or labels.is_floating_point():
        raise ValueError(f'one_hot_labels expects integer labels (N, H, W) or (N, 1, H, W), got '
                         f'{labels.dtype} {tuple(labels.shape)}')
    labels = labels.long()
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(f'label values {sorted(labels[bad].unique().tolist())[:5]} are outside '
                         f'[0, {num_classes}) (model.num_classes) and not the ignore index '
                         f'{ignore_index}')
    onehot = F.one_hot(torch.where(valid, labels, torch.zeros_like(labels)), num_classes)
    return onehot.permute(0, 3, 1, 2).float() * valid.unsqueeze(1)


@MODELS.register_module()
class LabelReconstructionPretrainer(AlternatingModel):
    """Train M to reconstruct source images X_s from their one-hot labels Y_s, before LDR.

    The paper pre-trains M "by reconstructing source images X_s from the corresponding labels
    Y_s" (section 4.3), so that in LDR (eq. 6) M already maps label maps to plausible images
    and its losses tell the segmentor something from the first iteration. This is LDR's
    reconstruction objective (eqs. 4-5, :func:`reconstruction_generator_losses`) with
    ``omega = one-hot(Y_s)`` at image size and no segmentor: generator step on
    ``reconstructor`` (M) with ``recon_discriminator`` frozen, then the discriminator step on
    ``recon_discriminator`` (D_1..D_3) on detached tensors.

    The checkpoint holds exactly ``reconstructor.*`` and ``recon_discriminator.*`` (the VGG is
    not saved, the preprocessor has no persistent state): the LDR model has children of these
    names and loads them with ``init_cfg=dict(type='Pretrained', checkpoint=...,
    prefix='reconstructor.')`` (and ``'recon_discriminator.'``).

    Data: a plain labelled mmseg dataset (e.g. ``GTA5Dataset``) and the segmentor's
    ``SegDataPreProcessor``, so that :func:`to_unit_rgb` turns the batch into the RGB [-1, 1]
    images M will be asked to reconstruct in LDR.

    Args:
        num_classes: C, the label classes (M's input channels; D_k sees C + 3).
        data_preprocessor: ``SegDataPreProcessor`` config with the segmentor's normalisation;
            ``size_divisor=1`` is added when neither ``size`` nor ``size_divisor`` is set.
        reconstructor: Config of M; default the paper's ``ResnetGenerator`` (64 channels, 9
            residual blocks), ``in_channels`` filled with ``num_classes``.
        recon_discriminator: Config of the D_k; default a 3-scale ``MultiScaleDiscriminator``
            of ``PatchGANDiscriminator`` on ``num_classes + 3`` channels.
        perceptual: Config of the VGG19 loss (``VGGPerceptualLoss``; set ``pretrained``).
        gan_loss: Config of the GAN loss; vanilla = eq. 4's log-likelihood.
        feature_matching: Config of the D_k feature-matching loss.
        adv_weight: Weight of the adversarial term, 1. Eq. 6's alpha (0.001) balances the
            reconstruction GAN against the *segmentation* loss; with no segmentor here, a
            weight that small would leave M a pure perceptual regressor (blurry), so the
            pre-training uses pix2pixHD's balance: GAN 1, reconstruction terms 10.
        rec_weight: Weight of the perceptual and feature-matching terms: beta = 10 (eq. 6),
            which is also pix2pixHD's lambda for both terms.
        ignore_index: Label value of unlabelled pixels (all-zero label vector).
        nonfinite_loss: See :class:`AlternatingModel`.
    """

    generator_children = ('reconstructor',)
    discriminator_children = ('recon_discriminator',)

    def __init__(self, num_classes: int, data_preprocessor: dict,
                 reconstructor: Optional[dict] = None,
                 recon_discriminator: Optional[dict] = None,
                 perceptual: dict = dict(type='VGGPerceptualLoss'),
                 gan_loss: dict = dict(type='GANLoss', gan_type='vanilla'),
                 feature_matching: dict = dict(type='FeatureMatchingLoss'),
                 adv_weight: float = 1.0, rec_weight: float = 10.0, ignore_index: int = 255,
                 nonfinite_loss: str = 'raise', init_cfg=None) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'model.num_classes must be a positive int, got {num_classes!r}')
        super().__init__(nonfinite_loss=nonfinite_loss, init_cfg=init_cfg,
                         data_preprocessor=self._preprocessor(data_preprocessor))
        self.num_classes = num_classes
        self.adv_weight, self.rec_weight = float(adv_weight), float(rec_weight)
        self.ignore_index = ignore_index
        self.reconstructor = MODELS.build(self._reconstructor_cfg(reconstructor, num_classes))
        self.recon_discriminator = MODELS.build(
            self._discriminator_cfg(recon_discriminator, num_classes))
        self._check_children()
        self.perceptual = MODELS.build(perceptual)
        self.gan_loss = MODELS.build(gan_loss)
        self.feature_matching = MODELS.build(feature_matching)

    def class_count_fields(self) -> Dict[str, int]:
        """``model.num_classes`` (M's input and D's label channels follow it): it must equal
        the dataset's class count (``ClassCountCheckHook``)."""
        return {'model.num_classes': self.num_classes}

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _preprocessor(cfg: dict):
        if not isinstance(cfg, dict):
            raise TypeError('model.data_preprocessor must be a SegDataPreProcessor config with '
                            f'the segmentor\'s normalisation, got {cfg!r}')
        cfg = copy.deepcopy(dict(cfg))
        cfg.setdefault('type', 'SegDataPreProcessor')
        if cfg.get('size') is None and cfg.get('size_divisor') is None:
            cfg['size_divisor'] = 1  # mmseg needs one of them; 1 = images already equal-sized
        return MODELS.build(cfg)

    @staticmethod
    def _reconstructor_cfg(cfg: Optional[dict], num_classes: int) -> dict:
        cfg = copy.deepcopy(dict(cfg or dict(type='ResnetGenerator')))
        cfg.setdefault('in_channels', num_classes)
        cfg.setdefault('out_channels', 3)
        return cfg

    @staticmethod
    def _discriminator_cfg(cfg: Optional[dict], num_classes: int) -> dict:
        cfg = copy.deepcopy(dict(cfg or dict(type='MultiScaleDiscriminator', num_scales=3,
                                             discriminator=dict(type='PatchGANDiscriminator'))))
        if isinstance(cfg.get('discriminator'), dict):
            cfg['discriminator'].setdefault('in_channels', num_classes + 3)
        return cfg

    def _check_children(self) -> None:
        c = self.num_classes
        if self.reconstructor.in_channels != c or self.reconstructor.out_channels != 3:
            raise ValueError(
                f'model.reconstructor maps {self.reconstructor.in_channels} -> '
                f'{self.reconstructor.out_channels} channels; M reconstructs an RGB image from '
                f'a {c}-class label map (model.num_classes): expected {c} -> 3')
        if not isinstance(self.recon_discriminator, MultiScaleDiscriminator):
            raise TypeError('model.recon_discriminator must be a MultiScaleDiscriminator (use '
                            f'num_scales=1 for one scale), got '
                            f'{type(self.recon_discriminator).__name__}')
        if self.recon_discriminator.in_channels != c + 3:
            raise ValueError(
                f'model.recon_discriminator judges (label map, image) pairs: its '
                f'discriminator.in_channels must be {c} classes + 3 = {c + 3}, got '
                f'{self.recon_discriminator.in_channels}')

    # ------------------------------------------------------------------ training
    def prepare_batch(self, data: dict) -> dict:
        """RGB [-1, 1] images and their one-hot labels (padding 255 -> all-zero)."""
        inputs, samples = data['inputs'], data.get('data_samples')
        if isinstance(inputs, dict):
            raise TypeError(f'{type(self).__name__} trains on one labelled dataset (e.g. '
                            'GTA5Dataset); got a UDA batch with domains '
                            f'{sorted(inputs)}: train_dataloader.dataset must not be a '
                            'UDADataset')
        if not samples or any('gt_sem_seg' not in s for s in samples):
            raise KeyError(f'{type(self).__name__} needs a label for every image: add '
                           'LoadAnnotations to the train pipeline')
        labels = torch.stack([s.gt_sem_seg.data for s in samples])
        return dict(image=to_unit_rgb(inputs, self.data_preprocessor),
                    omega=one_hot_labels(labels, self.num_classes, self.ignore_index))

    def generator_losses(self, batch: dict) -> Tuple[Losses, dict]:
        losses, recon = reconstruction_generator_losses(
            self.reconstructor, self.recon_discriminator, batch['omega'], batch['image'],
            self.gan_loss, self.perceptual, self.feature_matching, self.adv_weight,
            self.rec_weight)
        cache = dict(omega=batch['omega'], image=batch['image'], recon=recon.detach())
        return add_prefix(losses, 'rec'), cache

    def discriminator_losses(self, cache: dict) -> Losses:
        losses = reconstruction_discriminator_losses(
            self.recon_discriminator, cache['omega'], cache['image'], cache['recon'],
            self.gan_loss)
        return add_prefix(losses, 'disc.rec')

    # ------------------------------------------------------------------ inference
    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor') -> Tensor:
        """M's reconstruction (RGB in [-1, 1]) of label maps; only ``mode='tensor'``.

        ``inputs``: integer labels (N, H, W) or (N, 1, H, W), made one-hot like the training
        labels, or a float (N, C, H, W) label map (e.g. a segmentor's Boltzmann softmax).
        """
        if mode != 'tensor':
            raise RuntimeError(
                f"{type(self).__name__} supports forward(mode='tensor') only (reconstruction "
                f"of label maps), got mode={mode!r}: it trains through train_step() and has no "
                'predictions to evaluate (configs have no val/test loop)')
        if inputs.is_floating_point():
            if inputs.dim() != 4 or inputs.shape[1] != self.num_classes:
                raise ValueError(f'a float label map must be (N, {self.num_classes}, H, W), '
                                 f'got {tuple(inputs.shape)}')
            omega = inputs
        else:
            omega = one_hot_labels(inputs, self.num_classes, self.ignore_index)
        return self.reconstructor(omega)
