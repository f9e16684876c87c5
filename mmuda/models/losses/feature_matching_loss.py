"""Discriminator feature matching (pix2pixHD), the second term of LDR's eq. 5."""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

Tensor = torch.Tensor
Weights = Union[str, Sequence[float]]
# pix2pixHD (models/pix2pixHD_model.py): every intermediate layer of D_k weighs
# feat_weights = 4 / (n_layers_D + 1), where n_layers_D + 1 is the number of intermediate
# activations its PatchGAN returns (the logits excluded), and every scale D_weights = 1 / num_D
PIX2PIXHD_LAYER_TOTAL = 4.0
NAMED = ('pix2pixhd', 'unit')


@MODELS.register_module()
class FeatureMatchingLoss(nn.Module):
    """``sum_k s_k sum_n w_n mean |D_k^(n)(real pair) - D_k^(n)(generated pair)|``.

    Takes two outputs of ``MultiScaleDiscriminator.forward_features``: per scale k, the list of
    intermediate activations with the logits last. The logits are excluded (they are the
    adversarial term's business).

    The weights are pix2pixHD's by default, where LDR's beta = 10 (pix2pixHD's
    ``lambda_feat``) and its multi-scale D_k come from: with N intermediate layers per scale
    and K scales, ``w_n = 4 / N`` and ``s_k = 1 / K``, so the whole term is a weighted mean
    that weighs 4 in total, whatever the depth and the number of scales of D. Eq. 5 as printed
    is the plain double sum (``'unit'``: every weight 1), which is 3x larger for LDR's three
    70x70 PatchGANs (N = 4) and 2.25x for the toy's (N = 3).

    ``detach_real``: pix2pixHD compares the generated pair's features with the real pair's as
    fixed targets (``pred_real[i][j].detach()``). With a fixed input label (pix2pixHD, M's
    pre-training) the real side has no gradient anyway; in LDR the real pair's features also
    depend on the label map omega, and ``detach_real=False`` lets omega's gradient flow through
    both sides (eq. 5 read literally).

    Args:
        layer_weights: ``'pix2pixhd'`` (4 / N each), ``'unit'`` (1 each) or one weight per
            intermediate layer.
        scale_weights: ``'pix2pixhd'`` (1 / K each), ``'unit'`` (1 each) or one weight per
            scale.
        detach_real: Treat the real pair's features as constants (pix2pixHD).
    """

    def __init__(self, layer_weights: Weights = 'pix2pixhd',
                 scale_weights: Weights = 'pix2pixhd', detach_real: bool = False) -> None:
        super().__init__()
        self.detach_real = detach_real
        self.layer_weights = self._check('layer_weights', layer_weights)
        self.scale_weights = self._check('scale_weights', scale_weights)

    @staticmethod
    def _check(key: str, weights: Weights) -> Union[str, tuple]:
        if isinstance(weights, str):
            if weights not in NAMED:
                raise ValueError(f'FeatureMatchingLoss {key} must be one of {NAMED} or a list '
                                 f'of numbers, got {weights!r}')
            return weights
        return tuple(float(w) for w in weights)

    @staticmethod
    def _resolve(key: str, weights: Union[str, tuple], count: int, pix2pixhd: float
                 ) -> tuple:
        if weights == 'pix2pixhd':
            return (pix2pixhd,) * count
        if weights == 'unit':
            return (1.0,) * count
        if len(weights) != count:
            raise ValueError(f'FeatureMatchingLoss {key} has {len(weights)} weights, but the '
                             f'discriminator gives {count}')
        return weights

    def forward(self, real_feats: Sequence[List[Tensor]],
                fake_feats: Sequence[List[Tensor]]) -> Tensor:
        if len(real_feats) != len(fake_feats):
            raise ValueError(f'FeatureMatchingLoss: {len(real_feats)} real scales vs '
                             f'{len(fake_feats)} generated ones')
        if not real_feats:
            raise ValueError('FeatureMatchingLoss: no discriminator scale given')
        scales = self._resolve('scale_weights', self.scale_weights, len(real_feats),
                               1.0 / len(real_feats))
        loss = None
        for k, (real, fake) in enumerate(zip(real_feats, fake_feats)):
            if len(real) != len(fake) or len(real) < 2:
                raise ValueError(f'FeatureMatchingLoss: scale {k} has {len(real)} real and '
                                 f'{len(fake)} generated activations; expected the same number, '
                                 'at least one layer plus the logits')
            n = len(real) - 1
            layers = self._resolve('layer_weights', self.layer_weights, n,
                                   PIX2PIXHD_LAYER_TOTAL / n)
            for w, f_real, f_fake in zip(layers, real[:-1], fake[:-1]):
                if self.detach_real:
                    f_real = f_real.detach()
                term = scales[k] * w * F.l1_loss(f_fake, f_real)
                loss = term if loss is None else loss + term
        return loss
