"""SSF-DAN's class-wise adversarial loss reweighting, CA-R (paper 003, eq. 9)."""
import torch
from mmengine.dist import all_reduce

Tensor = torch.Tensor


def class_aware_weights(confidence: Tensor, masks: Tensor, absent_weight: float = 1.0) -> Tensor:
    """Eq. 9: ``tau_c = sqrt(N_c / sum A_c*)`` for every class, over the whole batch.

    ``N_c`` is the number of kept pixels of class c and ``sum A_c*`` the sum of their
    confidences, both summed over all ranks in distributed training (so that N GPUs with batch
    B weigh like one GPU with batch N*B; a no-op on one process), so ``tau_c`` is one over the
    root of the class's mean confidence: at least 1,
    larger for classes the segmentor predicts with little confidence (the poorly adapted ones),
    which the generator is pushed to adapt harder.

    Args:
        confidence: (N, H, W) probability of the predicted class.
        masks: (N, C, H, W) one-hot masks of the kept pixels (the filtered ``M_c*``).
        absent_weight: ``tau`` of a class without any kept pixel, where eq. 9 is undefined.

    Returns:
        (C,) weights.
    """
    count = masks.sum(dim=(0, 2, 3))
    total = (masks * confidence.unsqueeze(1)).sum(dim=(0, 2, 3))
    all_reduce(count, op='sum')
    all_reduce(total, op='sum')
    tau = torch.sqrt(count / total.clamp_min(torch.finfo(total.dtype).tiny))
    return torch.where(count > 0, tau, torch.full_like(tau, absent_weight))


def weight_map(masks: Tensor, class_weights: Tensor) -> Tensor:
    """Merge per-class masks into one (N, 1, h, w) weight map: ``R = sum_c w_c * M_c``.

    With one-hot masks each cell takes the weight of its class; cells of no class weigh 0, which
    is how pixels dropped by the progressive confidence strategy leave the loss.
    """
    return (masks * class_weights.view(1, -1, 1, 1)).sum(1, keepdim=True)
