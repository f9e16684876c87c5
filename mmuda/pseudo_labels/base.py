"""The interface every pseudo-label policy implements, and the checks they share."""
from typing import Dict, Optional, Tuple

import torch

Tensor = torch.Tensor


class BasePseudoLabeler:
    """A rule that turns class probabilities (and optionally an adversarial confidence map)
    into a label map, using statistics of the whole target set.

    The generator drives a policy in passes over the target set, so that no per-image map is
    kept across images::

        labeler.reset()
        for _ in range(labeler.num_stat_passes):   # 0 for a policy without statistics
            for probs, adv in dataset: labeler.collect(probs, adv)
            labeler.end_pass()                    # all-reduce over ranks, set thresholds
        for probs, adv in dataset: write(labeler.label(probs, adv))

    ``probs`` are softmax probabilities ``(N, C, H, W)``; ``adv`` the adversarial confidence
    ``(N, 1, H, W)`` or ``(N, H, W)`` in [0, 1], only for policies whose
    ``needs_adversarial_confidence`` is true. Labels are ``(N, H, W)`` int64 with
    ``ignore_index`` where no label is kept.

    Args:
        num_classes: Number of classes (at most 255, the labels are written as uint8 PNGs).
        ignore_index: Value of pixels without a pseudo label (mmseg's default 255).
    """

    num_stat_passes: int = 0
    needs_adversarial_confidence: bool = False

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        name = type(self).__name__
        if not 2 <= int(num_classes) <= 255:
            raise ValueError(f'{name}: num_classes must lie in [2, 255] (labels are uint8 PNGs '
                             f'with an ignore value), got {num_classes}')
        if not 0 <= int(ignore_index) <= 255 or int(ignore_index) < int(num_classes):
            raise ValueError(f'{name}: ignore_index must lie in [num_classes, 255] = '
                             f'[{num_classes}, 255], got {ignore_index}')
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self._pass = 0

    # ------------------------------------------------------------------ driving the passes
    @property
    def ready(self) -> bool:
        """Whether every statistics pass is done, so :meth:`label` may be called."""
        return self._pass >= self.num_stat_passes

    def reset(self) -> None:
        """Forget the statistics of a previous generation (the model has changed)."""
        self._pass = 0
        self._reset()

    def collect(self, probs: Tensor, adv: Optional[Tensor] = None) -> None:
        """Add one batch to the statistics of the current pass."""
        if self.ready:
            raise RuntimeError(f'{type(self).__name__}.collect() called after its '
                               f'{self.num_stat_passes} statistics pass(es); call reset() first')
        self._collect(*self._checked(probs, adv))

    def end_pass(self) -> None:
        """Finish the current statistics pass: reduce across ranks and derive thresholds.
        Every rank must call it, the same number of times."""
        if self.ready:
            raise RuntimeError(f'{type(self).__name__}.end_pass() called with no statistics '
                               'pass in progress')
        self._end_pass(self._pass)
        self._pass += 1

    @torch.no_grad()
    def label(self, probs: Tensor, adv: Optional[Tensor] = None) -> Tensor:
        """Pseudo labels ``(N, H, W)`` (int64, ``ignore_index`` where none is kept)."""
        if not self.ready:
            raise RuntimeError(f'{type(self).__name__}.label() called before its statistics '
                               f'passes ({self._pass} of {self.num_stat_passes} done)')
        return self._label(*self._checked(probs, adv))

    def _checked(self, probs: Tensor, adv: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        name = type(self).__name__
        if probs.dim() != 4 or probs.shape[1] != self.num_classes:
            raise ValueError(f'{name}: probabilities must have shape (N, {self.num_classes}, H, '
                             f'W), got {tuple(probs.shape)}')
        if not self.needs_adversarial_confidence:
            return probs, None
        if adv is None:
            raise ValueError(f'{name} needs the adversarial confidence map, got None')
        if adv.dim() == 4 and adv.shape[1] == 1:
            adv = adv[:, 0]
        n, _, h, w = probs.shape
        if tuple(adv.shape) != (n, h, w):
            raise ValueError(f'{name}: adversarial confidence must have shape ({n}, 1, {h}, {w}) '
                             f'like the probabilities, got {tuple(adv.shape)}')
        return probs, adv

    # ------------------------------------------------------------------ for subclasses
    def _reset(self) -> None:
        pass

    def _collect(self, probs: Tensor, adv: Optional[Tensor]) -> None:
        raise NotImplementedError

    def _end_pass(self, index: int) -> None:
        raise NotImplementedError

    def _label(self, probs: Tensor, adv: Optional[Tensor]) -> Tensor:
        raise NotImplementedError

    def thresholds(self) -> Dict[str, object]:
        """The thresholds in use: floats, or tensors of one value per class (NaN = none)."""
        return {}

    def options(self) -> Dict[str, object]:
        """The policy's settings, recorded with its state and in the output JSON."""
        return dict(num_classes=self.num_classes, ignore_index=self.ignore_index)

    def _state(self) -> Dict[str, object]:
        return {}

    def _load_state(self, state: Dict[str, object]) -> None:
        pass

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, object]:
        """Statistics and thresholds, so a resumed run labels exactly as before."""
        return dict(type=type(self).__name__, options=self.options(), passes_done=self._pass,
                    **self._state())

    def load_state_dict(self, state: Dict[str, object]) -> None:
        if state.get('type') != type(self).__name__ or state.get('options') != self.options():
            raise ValueError(
                f'pseudo-label state is for {state.get("type")} with {state.get("options")}, '
                f'this policy is {type(self).__name__} with {self.options()}')
        self._load_state(state)
        self._pass = int(state['passes_done'])


def threshold_tensor(values: Optional[Tensor], num_classes: int) -> Tensor:
    """Per-class thresholds as float64 on CPU; NaN (no statistics yet) when ``values`` is None."""
    if values is None:
        return torch.full((num_classes,), float('nan'), dtype=torch.float64)
    return torch.as_tensor(values, dtype=torch.float64).cpu().clone()
