"""Cross-entropy against soft (per-pixel distribution) targets."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


@MODELS.register_module()
class SoftLabelCrossEntropyLoss(nn.Module):
    """``mean over pixels of sum_c -q_c * log_softmax(logits)_c`` (FADA eqs. 5-6).

    The targets ``q`` need not sum to one: FADA's domain encodings put the class knowledge in
    one half of the 2K channels and zeros in the other, and clip confident entries at 0.9
    without renormalising. ``valid`` (N, 1, H, W) restricts the mean to some pixels (the hard
    encoding ignores low-confidence ones); with no valid pixel the loss is a zero that still
    belongs to the graph.

    Args:
        loss_weight: Multiplies the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        if logits.shape != target.shape:
            raise ValueError(f'soft-label cross-entropy needs logits and targets of one shape, '
                             f'got {tuple(logits.shape)} and {tuple(target.shape)}')
        per_pixel = -(target * F.log_softmax(logits, dim=1)).sum(dim=1, keepdim=True)
        if valid is None:
            return self.loss_weight * per_pixel.mean()
        valid = valid.to(per_pixel.dtype)
        return self.loss_weight * (per_pixel * valid).sum() / valid.sum().clamp(min=1.0)
