"""Proxy labels regularised by multi-adversarial confidence (Shen et al. 2019, eq. 5)."""
from typing import Dict, Optional

import torch

from mmuda.utils.streaming_histogram import StreamingHistogram

from .base import BasePseudoLabeler, threshold_tensor
from .registry import PSEUDO_LABELERS

Tensor = torch.Tensor


@PSEUDO_LABELERS.register_module(name='adversarial_proxy')
class AdversarialProxyPseudoLabeler(BasePseudoLabeler):
    """Keep a pixel where the adversarial and the class-balanced confidence agree.

    Paper 004, section 2.3, with ``A`` the adversarial confidence (the model's
    ``adversarial_confidence``, whose scale the model's ``confidence_norm`` sets: the paper only
    says the discriminators' outputs are normalised "to the same scale") and ``P`` the class
    probabilities:

    1. confidence refocusing: ``t1`` is chosen so that a proportion ``p1`` of all target pixels
       has ``A > t1``, i.e. ``t1`` is the ``(1 - p1)``-quantile of ``A`` over the target set
       (the paper: "p1 defines the proportion of selected pixels"; p1 = 1 "does not use the
       adversarial confidence", and its Table 4 reads p1 * p2 as the proportion kept);
    2. class-balance reweighting (CBST-style): among the pixels with ``A > t1``, those
       predicted as ``c`` (argmax of P) contribute their probability ``P_c``;
       ``t2_c`` is the ``(1 - p2)``-quantile of these, so a proportion ``p2`` of them exceeds it;
    3. eq. 5: ``l = argmax_l P_l / t2_l``; label ``l`` where ``P_l > t2_l`` and ``A > t1``,
       ``ignore_index`` elsewhere.

    Statistics take two passes (A first, then P restricted to ``A > t1``); with ``p1 >= 1``
    step 1 is skipped (``t1 = -inf``), one pass suffices and ``A`` is not needed. A class with
    no pixel above ``t1`` has ``t2 = NaN`` and is never assigned. Quantiles come from
    histograms (exact to one bin width).

    Args:
        num_classes: Number of classes.
        p1: Proportion of pixels kept by the adversarial confidence, in (0, 1]; paper: 0.6.
        p2: Proportion kept per class among those, in (0, 1]; paper: 0.8.
        bins: Histogram bins (of A, and of P per class).
        ignore_index: Value of ignored pixels.
    """

    def __init__(self, num_classes: int, p1: float = 0.6, p2: float = 0.8, bins: int = 4096,
                 ignore_index: int = 255) -> None:
        super().__init__(num_classes, ignore_index)
        for key, value in (('p1', p1), ('p2', p2)):
            if not 0.0 < float(value) <= 1.0:
                raise ValueError(f'adversarial_proxy pseudo labels: {key} must lie in (0, 1], '
                                 f'got {value}')
        self.p1, self.p2 = float(p1), float(p2)
        self.uses_adversarial = self.p1 < 1.0
        self.needs_adversarial_confidence = self.uses_adversarial
        self.num_stat_passes = 2 if self.uses_adversarial else 1
        self.adv_hist = StreamingHistogram(1, bins, name='adversarial confidence')
        self.class_hist = StreamingHistogram(num_classes, bins, name='proxy class confidences')
        self._reset()

    def _reset(self) -> None:
        self.adv_hist.reset()
        self.class_hist.reset()
        self.t1 = float('-inf') if not self.uses_adversarial else float('nan')
        self.t2 = threshold_tensor(None, self.num_classes)

    def _adv_pass(self, index: int) -> bool:
        return self.uses_adversarial and index == 0

    def _collect(self, probs: Tensor, adv: Optional[Tensor]) -> None:
        if self._adv_pass(self._pass):
            self.adv_hist.update(adv)
            return
        conf, pred = probs.max(dim=1)
        self.class_hist.update(conf, pred, mask=self._refocus(adv, conf))

    def _refocus(self, adv: Optional[Tensor], like: Tensor) -> Tensor:
        """Pixels of the domain-invariant regions, ``A > t1`` (all pixels when p1 = 1)."""
        if not self.uses_adversarial:
            return torch.ones_like(like, dtype=torch.bool)
        return adv > self.t1  # False everywhere when t1 is NaN (no confidence at all)

    def _end_pass(self, index: int) -> None:
        if self._adv_pass(index):
            self.adv_hist.all_reduce()
            self.t1 = self.adv_hist.quantile(1.0 - self.p1)
        else:
            self.class_hist.all_reduce()
            self.t2 = self.class_hist.quantiles(1.0 - self.p2)

    def _label(self, probs: Tensor, adv: Optional[Tensor]) -> Tensor:
        t2 = self.t2.to(device=probs.device, dtype=probs.dtype)
        # a class without statistics is never chosen: its reweighted score is 0
        divisor = torch.where(torch.isnan(t2), torch.full_like(t2, float('inf')),
                              t2.clamp(min=torch.finfo(probs.dtype).tiny))
        label = (probs / divisor.view(1, -1, 1, 1)).argmax(dim=1)
        chosen = probs.gather(1, label.unsqueeze(1)).squeeze(1)
        keep = (chosen > t2[label]) & self._refocus(adv, chosen)
        label[~keep] = self.ignore_index
        return label

    def thresholds(self) -> Dict[str, object]:
        return dict(t1=self.t1, t2=self.t2, refocused_pixels=self.class_hist.totals())

    def options(self) -> Dict[str, object]:
        return dict(super().options(), p1=self.p1, p2=self.p2, bins=self.class_hist.bins)

    def _state(self) -> Dict[str, object]:
        return dict(adv_hist=self.adv_hist.state_dict(), class_hist=self.class_hist.state_dict(),
                    t1=self.t1, t2=self.t2.clone())

    def _load_state(self, state: Dict[str, object]) -> None:
        self.adv_hist.load_state_dict(state['adv_hist'])
        self.class_hist.load_state_dict(state['class_hist'])
        self.t1 = float(state['t1'])
        self.t2 = threshold_tensor(state['t2'], self.num_classes)
