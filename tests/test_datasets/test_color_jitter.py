"""ColorJitter: torchvision-style factor ranges on BGR uint8 images."""
import numpy as np
import pytest
from mmseg.registry import TRANSFORMS

import mmuda  # noqa: F401


def jitter(**kwargs):
    return TRANSFORMS.build(dict(type='ColorJitter', **kwargs))


def test_zero_jitter_is_identity():
    img = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    assert np.array_equal(jitter()(dict(img=img.copy()))['img'], img)


def test_brightness_factor_stays_in_range_and_varies():
    img = np.full((4, 4, 3), 100, np.uint8)
    means = [jitter(brightness=0.5)(dict(img=img.copy()))['img'].mean() for _ in range(50)]
    assert 50 - 1 <= min(means) and max(means) <= 150 + 1
    assert max(means) - min(means) > 30  # the factor is drawn, not fixed


def test_hue_and_saturation_leave_grey_pixels_alone():
    img = np.full((4, 4, 3), 77, np.uint8)
    for _ in range(10):
        out = jitter(saturation=0.5, hue=0.2)(dict(img=img.copy()))['img']
        assert np.abs(out.astype(int) - 77).max() <= 1


def test_hue_changes_coloured_pixels():
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 2] = 200  # red in BGR
    outs = [jitter(hue=0.2)(dict(img=img.copy()))['img'] for _ in range(10)]
    assert any(not np.array_equal(o, img) for o in outs)


def test_bad_ranges_are_named():
    with pytest.raises(ValueError, match='hue'):
        jitter(hue=0.7)
    with pytest.raises(ValueError, match='brightness'):
        jitter(brightness=-1)
