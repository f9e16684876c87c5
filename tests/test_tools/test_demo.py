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


def test_demo_runs_differ_only_in_the_jitter_and_the_adaptation():
    """Each comparison of the demo changes one thing: the source ColorJitter (the recipes'
    FADA jitter) or the adaptation; model, schedule and data are otherwise shared."""
    from mmengine.config import Config
    cfgs = {k: Config.fromfile(str(REPO / v)) for k, (_, v) in demo.RUNS.items()}
    fada = Config.fromfile(str(REPO / 'configs/_base_/uda/fada.py'))
    for name in ('source-only', 'source-only-jitter'):
        assert cfgs[name].model.type == 'UDASegmentor'
    for name in ('adaptsegnet', 'adaptsegnet-jitter'):
        assert cfgs[name].model.type == 'AdaptSegNet'
    assert cfgs['adaptsegnet'].model == cfgs['adaptsegnet-jitter'].model
    for cfg in cfgs.values():
        assert cfg.train_cfg == cfgs['source-only'].train_cfg
        assert cfg.model.segmentor == cfgs['source-only'].model.segmentor
    plain = cfgs['source-only'].train_dataloader
    jitter = cfgs['source-only-jitter'].train_dataloader
    assert cfgs['adaptsegnet'].train_dataloader == plain
    assert cfgs['adaptsegnet-jitter'].train_dataloader == jitter
    pipeline = list(plain.dataset.source.pipeline)
    pipeline.insert(3, fada.fada_source_jitter)  # after CheckSegLabels
    assert jitter.dataset.source.pipeline == pipeline
    jitter.dataset.source.pipeline = plain.dataset.source.pipeline
    assert jitter == plain


def test_closing_line_states_the_gain_over_the_augmented_baseline_whatever_its_sign():
    def results(adapted, base, plain=10.0):
        return {'AdaptSegNet + jitter': {'mIoU': adapted},
                'source-only + jitter': {'mIoU': base}, 'source-only': {'mIoU': plain}}
    line = demo.closing_line(results(57.5, 55.0), 0, 300)
    assert 'adaptation added 2.50 mIoU' in line and '(+45.00)' in line
    assert 'adaptation lost 1.25 mIoU' in demo.closing_line(results(53.75, 55.0), 1, 300)
    assert 'did not add anything' in demo.closing_line(results(55.0, 55.0), 0, 300)


def test_save_grid_writes_a_png(tmp_path, toy_root):
    images = sorted((toy_root / 'target/leftImg8bit/val').rglob('*.png'))[:2]
    gts = [np.zeros((32, 64), np.uint8)] * 2
    preds = {'a': [np.ones((32, 64), np.uint8)] * 2, 'b': [np.ones((32, 64), np.uint8)] * 2}
    palette = np.zeros((256, 3), np.uint8)
    demo.save_grid(tmp_path / 'grid.png', images, gts, preds, palette)
    assert Image.open(tmp_path / 'grid.png').size == (64 * 4, 32 * 2)  # image, gt, a, b
    assert not list(tmp_path.glob('.*.tmp'))


def test_each_seed_trains_and_reports_in_its_own_work_dir(tmp_path, toy_root, monkeypatch,
                                                          capsys):
    """`--seed 1` after a seed-0 demo used to find seed 0's checkpoints in the shared work dir,
    skip training and label seed 0's numbers "seed 1" in results.json."""
    import json

    from mmuda.datasets import toy_domains
    trained = []

    def fake_train(config, work_dir, seed, data_root, iters):
        trained.append((work_dir, seed))
        return work_dir / f'iter_{iters}.pth'

    def fake_evaluate(config, ckpt, data_root):
        images = sorted((toy_root / 'target/leftImg8bit/val').rglob('*.png'))
        preds = [demo.load_label(p) for p in images]
        seed = int(ckpt.parent.parent.name[len('seed'):].split('-')[0])
        gain = 2.0 if 'adaptsegnet' in config else 0.0
        return (np.full(7, 10.0 * (seed + 1) + gain), preds, images,
                tuple(f'c{i}' for i in range(7)))

    monkeypatch.setattr(toy_domains, 'generate_toy_domains', lambda root: None)
    monkeypatch.setattr(demo, 'train', fake_train)
    monkeypatch.setattr(demo, 'evaluate', fake_evaluate)
    for seed in (0, 1):
        monkeypatch.setattr(sys, 'argv', ['demo.py', '--work-dir', str(tmp_path), '--seed',
                                          str(seed), '--data-root', str(toy_root)])
        demo.main()
    out = capsys.readouterr().out
    assert out.count('adaptation added 2.00 mIoU') == 2
    runs = [tmp_path / f'seed{s}-{demo.DEFAULT_ITERS}it' for s in (0, 1)]
    assert trained == [(runs[s] / name, s) for s in (0, 1) for name in demo.RUNS]
    for seed in (0, 1):
        results = json.loads((runs[seed] / 'results.json').read_text())
        assert results['seed'] == seed and results['iters'] == demo.DEFAULT_ITERS
        assert results['AdaptSegNet + jitter']['mIoU'] == 10.0 * (seed + 1) + 2
        assert (runs[seed] / 'demo_grid.png').is_file()
    assert not list(tmp_path.rglob('*.tmp'))
