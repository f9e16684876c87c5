"""PseudoLabelGenerator end to end on the toy target set with a tiny model."""
import json
import os
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from fake_models import FakeAdversarialSegmentor  # noqa: F401  (registers the fake model)
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS, MODELS
from PIL import Image

from conftest import TOY_SOURCE_ONLY, toy_cfg
from mmuda.pseudo_labels import PseudoLabelGenerator, resolve_dataset_cfg
from mmuda.pseudo_labels.io import BackgroundWriter, atomic_write

NUM_IMAGES, H, W = 8, 32, 64
SUFFIX = '_gtFine_labelTrainIds.png'


@pytest.fixture
def cfg(toy_root, tmp_path):
    return toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path / 'work')


def build_model(cfg, adversarial: bool = False):
    torch.manual_seed(0)
    model_cfg = cfg.model.copy()
    if adversarial:
        model_cfg['type'] = 'FakeAdversarialSegmentor'
    return MODELS.build(model_cfg).eval()


@torch.no_grad()
def reference_outputs(model, dataset_cfg):
    """Per image: (img_path, probs (C, H, W), adversarial confidence or None), computed
    directly, in memory (fine for 8 toy images)."""
    dataset = DATASETS.build(dataset_cfg)
    out = []
    for i in range(len(dataset)):
        data = model.data_preprocessor(pseudo_collate([dataset[i]]), False)
        sample = model(data['inputs'], data['data_samples'], mode='predict')[0]
        probs = sample.seg_logits.data.softmax(0)
        adv = model.adversarial_confidence(data['inputs'])[0, 0] \
            if hasattr(model, 'adversarial_confidence') else None
        out.append((sample.img_path, probs, adv))
    return out


def label_file(out_dir: Path, img_path: str) -> Path:
    return out_dir / 'toy' / (Path(img_path).name.replace('_leftImg8bit.png', SUFFIX))


def read_label(path: Path) -> np.ndarray:
    image = Image.open(path)
    assert image.mode == 'L'
    return np.asarray(image)


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob('*') if p.name.startswith('.') or p.suffix == '.tmp']


def test_class_median_labels_match_exact_medians_and_load_as_a_dataset(cfg, toy_root,
                                                                         tmp_path):
    model = build_model(cfg)
    dataset_cfg = resolve_dataset_cfg(cfg)
    out = tmp_path / 'labels'
    summary = PseudoLabelGenerator(dataset_cfg, dict(type='class_median'), str(out),
                                   vis=2, progress=False).run(model)
    ref = reference_outputs(model, dataset_cfg)
    conf = torch.stack([p.max(0)[0] for _, p, _ in ref])
    pred = torch.stack([p.argmax(0) for _, p, _ in ref])
    saved = json.loads((out / 'pseudo_labels.json').read_text())
    assert saved == summary and saved['status'] == 'complete'
    assert saved['num_images'] == NUM_IMAGES
    assert saved['total_pixels'] == NUM_IMAGES * H * W
    thresholds = saved['thresholds']['class_thresholds']
    classes = list(thresholds)
    for c, name in enumerate(classes):
        values = conf[pred == c].numpy()
        if values.size == 0:
            assert thresholds[name] is None  # NaN -> null: no pixel, no threshold
            continue
        exact = min(float(np.quantile(values, 0.5, method='inverted_cdf')), 0.9)
        assert abs(thresholds[name] - exact) <= 1 / 4096, name
    thr = torch.tensor([np.nan if thresholds[n] is None else thresholds[n] for n in classes])
    expected = torch.where(conf >= thr[pred], pred, torch.full_like(pred, 255))
    kept = {n: int((expected == c).sum()) for c, n in enumerate(classes)}
    assert saved['kept_pixels'] == kept and saved['ignored_pixels'] == int((expected == 255).sum())
    for (img_path, _, _), exp in zip(ref, expected):
        assert np.array_equal(read_label(label_file(out, img_path)), exp.numpy())
    assert len(list((out / 'toy').glob(f'*{SUFFIX}'))) == NUM_IMAGES
    assert len(list((out / 'vis' / 'toy').glob('*.png'))) == 2
    assert no_temp_files(out)
    # a training dataset reads them back as its labels
    labelled = DATASETS.build(dict(
        type='ToyStreetDataset', data_root=str(toy_root / 'target'),
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path=str(out)),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]))
    for i in range(len(labelled)):
        item = labelled[i]
        gt = item['data_samples'].gt_sem_seg.data[0]
        assert torch.equal(gt, expected[[p for p, _, _ in ref].index(item['data_samples']
                                                                          .img_path)])


def test_adversarial_proxy_end_to_end_matches_eq5(cfg, tmp_path):
    model = build_model(cfg, adversarial=True)
    dataset_cfg = resolve_dataset_cfg(cfg)
    out = tmp_path / 'labels'
    policy = dict(type='adversarial_proxy', p1=0.6, p2=0.8, bins=1000)
    summary = PseudoLabelGenerator(dataset_cfg, policy, str(out), vis=1,
                                   progress=False).run(model)
    ref = reference_outputs(model, dataset_cfg)
    probs = torch.stack([p for _, p, _ in ref])
    adv = torch.stack([a for _, _, a in ref])
    t1 = summary['thresholds']['t1']
    exact_t1 = float(np.quantile(adv.numpy(), 0.4, method='inverted_cdf'))
    assert abs(t1 - exact_t1) <= 1e-3
    assert 0.55 <= float((adv > t1).float().mean()) <= 0.65  # p1 of the pixels survive
    conf, pred = probs.max(1)
    names = list(summary['thresholds']['t2'])
    t2 = torch.tensor([np.nan if summary['thresholds']['t2'][n] is None
                       else summary['thresholds']['t2'][n] for n in names])
    for c in range(len(names)):
        values = conf[(pred == c) & (adv > t1)].numpy()
        if values.size:
            exact = float(np.quantile(values, 0.2, method='inverted_cdf'))
            assert abs(float(t2[c]) - exact) <= 1e-3
        else:
            assert torch.isnan(t2[c])
    # eq. 5 with the recorded thresholds, written independently of the policy's code
    ratio = probs / torch.nan_to_num(t2, nan=float('inf')).view(1, -1, 1, 1).float()
    label = ratio.argmax(1)
    chosen = probs.gather(1, label[:, None])[:, 0]
    keep = (chosen > t2.float()[label]) & (adv > t1)
    expected = torch.where(keep, label, torch.full_like(label, 255))
    for (img_path, _, _), exp in zip(ref, expected):
        assert np.array_equal(read_label(label_file(out, img_path)), exp.numpy())
    vis = Image.open(next((out / 'vis').rglob('*.png')))
    assert vis.size == (4 * W, H)  # image | confidence | adversarial confidence | labels


def test_adversarial_proxy_needs_a_model_with_adversarial_confidence(cfg, tmp_path):
    generator = PseudoLabelGenerator(resolve_dataset_cfg(cfg), dict(type='adversarial_proxy'),
                                     str(tmp_path / 'labels'), progress=False)
    with pytest.raises(TypeError, match='UDASegmentor has no such method'):
        generator.run(build_model(cfg))


def test_each_rank_labels_its_own_shard(cfg, tmp_path):
    """DefaultSampler(shuffle=False, round_up=False) as rank 1 of 2: the odd indices only."""
    out = tmp_path / 'labels'
    with mock.patch('mmengine.dataset.sampler.get_dist_info', return_value=(1, 2)):
        generator = PseudoLabelGenerator(resolve_dataset_cfg(cfg), dict(type='argmax'),
                                         str(out), progress=False)
        generator.run(build_model(cfg))
    names = sorted(generator.dataset[i]['data_samples'].img_path for i in range(NUM_IMAGES))
    written = sorted(p.name for p in (out / 'toy').iterdir())
    assert written == sorted(label_file(out, n).name for n in names[1::2])


def test_model_is_given_back_in_training_mode(cfg, tmp_path):
    model = build_model(cfg).train()
    PseudoLabelGenerator(resolve_dataset_cfg(cfg), dict(type='argmax', threshold=0.3),
                         str(tmp_path / 'labels'), progress=False).run(model)
    assert model.training


def test_resolve_dataset_cfg_defaults_keys_and_errors(cfg):
    target = resolve_dataset_cfg(cfg)
    assert target['data_root'].endswith('target')
    assert [t['type'] for t in target['pipeline']] == ['LoadImageFromFile', 'PackSegInputs']
    val = resolve_dataset_cfg(cfg, 'val_dataloader.dataset')
    assert val['data_prefix']['img_path'] == 'leftImg8bit/val'
    with pytest.raises(KeyError, match="'train_dataloader.datset'.*no 'datset'"):
        resolve_dataset_cfg(cfg, 'train_dataloader.datset')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    with pytest.raises(ValueError, match='TestTimeAug'):
        resolve_dataset_cfg(cfg)


def test_pseudo_label_pipeline_takes_precedence_over_the_test_pipeline(cfg):
    """A config evaluated at another size than its model adapted at (the multi-adversarial
    stages: evaluation 2048x1024, adaptation 1024x512) labels with `pseudo_label_pipeline`."""
    labelling = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 32)),
                 dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
    cfg.pseudo_label_pipeline = labelling
    target = resolve_dataset_cfg(cfg)
    assert [t['type'] for t in target['pipeline']] == ['LoadImageFromFile', 'Resize',
                                                       'PackSegInputs']
    assert target['pipeline'][1]['scale'] == (64, 32)
    given = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    assert resolve_dataset_cfg(cfg, pipeline=given)['pipeline'] == given


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / 'a' / 'label.png'
    atomic_write(str(path), lambda f: f.write(b'old'))

    def failing(f):
        f.write(b'partial')
        raise OSError('disk full')

    with pytest.raises(OSError, match='disk full'):
        atomic_write(str(path), failing)
    assert path.read_bytes() == b'old'
    assert os.listdir(path.parent) == ['label.png']


def test_background_writer_waits_for_every_write_and_raises_errors(tmp_path):
    def failing(path):
        atomic_write(path, lambda f: (_ for _ in ()).throw(OSError('no space')))

    writer = BackgroundWriter(max_pending=2)
    for i in range(5):
        writer.submit(atomic_write, str(tmp_path / f'{i}.bin'), lambda f: f.write(b'x'))
    writer.submit(failing, str(tmp_path / 'bad.bin'))
    with pytest.raises(OSError, match='no space'):
        writer.close()
    assert sorted(os.listdir(tmp_path)) == [f'{i}.bin' for i in range(5)]


def test_an_empty_dataset_is_an_error(cfg, tmp_path):
    (tmp_path / 'empty' / 'leftImg8bit' / 'train').mkdir(parents=True)
    dataset = resolve_dataset_cfg(cfg)
    dataset['data_root'] = str(tmp_path / 'empty')
    with pytest.raises(ValueError, match="dataset ToyStreetDataset with images in .*empty/leftI"):
        PseudoLabelGenerator(dataset, dict(type='argmax'), str(tmp_path / 'out'))


def test_labels_are_at_full_resolution_with_resize_and_slide_inference(cfg, tmp_path):
    """A test pipeline that resizes 2x and sliding-window inference: labels (and the
    adversarial confidence) come back at the original 32x64."""
    cfg.model.segmentor.test_cfg = dict(mode='slide', crop_size=(32, 32), stride=(24, 24))
    model = build_model(cfg, adversarial=True)
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=(128, 64), keep_ratio=False),
                dict(type='PackSegInputs')]
    dataset_cfg = resolve_dataset_cfg(cfg, pipeline=pipeline)
    out = tmp_path / 'labels'
    summary = PseudoLabelGenerator(dataset_cfg, dict(type='adversarial_proxy', p1=0.5),
                                   str(out), vis=1, progress=False).run(model)
    assert summary['total_pixels'] == NUM_IMAGES * H * W
    labels = [read_label(p) for p in (out / 'toy').glob('*.png')]
    assert len(labels) == NUM_IMAGES and all(lab.shape == (H, W) for lab in labels)
    kept = np.mean([(lab != 255).mean() for lab in labels])
    assert 0.5 * 0.8 - 0.1 < kept < 0.5 * 0.8 + 0.1  # about p1 * p2 of the pixels
