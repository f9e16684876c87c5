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


def test_each_seed_trains_and_reports_in_its_own_work_dir(tmp_path, toy_root, monkeypatch):
    """`--seed 1` after a seed-0 demo used to find seed 0's checkpoints in the shared work dir,
    skip training and label seed 0's numbers "seed 1" in results.json."""
    import json

    from mmuda.datasets import toy_domains
    trained = []

    def fake_train(config, work_dir, seed, data_root, iters):
        trained.append((work_dir, seed))
        return work_dir / 'iter_600.pth'

    def fake_evaluate(config, ckpt, data_root):
        images = sorted((toy_root / 'target/leftImg8bit/val').rglob('*.png'))
        preds = [demo.load_label(p) for p in images]
        seed = int(ckpt.parent.parent.name[len('seed'):])
        return np.full(7, 10.0 * (seed + 1)), preds, images, tuple(f'c{i}' for i in range(7))

    monkeypatch.setattr(toy_domains, 'generate_toy_domains', lambda root: None)
    monkeypatch.setattr(demo, 'train', fake_train)
    monkeypatch.setattr(demo, 'evaluate', fake_evaluate)
    for seed in (0, 1):
        monkeypatch.setattr(sys, 'argv', ['demo.py', '--work-dir', str(tmp_path), '--seed',
                                          str(seed), '--data-root', str(toy_root)])
        demo.main()
    assert trained == [(tmp_path / f'seed{s}' / name, s) for s in (0, 1) for name in demo.RUNS]
    for seed in (0, 1):
        results = json.loads((tmp_path / f'seed{seed}' / 'results.json').read_text())
        assert results['seed'] == seed and results['AdaptSegNet']['mIoU'] == 10.0 * (seed + 1)
        assert (tmp_path / f'seed{seed}' / 'demo_grid.png').is_file()
    assert not list(tmp_path.rglob('*.tmp'))
