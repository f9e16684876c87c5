"""BDL's class-wise median thresholds ("SSL" pseudo labels, reused by LDR)."""
from typing import Dict, Optional

import torch

from mmuda.utils.streaming_histogram import StreamingHistogram

from .base import BasePseudoLabeler, threshold_tensor
from .registry import PSEUDO_LABELERS

Tensor = torch.Tensor


@PSEUDO_LABELERS.register_module(name='class_median')
class ClassMedianPseudoLabeler(BasePseudoLabeler):
    """Keep a pixel when its max-probability reaches the threshold of its predicted class.

    Per class ``c``, ``threshold_c = min(median of the max-probabilities of the pixels
    predicted as c over the whole target set, cap)`` (BDL, Li et al. CVPR 2019, as used by LDR,
    Yang et al. ECCV 2020; the cap is 0.9 in the reference code). Pixels with
    ``max-probability < threshold_c`` get ``ignore_index``. The median is read from a
    per-class histogram (exact to one bin width); a class no pixel is predicted as has a NaN
    threshold and, having no pixel, no label either.

    Args:
        num_classes: Number of classes.
        cap: Upper bound of every threshold, in (0, 1].
        bins: Histogram bins per class.
        ignore_index: Value of ignored pixels.
    """

    num_stat_passes = 1

    def __init__(self, num_classes: int, cap: float = 0.9, bins: int = 4096,
                 ignore_index: int = 255) -> None:
        super().__init__(num_classes, ignore_index)
        if not 0.0 < float(cap) <= 1.0:
            raise ValueError(f'class_median pseudo labels: cap must lie in (0, 1], got {cap}')
        self.cap = float(cap)
        self.hist = StreamingHistogram(num_classes, bins, name='class_median confidences')
        self.medians = threshold_tensor(None, num_classes)
        self.class_thresholds = threshold_tensor(None, num_classes)

    def _reset(self) -> None:
        self.hist.reset()
        self.medians = threshold_tensor(None, self.num_classes)
        self.class_thresholds = threshold_tensor(None, self.num_classes)

    def _collect(self, probs: Tensor, adv: Optional[Tensor]) -> None:
        conf, pred = probs.max(dim=1)
        self.hist.update(conf, pred)

    def _end_pass(self, index: int) -> None:
        self.hist.all_reduce()
        self.medians = self.hist.quantiles(0.5)
        self.class_thresholds = self.medians.clamp(max=self.cap)  # NaN stays NaN

    def _label(self, probs: Tensor, adv: Optional[Tensor]) -> Tensor:
        conf, pred = probs.max(dim=1)
        thr = self.class_thresholds.to(device=probs.device, dtype=conf.dtype)[pred]
        pred[~(conf >= thr)] = self.ignore_index  # NaN threshold: nothing kept
        return pred

    def thresholds(self) -> Dict[str, object]:
        return dict(class_thresholds=self.class_thresholds, class_medians=self.medians,
                    predicted_pixels=self.hist.totals())

    def options(self) -> Dict[str, object]:
        return dict(super().options(), cap=self.cap, bins=self.hist.bins)

    def _state(self) -> Dict[str, object]:
        return dict(hist=self.hist.state_dict(), medians=self.medians.clone(),
                    class_thresholds=self.class_thresholds.clone())

    def _load_state(self, state: Dict[str, object]) -> None:
        self.hist.load_state_dict(state['hist'])
        self.medians = threshold_tensor(state['medians'], self.num_classes)
        self.class_thresholds = threshold_tensor(state['class_thresholds'], self.num_classes)
