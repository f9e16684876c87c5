"""One-hot class masks and their "mode" downsampling (SSF-DAN's semantic-wise separation)."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def one_hot_masks(labels: Tensor, num_classes: int, keep: Optional[Tensor] = None) -> Tensor:
    """(N, H, W) class indices -> (N, C, H, W) float one-hot masks.

    Pixels whose label is outside ``[0, num_classes)`` (e.g. the ignore index 255) and pixels
    where ``keep`` is False get an all-zero column: they belong to no class, so they neither
    reach a class-wise discriminator nor weigh in its loss.
    """
    valid = (labels >= 0) & (labels < num_classes)
    if keep is not None:
        valid = valid & keep
    masks = F.one_hot(torch.where(valid, labels, 0).long(), num_classes)
    return masks.permute(0, 3, 1, 2).to(torch.float32) * valid.unsqueeze(1)


def mode_downsample(masks: Tensor, size: Sequence[int]) -> Tensor:
    """One-hot masks resampled to ``size`` by the mode of each cell's window.

    The paper separates features "by the downsampled one-hot output (according to the mode)":
    each feature cell takes the class with the highest share of its window (adaptive average
    pooling windows, so any size ratio works). Pixels of no class (filtered out by the
    progressive confidence strategy, or ignored) vote too, for "no class": a cell whose window
    is mostly such pixels stays empty, so filtering removes cells and not just pixels. Ties go
    to a class, and among classes to the lower index. Masks already at ``size`` are returned
    unchanged.
    """
    size = tuple(int(s) for s in size)
    if tuple(masks.shape[-2:]) == size:
        return masks
    void = 1.0 - masks.sum(dim=1, keepdim=True)
    # shares of the classes and of "no class", all pooled alike so equal counts tie exactly
    share = F.adaptive_avg_pool2d(torch.cat([masks, void], dim=1), size)
    best_share, best = share[:, :-1].max(dim=1, keepdim=True)
    keep = (best_share > 0) & (best_share >= share[:, -1:])
    return torch.zeros_like(share[:, :-1]).scatter_(1, best, keep.to(share.dtype))
