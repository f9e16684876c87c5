"""Fixed-range histograms of values in [0, 1] for dataset-wide percentiles in bounded memory.

Pseudo-label policies need percentiles of confidences over a whole target set (e.g. the
median max-probability per class). Sorting all values needs memory proportional to the number
of pixels (2975 Cityscapes maps at 512x1024 are 1.5 G floats); a histogram with ``bins`` bins
per class needs ``num_classes * bins`` integers whatever the dataset size, merges across ranks
with one ``all_reduce`` (integer counts, so the sum is exact), and fits into a checkpoint.

Quantile convention (documented because the policies' thresholds depend on it): the
``q``-quantile is the inverse of the empirical CDF, interpolated linearly inside the bin that
holds it, i.e. with ``cum`` the cumulative counts, the smallest non-empty bin ``k`` with
``cum[k] >= q * n`` and::

    t = lower_edge[k] + width * (q * n - cum[k - 1]) / count[k]

so about a fraction ``q`` of the values lie below ``t``. The sorted-data quantile of the same
convention (numpy ``method='inverted_cdf'``) lies in bin ``k``, hence ``|t - exact| <= width``.
``q = 0`` gives the lower edge of the first non-empty bin, ``q = 1`` the upper edge of the
last one. The quantile of an empty histogram (a class that no pixel was predicted as) is NaN;
every comparison with NaN is false, so a policy that keeps ``value >= threshold`` keeps no
pixel of such a class.
"""
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce

Tensor = torch.Tensor

# Softmax outputs can exceed 1 (or undershoot 0) by a rounding error.
_RANGE_TOLERANCE = 1e-4


class StreamingHistogram:
    """One fixed-range histogram over [0, 1] per class (or a single global one).

    Args:
        num_classes: Number of histograms; ``1`` for a global histogram, in which case
            ``update`` needs no ``classes``.
        bins: Bins per histogram; quantiles are exact to one bin width (``1 / bins``).
        name: Used in error messages (e.g. ``'adversarial confidence'``).
    """

    def __init__(self, num_classes: int = 1, bins: int = 4096, name: str = 'histogram') -> None:
        if int(num_classes) < 1:
            raise ValueError(f'{name}: num_classes must be >= 1, got {num_classes}')
        if int(bins) < 2:
            raise ValueError(f'{name}: bins must be >= 2, got {bins}')
        self.num_classes = int(num_classes)
        self.bins = int(bins)
        self.name = name
        self.counts = torch.zeros(self.num_classes, self.bins, dtype=torch.int64)

    # ------------------------------------------------------------------ accumulation
    def reset(self) -> None:
        self.counts.zero_()

    def update(self, values: Tensor, classes: Optional[Tensor] = None,
               mask: Optional[Tensor] = None) -> None:
        """Add ``values`` (any shape, in [0, 1]) to the histogram of their ``classes``.

        ``classes`` (same shape, integers in ``[0, num_classes)``) may be omitted only for a
        global histogram; ``mask`` (same shape, bool) selects the values to count.
        """
        values = values.detach()
        if classes is None:
            if self.num_classes != 1:
                raise ValueError(f'{self.name}: update() needs `classes` for a histogram with '
                                 f'{self.num_classes} classes')
        elif classes.shape != values.shape:
            raise ValueError(f'{self.name}: classes shape {tuple(classes.shape)} differs from '
                             f'values shape {tuple(values.shape)}')
        if mask is not None:
            if mask.shape != values.shape:
                raise ValueError(f'{self.name}: mask shape {tuple(mask.shape)} differs from '
                                 f'values shape {tuple(values.shape)}')
            values = values[mask]
            classes = None if classes is None else classes[mask]
        values = values.reshape(-1)
        if values.numel() == 0:
            return
        self._check_range(values)
        index = self._bin_index(values)
        if classes is not None:
            index = index + self._checked_classes(classes.reshape(-1)) * self.bins
        counts = torch.bincount(index, minlength=self.num_classes * self.bins)
        if self.counts.device != counts.device:
            self.counts = self.counts.to(counts.device)
        self.counts += counts.view(self.num_classes, self.bins)

    def _check_range(self, values: Tensor) -> None:
        low, high = values.min().item(), values.max().item()
        if not (low >= -_RANGE_TOLERANCE and high <= 1 + _RANGE_TOLERANCE):  # NaN fails too
            raise ValueError(f'{self.name}: values must lie in [0, 1], got min {low} and '
                             f'max {high}')

    def _bin_index(self, values: Tensor) -> Tensor:
        # float64: in float32, 0.7 * 10 rounds up to 7.0 and 0.7 would land in the bin above
        return (values.double() * self.bins).floor().long().clamp_(0, self.bins - 1)

    def _checked_classes(self, classes: Tensor) -> Tensor:
        classes = classes.long()
        if classes.min().item() < 0 or classes.max().item() >= self.num_classes:
            raise ValueError(f'{self.name}: classes must lie in [0, {self.num_classes}), got '
                             f'[{classes.min().item()}, {classes.max().item()}] (mask out '
                             'ignored pixels)')
        return classes

    def all_reduce(self) -> None:
        """Sum the counts of every rank (no-op on one process). Call once per pass: a second
        call would count the other ranks' data twice."""
        all_reduce(self.counts, op='sum')

    # ------------------------------------------------------------------ statistics
    def totals(self) -> Tensor:
        """Number of values in each class's histogram, shape ``(num_classes,)``."""
        return self.counts.sum(dim=1).cpu()

    def quantiles(self, q: float) -> Tensor:
        """The ``q``-quantile of every class's values (float64, NaN for an empty class)."""
        if not 0.0 <= float(q) <= 1.0:
            raise ValueError(f'{self.name}: quantile level must lie in [0, 1], got {q}')
        counts = self.counts.cpu().double()
        cum = counts.cumsum(dim=1)
        total = cum[:, -1:]
        target = float(q) * total
        # q * n that is an integer up to rounding (0.1 * 30) must not move to the next bin
        target = torch.where((target - target.round()).abs() < 1e-9 * total.clamp(min=1),
                             target.round(), target)
        # smallest bin holding the target rank; a non-empty one even for q = 0
        k = torch.searchsorted(cum, target.clamp(min=0.5)).clamp_(max=self.bins - 1)
        before = torch.where(k > 0, cum.gather(1, (k - 1).clamp(min=0)), torch.zeros_like(target))
        inside = counts.gather(1, k)
        frac = ((target - before) / inside.clamp(min=1)).clamp_(0.0, 1.0)
        out = (k.double() + frac) / self.bins
        out[total == 0] = float('nan')
        return out.squeeze(1)

    def quantile(self, q: float, cls: int = 0) -> float:
        """The ``q``-quantile of one class's values (of all values for a global histogram)."""
        return float(self.quantiles(q)[cls])

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> Dict[str, object]:
        return dict(num_classes=self.num_classes, bins=self.bins, counts=self.counts.cpu().clone())

    def load_state_dict(self, state: Dict[str, object]) -> None:
        counts = torch.as_tensor(state['counts'])
        if (int(state['num_classes']), int(state['bins'])) != (self.num_classes, self.bins) \
                or tuple(counts.shape) != (self.num_classes, self.bins):
            raise ValueError(f'{self.name}: state has {state["num_classes"]} classes x '
                             f'{state["bins"]} bins, this histogram {self.num_classes} x '
                             f'{self.bins}')
        self.counts = counts.to(device=self.counts.device, dtype=torch.int64).clone()
