"""SSF-DAN (Du et al., ICCV 2019): class-wise adversarial adaptation of separated features."""
import warnings
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmseg.registry import MODELS

from mmuda.models.utils import (
    RHO_SCHEDULES,
    class_aware_weights,
    mode_downsample,
    one_hot_masks,
    rho_at,
    top_rho_keep,
    weight_map,
)

from .uda_segmentor import Losses, UDASegmentor

Tensor = torch.Tensor


@MODELS.register_module()
class SSFDAN(UDASegmentor):
    """Semantic-wise separable discriminator (SS-D), progressive confidence and CA-R.

    Segmentor step: source segmentation loss, then on the target image
    ``adv_weights['ssd'] * L_adv``: the layer4 feature is split by the (mode-downsampled)
    one-hot prediction into one block per class, each block is scored by that class's
    discriminator, and the per-pixel loss against the source label is weighted by the map
    ``R_t``. Discriminator step: the same on detached source (weights ``R_s``) and target
    (``R_t``) features, eq. 5.

    Masks: the prediction is upsampled to the input size (``upsample_to_input``), its argmax
    gives the one-hot masks ``M``, and the progressive confidence strategy keeps only the top
    ``rho`` most confident pixels of each class in each image (eqs. 7-8). The kept masks ``M*``
    separate the features and select the loss: cells without kept pixels weigh 0. With CA-R
    (``class_reweighting``) a kept cell of class c weighs ``tau_c`` of eq. 9, computed on the
    target batch and used for ``R_t`` and ``R_s`` alike; without it, 1.

    Discriminators: ``ssd`` (a :class:`SemanticSeparableDiscriminator`) is required; an optional
    ``global_feature`` discriminator (e.g. ``FCDiscriminator`` on the same feature) adds the
    global alignment of the paper's Table 4 ablation.

    Args:
        adv_weights: ``delta`` of eq. 1 per discriminator: 0.001 (GTA5, SYNTHIA), 0.0005
            (Cross-City).
        adv_loss: Config of :class:`AdversarialLoss`; its ``gan_type`` and domain labels define
            the per-pixel loss that the weight maps multiply.
        adv_input: Must be ``'feature'``: SSF-DAN's discriminators see the layer4 feature.
        adv_reduction: ``'mean'``: weighted per-pixel losses averaged over all discriminator
            output cells (as a weighted ``BCEWithLogitsLoss`` does); ``'sum'``: summed over the
            cells, the literal eqs. 4-5.
        rho_schedule: ``'progressive'`` (eq. 7), ``'fixed'`` (``rho = rho_upper`` throughout,
            Figure 4) or ``'off'`` (every pixel kept, the SS-D-dagger ablation).
        rho_upper: Upper bound of ``rho``, 0.8 in the paper.
        rho_total_iters: The total iteration count of eq. 7; ``None`` takes the runner's
            ``train_cfg.max_iters`` (the message hub's ``max_iters``). The current iteration
            is the runner's (message hub ``iter``), which a resumed run restores.
        class_reweighting: CA-R on (eq. 9 weights) or off (weight 1 for every kept cell).
        absent_class_weight: ``tau`` of a class with no kept target pixel in the batch (only
            source cells of that class use it), where eq. 9 is undefined.
        source_mask: ``'prediction'``: source masks from the source prediction, filtered like
            the target's (the paper: ``M_s`` is the one-hot of ``P_s``); ``'label'``: from the
            source ground truth, unfiltered (ignored pixels belong to no class).
        upsample_to_input: Build the masks from logits upsampled to the input size, as the
            paper's decoder does; ``False`` uses the logits at feature resolution (cheaper).
    """

    ADV_INPUTS = ('feature',)
    REDUCTIONS = ('mean', 'sum')
    SOURCE_MASKS = ('prediction', 'label')
    OPTIONAL = ('global_feature',)

    def __init__(self, adv_weights: Dict[str, float],
                 adv_loss: dict = dict(type='AdversarialLoss', gan_type='vanilla'),
                 adv_input: str = 'feature', adv_reduction: str = 'mean',
                 rho_schedule: str = 'progressive', rho_upper: float = 0.8,
                 rho_total_iters: Optional[int] = None, class_reweighting: bool = True,
                 absent_class_weight: float = 1.0, source_mask: str = 'prediction',
                 upsample_to_input: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self._check_choice('adv_input', adv_input, self.ADV_INPUTS)
        self._check_choice('adv_reduction', adv_reduction, self.REDUCTIONS)
        self._check_choice('rho_schedule', rho_schedule, RHO_SCHEDULES)
        self._check_choice('source_mask', source_mask, self.SOURCE_MASKS)
        if not 0.0 <= rho_upper <= 1.0:
            raise ValueError(f'model.rho_upper must be in [0, 1], got {rho_upper}')
        if rho_total_iters is not None and rho_total_iters <= 0:
            raise ValueError(f'model.rho_total_iters must be a positive iteration count or '
                             f'None (= train_cfg.max_iters), got {rho_total_iters}')
        self._check_discriminators(adv_weights)
        self.adv_weights = dict(adv_weights)
        self.adv_loss = MODELS.build(adv_loss)
        self._check_adv_loss()
        self.adv_input = adv_input
        self.adv_reduction = adv_reduction
        self.rho_schedule = rho_schedule
        self.rho_upper = float(rho_upper)
        self.rho_total_iters = rho_total_iters
        self.class_reweighting = class_reweighting
        self.absent_class_weight = float(absent_class_weight)
        self.source_mask = source_mask
        self.upsample_to_input = upsample_to_input
        self._warned_no_iteration = False

    # ------------------------------------------------------------------ config checks
    @staticmethod
    def _check_choice(key: str, value: str, choices: Sequence[str]) -> None:
        if value not in choices:
            raise ValueError(f'model.{key} must be one of {tuple(choices)}, got {value!r}')

    def class_count_fields(self) -> Dict[str, int]:
        """The heads' ``num_classes`` and the SS-D's (one class-wise module per class)."""
        fields = super().class_count_fields()
        if hasattr(self.discriminators['ssd'], 'num_classes'):
            fields['model.discriminators.ssd.num_classes'] = self.discriminators['ssd'].num_classes
        return fields

    def _check_discriminators(self, adv_weights: Dict[str, float]) -> None:
        """Fail at build time, naming the config key, on a discriminator SSF-DAN cannot feed."""
        names = set(self.discriminators)
        if 'ssd' not in names or not names <= {'ssd', *self.OPTIONAL}:
            raise KeyError(f'SSFDAN needs model.discriminators.ssd (the SS-D) and optionally '
                           f'{self.OPTIONAL}; got {sorted(names)}')
        if set(adv_weights) != names:
            raise KeyError(f'SSFDAN needs one model.adv_weights entry per discriminator: '
                           f'discriminators {sorted(names)}, adv_weights {sorted(adv_weights)}')
        head = self.head_of('main')
        for name, disc in self.discriminators.items():
            got = getattr(disc, 'in_channels', head.in_channels)
            if got != head.in_channels:
                raise ValueError(f'model.discriminators.{name}.in_channels is {got}, but the '
                                 f'decode head feature has {head.in_channels} channels')
        classes = getattr(self.discriminators['ssd'], 'num_classes', head.out_channels)
        if classes != head.out_channels:
            raise ValueError(f'model.discriminators.ssd.num_classes is {classes}, but the '
                             f'decode head predicts {head.out_channels} classes')

    def _check_adv_loss(self) -> None:
        """The weighted per-cell loss needs AdversarialLoss's GAN type and domain labels."""
        if getattr(self.adv_loss, 'gan_type', None) not in ('vanilla', 'lsgan') or not all(
                hasattr(self.adv_loss, k) for k in ('source_label', 'target_label')):
            raise ValueError("model.adv_loss must be an AdversarialLoss (gan_type 'vanilla' or "
                             "'lsgan', with source_label and target_label): SSF-DAN weighs its "
                             f'per-cell values, got {type(self.adv_loss).__name__}')

    # ------------------------------------------------------------------ schedule
    def current_rho(self) -> float:
        """``rho`` of the running iteration, from the runner's message hub (resume-safe).

        A resumed run restores the loop's iteration and the hub's ``iter`` with it, so the
        schedule continues where it stopped. Outside a runner (no ``iter`` in the hub, e.g.
        ``tools/analysis_tools/benchmark_train.py`` calling ``train_step`` in a loop) there is no
        iteration to follow: ``rho_upper`` is used, with a warning.
        """
        if self.rho_schedule != 'progressive':
            return rho_at(self.rho_schedule, 0, 1, self.rho_upper)
        hub = MessageHub.get_current_instance()
        iteration = hub.get_info('iter')
        if iteration is None:
            if not self._warned_no_iteration:
                warnings.warn("SSFDAN: no runner iteration in the message hub ('iter'); the "
                              'progressive rho schedule uses rho_upper outside a Runner')
                self._warned_no_iteration = True
            return self.rho_upper
        total = self.rho_total_iters or hub.get_info('max_iters')
        if not total:
            raise RuntimeError(
                'model.rho_total_iters is None and the message hub has no max_iters: set '
                'model.rho_total_iters to the iteration count of the rho schedule')
        return rho_at('progressive', iteration, total, self.rho_upper)

    # ------------------------------------------------------------------ masks and weights
    def _predicted(self, logits: Tensor, size: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """Confidence and argmax class of every pixel, at the input size if configured."""
        if self.upsample_to_input:
            logits = F.interpolate(logits, size=tuple(size), mode='bilinear',
                                   align_corners=self.head_of('main').align_corners)
        return F.softmax(logits, dim=1).max(dim=1)

    @torch.no_grad()
    def _target_masks(self, logits: Tensor, size: Sequence[int], rho: float
                      ) -> Tuple[Tensor, Tensor]:
        """Kept one-hot masks ``M_t*`` (N, C, H, W) and the CA-R weights ``tau`` (C,)."""
        conf, pred = self._predicted(logits, size)
        masks = one_hot_masks(pred, logits.shape[1], top_rho_keep(conf, pred, logits.shape[1],
                                                                  rho))
        if not self.class_reweighting:
            return masks, torch.ones(logits.shape[1], device=logits.device)
        return masks, class_aware_weights(conf, masks, self.absent_class_weight)

    @torch.no_grad()
    def _source_masks(self, logits: Tensor, size: Sequence[int], samples, rho: float) -> Tensor:
        """Kept one-hot masks ``M_s*`` from the source prediction or the source labels."""
        num_classes = logits.shape[1]
        if self.source_mask == 'label':
            labels = torch.stack([s.gt_sem_seg.data[0] for s in samples]).to(logits.device)
            return one_hot_masks(labels, num_classes)
        conf, pred = self._predicted(logits, size)
        return one_hot_masks(pred, num_classes, top_rho_keep(conf, pred, num_classes, rho))

    # ------------------------------------------------------------------ losses
    def _weighted_adv(self, logits: Tensor, is_source: bool, weights: Tensor) -> Tensor:
        """The adversarial loss of each output cell, times its weight, reduced."""
        loss = self.adv_loss
        target = torch.full_like(logits, loss.source_label if is_source else loss.target_label)
        if loss.gan_type == 'vanilla':
            per_cell = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
        else:
            per_cell = (logits - target) ** 2
        weighted = per_cell * weights
        return weighted.mean() if self.adv_reduction == 'mean' else weighted.sum()

    def _ssd_term(self, feat: Tensor, masks: Tensor, tau: Tensor, is_source: bool) -> Tensor:
        """SS-D logits of one domain's feature and their weighted loss against a label."""
        logits = self.discriminators['ssd'](feat, masks)
        weights = weight_map(mode_downsample(masks, logits.shape[-2:]), tau)
        return self._weighted_adv(logits, is_source, weights)

    def _global_term(self, feat: Tensor, is_source: bool) -> Tensor:
        logits = self.discriminators['global_feature'](feat)
        return self._weighted_adv(logits, is_source, torch.ones_like(logits))

    def _feature_masks(self, src_out: dict, tgt_out: dict, feats: Tuple[Tensor, Tensor],
                       batch: dict, rho: float) -> Tuple[Tensor, Tensor, Tensor]:
        """Kept class masks of both domains at the feature size, and the CA-R ``tau``."""
        masks_t, tau = self._target_masks(tgt_out['main'], batch['target'].shape[2:], rho)
        masks_s = self._source_masks(src_out['main'], batch['source'].shape[2:],
                                     batch['source_samples'], rho)
        return (mode_downsample(masks_s, feats[0].shape[-2:]),
                mode_downsample(masks_t, feats[1].shape[-2:]), tau)

    def segmentor_losses(self, batch: dict) -> Tuple[Losses, dict]:
        src_out, tgt_out = self.forward_domains(batch['source'], batch['target'])
        losses = self.source_seg_losses(src_out, batch['source_samples'])
        head, rho = self.head_of('main'), self.current_rho()
        feat_s = head._transform_inputs(src_out['feats'])
        feat_t = head._transform_inputs(tgt_out['feats'])
        masks_s, masks_t, tau = self._feature_masks(src_out, tgt_out, (feat_s, feat_t), batch,
                                                    rho)
        losses['adv.ssd.loss_gen'] = self.adv_weights['ssd'] * self._ssd_term(
            feat_t, masks_t, tau, is_source=True)
        if 'global_feature' in self.discriminators:
            losses['adv.global_feature.loss_gen'] = (
                self.adv_weights['global_feature'] * self._global_term(feat_t, is_source=True))
        # logged only (no 'loss' in the names): the schedule and the share of cells it keeps
        losses['adv.ssd.rho'] = torch.tensor(rho, device=feat_t.device)
        losses['adv.ssd.kept'] = masks_t.sum() / masks_t[:, 0].numel()
        cache = dict(feat_s=feat_s.detach(), feat_t=feat_t.detach(), masks_s=masks_s,
                     masks_t=masks_t, tau=tau)
        return losses, cache

    def discriminator_losses(self, cache: dict) -> Losses:
        """Eq. 5 on the detached features: source cells labelled source, target cells target."""
        losses = {
            'disc.ssd.loss_src': self._ssd_term(cache['feat_s'], cache['masks_s'], cache['tau'],
                                                is_source=True),
            'disc.ssd.loss_tgt': self._ssd_term(cache['feat_t'], cache['masks_t'], cache['tau'],
                                                is_source=False),
        }
        if 'global_feature' in self.discriminators:
            losses['disc.global_feature.loss_src'] = self._global_term(cache['feat_s'], True)
            losses['disc.global_feature.loss_tgt'] = self._global_term(cache['feat_t'], False)
        return losses
