"""Hard argmax pseudo labels: FADA's self-distillation (no threshold) or a fixed threshold."""
from typing import Dict, Optional

import torch

from .base import BasePseudoLabeler
from .registry import PSEUDO_LABELERS

Tensor = torch.Tensor


@PSEUDO_LABELERS.register_module(name='argmax')
class ArgmaxPseudoLabeler(BasePseudoLabeler):
    """Label every pixel with its most probable class; needs no statistics pass.

    FADA's self-distillation (Wang et al., ECCV 2020, section 3.4; reference code) keeps every
    pixel (``threshold=None``). With a ``threshold``, pixels whose maximum probability is below
    it are ignored, as FADA's hard-label variant does with 0.9.

    Args:
        num_classes: Number of classes.
        threshold: Optional fixed confidence in [0, 1]; ``None`` keeps every pixel.
        ignore_index: Value of ignored pixels.
    """

    def __init__(self, num_classes: int, threshold: Optional[float] = None,
                 ignore_index: int = 255) -> None:
        super().__init__(num_classes, ignore_index)
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f'argmax pseudo labels: threshold must lie in [0, 1], got '
                             f'{threshold}')
        self.threshold = None if threshold is None else float(threshold)

    def _label(self, probs: Tensor, adv: Optional[Tensor]) -> Tensor:
        conf, pred = probs.max(dim=1)
        if self.threshold is not None:
            pred[conf < self.threshold] = self.ignore_index
        return pred

    def thresholds(self) -> Dict[str, object]:
        return dict(threshold=self.threshold)

    def options(self) -> Dict[str, object]:
        return dict(super().options(), threshold=self.threshold)
