"""The pieces of tools/demo.py that `make demo` relies on (the full demo is `make demo`)."""
import sys

import numpy as np
from PIL import Image

from conftest import REPO

sys.path.insert(0, str(REPO / 'tools'))
import demo  # noqa: E402


def test_confusion_ignores_255_and_counts_rows_as_ground_truth():
    gt = np.array([[0, 1, 255], [2, 2, 1]])
    pred = np.array([[0, 2, 0], [2, 1, 1]])
    hist = demo.confusion(pred, gt, 3)
    assert hist.sum() == 5
    assert hist[1, 2] == 1 and hist[2, 1] == 1 and hist[0, 0] == 1 and hist[1, 1] == 1


def test_demo_configs_exist_and_share_schedule():
    from mmengine.config import Config
    cfgs = {k: Config.fromfile(str(REPO / v)) for k, v in demo.RUNS.items()}
    assert cfgs['source-only'].model.type == 'UDASegmentor'
    assert cfgs['AdaptSegNet'].model.type == 'AdaptSegNet'
    assert cfgs['source-only'].train_cfg == cfgs['AdaptSegNet'].train_cfg
    assert cfgs['source-only'].train_dataloader == cfgs['AdaptSegNet'].train_dataloader


def test_save_grid_writes_a_png(tmp_path, toy_root):
    images = sorted((toy_root / 'target/leftImg8bit/val').rglob('*.png'))[:2]
    gts = [np.zeros((32, 64), np.uint8)] * 2
    preds = {'a': [np.ones((32, 64), np.uint8)] * 2, 'b': [np.ones((32, 64), np.uint8)] * 2}
    palette = np.zeros((256, 3), np.uint8)
    demo.save_grid(tmp_path / 'grid.png', images, gts, preds, palette)
    assert Image.open(tmp_path / 'grid.png').size == (64 * 4, 32 * 2)
    assert not list(tmp_path.glob('.*.tmp'))
