"""Class Center Distance (FADA eq. 9): known answers, streaming = all at once, report, CLI."""
import csv
import math

import pytest
import torch
from mmseg.registry import MODELS
from PIL import Image

from conftest import REPO, TOY_SOURCE_ONLY, load_script, toy_cfg
from mmuda.datasets.toy_domains import CLASSES as TOY_CLASSES
from mmuda.datasets.toy_domains import PALETTE as TOY_PALETTE
from mmuda.evaluation.class_center_distance import (
    CCDAccumulator,
    class_center_distance,
    class_stats,
    direct_class_center_distance,
    merge_stats,
    write_report,
)

# Three 2-D clusters placed by hand (class 3 never occurs):
#   class 0: (1, 0), (-1, 0)  -> centre (0, 0), mean squared distance to it 1
#   class 1: (4, 2), (4, -2)  -> centre (4, 0), intra 4
#   class 2: (1, 3), (-1, 3)  -> centre (0, 3), intra 1
# squared centre distances: |mu0-mu1|^2 = 16, |mu0-mu2|^2 = 9, |mu1-mu2|^2 = 25; K = 3 present.
POINTS = [((1, 0), 0), ((-1, 0), 0), ((4, 2), 1), ((4, -2), 1), ((1, 3), 2), ((-1, 3), 2)]
CCD = [(1 / 16 + 1 / 9) / 2, (4 / 16 + 4 / 25) / 2, (1 / 9 + 1 / 25) / 2, math.nan]


def feature_map(points, extra_ignored: bool = True):
    """(1, 2, 2, 4) features and (1, 4, 8) labels: each label block of 2x2 is one feature."""
    pts = list(points) + ([((100.0, -50.0), 255)] * 2 if extra_ignored else [])
    feats = torch.tensor([p for p, _ in pts], dtype=torch.float32).T.reshape(1, 2, 2, 4)
    labels = torch.tensor([c for _, c in pts]).reshape(1, 2, 4)
    return feats, labels.repeat_interleave(2, 1).repeat_interleave(2, 2)


def assert_close(actual, expected):
    assert torch.allclose(torch.as_tensor(actual, dtype=torch.float64),
                          torch.as_tensor(expected, dtype=torch.float64), equal_nan=True)


def test_hand_placed_clusters():
    x = torch.tensor([p for p, _ in POINTS], dtype=torch.float64)
    y = torch.tensor([c for _, c in POINTS])
    assert_close(direct_class_center_distance(x, y, 4), CCD)
    assert_close(class_center_distance(class_stats(x, y, 4)), CCD)


def test_accumulator_downsamples_labels_and_skips_ignore_index():
    feats, labels = feature_map(POINTS)
    acc = CCDAccumulator(4, domains=('source',))
    acc.update('source', feats, labels)
    assert_close(acc.summary()['ccd'], CCD)
    assert acc.summary()['count_source'].tolist() == [2, 2, 2, 0]


def test_joint_ccd_pools_domains_and_reports_centre_distance():
    """Target class 0 sits 2 above the source one: pooled intra(0) = 1/2 * ... computed by hand."""
    source = POINTS
    target = [((1, 2), 0), ((-1, 2), 0), ((4, 2), 1), ((4, -2), 1), ((1, 3), 2), ((-1, 3), 2)]
    acc = CCDAccumulator(4)
    for name, pts in (('source', source), ('target', target)):
        acc.update(name, *feature_map(pts))
    out = acc.summary()
    # pooled class 0: (+-1, 0), (+-1, 2) -> centre (0, 1), intra 1 + 1 = 2; class 1 and 2 as before
    # centres (0, 1), (4, 0), (0, 3): |.|^2 = 17, 4, 25
    expected = [(2 / 17 + 2 / 4) / 2, (4 / 17 + 4 / 25) / 2, (1 / 4 + 1 / 25) / 2, math.nan]
    assert_close(out['ccd'], expected)
    assert_close(out['ccd_source'], CCD)
    assert_close(out['centre_distance'], [2.0, 0.0, 0.0, math.nan])


def test_streaming_equals_all_at_once():
    g = torch.Generator().manual_seed(0)
    acc = CCDAccumulator(5)
    everything = {'source': ([], []), 'target': ([], [])}
    for step in range(6):
        domain = ('source', 'target')[step % 2]
        feats = torch.randn(2, 8, 5, 7, generator=g) + 1e4  # large offset: stability check
        labels = torch.randint(0, 4, (2, 5, 7), generator=g)
        labels[:, 0] = 255
        acc.update(domain, feats, labels)
        x = feats.permute(0, 2, 3, 1).reshape(-1, 8)
        everything[domain][0].append(x)
        everything[domain][1].append(labels.reshape(-1))
    out = acc.summary()
    xs = {d: torch.cat(v[0]).double() for d, v in everything.items()}
    ys = {d: torch.cat(v[1]) for d, v in everything.items()}
    for d in xs:
        assert_close(out[f'ccd_{d}'], direct_class_center_distance(xs[d], ys[d], 5))
    joint = direct_class_center_distance(torch.cat(list(xs.values())),
                                         torch.cat(list(ys.values())), 5)
    assert_close(out['ccd'], joint)
    assert math.isnan(out['ccd'][4])


def test_merge_of_empty_and_full_stats_is_the_full_stats():
    x, y = torch.randn(20, 3, dtype=torch.float64), torch.randint(0, 3, (20,))
    full = class_stats(x, y, 3)
    merged = merge_stats(class_stats(x[:0], y[:0], 3), full)
    assert_close(merged.mean, full.mean)
    assert_close(merged.m2, full.m2)


def test_report_files(tmp_path):
    acc = CCDAccumulator(4)
    acc.update('source', *feature_map(POINTS))
    acc.update('target', *feature_map(POINTS))
    paths = write_report(str(tmp_path / 'out'), acc.summary(), ['a', 'b', 'c', 'd'], ['# CCD'])
    with open(paths['csv']) as f:
        rows = list(csv.DictReader(f))
    assert [r['name'] for r in rows] == ['a', 'b', 'c', 'd', 'mean']
    assert float(rows[-1]['ccd']) == pytest.approx(sum(CCD[:3]) / 3, rel=1e-3)
    assert rows[3]['ccd'] == 'nan'
    assert paths['md'].read_text().startswith('# CCD')
    assert Image.open(paths['png']).format == 'PNG'
    assert not list((tmp_path / 'out').glob('.*.tmp'))


TOOL = REPO / 'tools/analysis_tools/class_center_distance.py'


def test_analysis_pipeline_drops_random_transforms_and_loads_labels():
    tool = load_script(TOOL)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='RandomFlip', prob=0.5),
                dict(type='Resize', scale=(8, 8)), dict(type='PackSegInputs')]
    assert [t['type'] for t in tool.analysis_pipeline(pipeline, True)] == \
        ['LoadImageFromFile', 'LoadAnnotations', 'Resize', 'PackSegInputs']
    assert [t['type'] for t in tool.analysis_pipeline(pipeline, False)] == \
        ['LoadImageFromFile', 'Resize', 'PackSegInputs']


@pytest.mark.parametrize('extra', [[], ['--feature-level', '0', '--target-labels', 'pred',
                                        '--target-split', 'val']])
def test_cli_end_to_end(tmp_path, toy_root, capsys, extra):
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path / 'work')
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'model.pth'
    meta = dict(dataset_meta=dict(classes=TOY_CLASSES, palette=TOY_PALETTE))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    out = tmp_path / 'ccd'
    load_script(TOOL).main([str(cfg_file), str(ckpt), '--num-images', '3', '--out', str(out),
                            *extra])
    assert {p.name for p in out.iterdir()} == {'ccd.csv', 'ccd.md', 'ccd.png'}
    with open(out / 'ccd.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(TOY_CLASSES) + 1
    assert [int(r['count_source']) > 0 for r in rows[:-1]].count(True) >= 2
    assert 'written:' in capsys.readouterr().out
