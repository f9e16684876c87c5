import json

import numpy as np
from PIL import Image

from mmuda.datasets.toy_domains import (
    CLASSES,
    SOURCE_STYLE,
    TARGET_STYLE,
    ToyDomainsSpec,
    generate_toy_domains,
    render_scene,
)


def test_layout_is_cityscapes_style(toy_root):
    for domain in ('source', 'target'):
        for split, n in (('train', 8), ('val', 4)):
            imgs = sorted((toy_root / domain / 'leftImg8bit' / split / 'toy').glob('*.png'))
            labels = sorted((toy_root / domain / 'gtFine' / split / 'toy').glob('*.png'))
            assert len(imgs) == len(labels) == n
            assert all(p.name.endswith('_leftImg8bit.png') for p in imgs)
            assert all(p.name.endswith('_gtFine_labelTrainIds.png') for p in labels)
        assert json.loads((toy_root / domain / 'meta.json').read_text())['height'] == 32


def test_generation_is_deterministic_and_idempotent(tmp_path, toy_root):
    spec = ToyDomainsSpec(height=32, width=64, num_train=8, num_val=4)
    generate_toy_domains(str(tmp_path), spec, progress=False)
    name = 'target/leftImg8bit/train/toy/toy_000003_000019_leftImg8bit.png'
    a, b = Image.open(tmp_path / name), Image.open(toy_root / name)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    stamp = (tmp_path / name).stat().st_mtime_ns
    generate_toy_domains(str(tmp_path), spec, progress=False)  # matching meta.json: no rewrite
    assert (tmp_path / name).stat().st_mtime_ns == stamp
    assert not list(tmp_path.rglob('.*.tmp'))


def test_domains_share_classes_but_not_appearance():
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    seen = set()
    for i in range(20):
        _, label = render_scene(np.random.default_rng(i), SOURCE_STYLE, 128, 256)
        seen |= set(np.unique(label).tolist())
    assert seen == set(range(len(CLASSES))) and len(CLASSES) >= 6
    img_s, lab_s = render_scene(rng(), SOURCE_STYLE, 128, 256)
    img_t, lab_t = render_scene(rng(), TARGET_STYLE, 128, 256)
    sky_s, sky_t = img_s[lab_s == 4].mean(0), img_t[lab_t == 4].mean(0)
    assert np.abs(sky_s - sky_t).max() > 40
