"""Discriminator feature matching (pix2pixHD), the second term of LDR's eq. 5."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

Tensor = torch.Tensor


@MODELS.register_module()
class FeatureMatchingLoss(nn.Module):
    """``sum_k sum_n mean |D_k^(n)(real pair) - D_k^(n)(generated pair)|``.

    Takes two outputs of ``MultiScaleDiscriminator.forward_features``: per scale k, the list of
    intermediate activations with the logits last. The logits are excluded (they are the
    adversarial term's business), every other layer of every scale counts with weight 1, as
    eq. 5 writes it (pix2pixHD additionally divides by the number of scales and layers; the
    ``rec_weight`` of the caller absorbs any such constant).

    Nothing is detached here: the caller decides which side carries gradients. In LDR both do
    (eq. 5 as written): the real pair's features depend on the label map omega too.
    """

    def forward(self, real_feats: Sequence[List[Tensor]],
                fake_feats: Sequence[List[Tensor]]) -> Tensor:
        if len(real_feats) != len(fake_feats):
            raise ValueError(f'FeatureMatchingLoss: {len(real_feats)} real scales vs '
                             f'{len(fake_feats)} generated ones')
        loss = None
        for k, (real, fake) in enumerate(zip(real_feats, fake_feats)):
            if len(real) != len(fake) or len(real) < 2:
                raise ValueError(f'FeatureMatchingLoss: scale {k} has {len(real)} real and '
                                 f'{len(fake)} generated activations; expected the same number, '
                                 'at least one layer plus the logits')
            for f_real, f_fake in zip(real[:-1], fake[:-1]):
                term = F.l1_loss(f_fake, f_real)
                loss = term if loss is None else loss + term
        if loss is None:
            raise ValueError('FeatureMatchingLoss: no discriminator scale given')
        return loss
