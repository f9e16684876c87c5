"""SSF-DAN's progressive confidence strategy (paper 003, eqs. 7-8)."""
import torch

Tensor = torch.Tensor

RHO_SCHEDULES = ('progressive', 'fixed', 'off')


def rho_at(schedule: str, iteration: int, total_iters: int, rho_upper: float) -> float:
    """Share of each class's pixels kept as reliable pseudo labels at ``iteration`` (0-based).

    ``'progressive'``: eq. 7, ``min(iteration / total_iters, rho_upper)``: few, very confident
    pixels early, more as the predictions become reliable. ``'fixed'``: ``rho_upper`` from the
    start (the paper's Figure 4 comparison). ``'off'``: 1, every predicted pixel is kept (the
    paper's SS-D-dagger ablation).
    """
    if schedule == 'off':
        return 1.0
    if schedule == 'fixed':
        return float(rho_upper)
    if schedule != 'progressive':
        raise ValueError(f'rho schedule must be one of {RHO_SCHEDULES}, got {schedule!r}')
    return min(float(iteration) / float(total_iters), float(rho_upper))


def top_rho_keep(confidence: Tensor, labels: Tensor, num_classes: int, rho: float) -> Tensor:
    """Keep the ``round(rho * N_c)`` most confident pixels of every class c in every image.

    Eq. 8: the class-wise confidence map ``A^c`` of each image is sorted in descending order and
    only its top ``rho`` share survives. Vectorised over images and classes (two stable sorts
    and a rank inside each class), so the cost does not grow with a loop over classes. Ties in
    confidence keep the earlier pixel (raster order). Labels outside ``[0, num_classes)`` are
    never kept.

    Args:
        confidence: (N, H, W) probability of the predicted class.
        labels: (N, H, W) predicted class of each pixel.
        num_classes: Number of classes C.
        rho: Share kept, in [0, 1]; the count per class is rounded half up.

    Returns:
        (N, H, W) bool mask of the kept pixels.
    """
    n = confidence.shape[0]
    conf, lab = confidence.reshape(n, -1), labels.reshape(n, -1).long()
    valid = (lab >= 0) & (lab < num_classes)
    if rho >= 1:
        return valid.reshape(labels.shape)
    lab = torch.where(valid, lab, num_classes)  # invalid pixels form an extra class, quota 0
    by_conf = torch.sort(conf, dim=1, descending=True, stable=True).indices
    by_class = torch.sort(lab.gather(1, by_conf), dim=1, stable=True).indices
    order = by_conf.gather(1, by_class)  # grouped by class, most confident first in each
    grouped = lab.gather(1, order)
    counts = torch.zeros(n, num_classes + 1, dtype=torch.long, device=lab.device)
    counts.scatter_add_(1, lab, torch.ones_like(lab))
    start = counts.cumsum(1) - counts
    rank = torch.arange(lab.shape[1], device=lab.device).expand(n, -1) - start.gather(1, grouped)
    quota = torch.floor(counts.to(torch.float64) * rho + 0.5).long()
    quota[:, num_classes] = 0
    keep_sorted = rank < quota.gather(1, grouped)
    keep = torch.zeros_like(keep_sorted).scatter_(1, order, keep_sorted)
    return keep.reshape(labels.shape)
