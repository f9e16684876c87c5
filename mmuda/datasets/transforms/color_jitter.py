"""Random brightness, contrast, saturation and hue, as torchvision's ColorJitter does it."""
from typing import Optional, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


def _factor_range(value: float, name: str) -> Optional[Tuple[float, float]]:
    if value < 0:
        raise ValueError(f'ColorJitter {name} must be >= 0, got {value}')
    return (max(0.0, 1.0 - value), 1.0 + value) if value else None


def _shift_hue(img: np.ndarray, shift: float) -> np.ndarray:
    """Rotate the hue of a BGR uint8 image by ``shift`` turns (mmcv 2.1's ``adjust_hue``
    overflows uint8 on negative shifts)."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)  # uint8 hue is in [0, 180)
    hue = (hsv[..., 0].astype(np.int32) + int(round(shift * 180))) % 180
    hsv[..., 0] = hue.astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """Jitter the image's colours with factors drawn uniformly, applied in a random order.

    FADA trains with ``ColorJitter(0.5, 0.5, 0.5, 0.2)`` on source images; mmseg's
    ``PhotoMetricDistortion`` draws its factors differently (fixed ranges, fixed order,
    each applied with probability 0.5), so it is not the same augmentation. A factor ``b``
    means a multiplier drawn from ``[max(0, 1 - b), 1 + b]``; ``hue`` a shift drawn from
    ``[-hue, hue]`` (at most 0.5). The image is BGR uint8, as loaded by ``LoadImageFromFile``.

    Required keys: ``img``. Modified keys: ``img``.
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0,
                 saturation: float = 0.0, hue: float = 0.0) -> None:
        super().__init__()
        if not 0 <= hue <= 0.5:
            raise ValueError(f'ColorJitter hue must be in [0, 0.5], got {hue}')
        self.ranges = dict(brightness=_factor_range(brightness, 'brightness'),
                           contrast=_factor_range(contrast, 'contrast'),
                           saturation=_factor_range(saturation, 'saturation'),
                           hue=(-hue, hue) if hue else None)

    @staticmethod
    def _apply(img: np.ndarray, op: str, factor: float) -> np.ndarray:
        if op == 'brightness':
            return mmcv.adjust_brightness(img, factor)
        if op == 'contrast':
            return mmcv.adjust_contrast(img, factor)
        if op == 'saturation':
            return mmcv.adjust_color(img, factor)
        return _shift_hue(img, factor)

    def transform(self, results: dict) -> dict:
        img = results['img']
        for i in np.random.permutation(4):
            op = ('brightness', 'contrast', 'saturation', 'hue')[i]
            if self.ranges[op] is not None:
                img = self._apply(img, op, float(np.random.uniform(*self.ranges[op])))
        results['img'] = np.clip(img, 0, 255).astype(np.uint8)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.ranges})'
