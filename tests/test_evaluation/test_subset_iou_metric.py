"""SubsetIoUMetric: 19/16/13-class mIoU from one confusion matrix, checked against hand numbers."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from mmseg.datasets import CityscapesDataset
from mmseg.registry import METRICS

from conftest import TOY_SOURCE_ONLY, toy_cfg
from mmuda.datasets.toy_domains import CLASSES as TOY_CLASSES
from mmuda.evaluation import CITYSCAPES_13, CITYSCAPES_16, confusion_matrix

CITYSCAPES = CityscapesDataset.METAINFO['classes']

# (ground truth, prediction) -> pixels. Rows of the matrix are ground truth.
PAIRS = {
    (0, 0): 8, (0, 1): 2,     # road: 2 pixels called sidewalk
    (1, 1): 3, (1, 0): 1,     # sidewalk: 1 called road
    (2, 2): 5,                # building
    (3, 3): 1, (3, 2): 1,     # wall: 1 called building
    (9, 9): 2,                # terrain (in neither the 16 nor the 13 subset)
    (13, 13): 4, (13, 14): 4,  # car: half called truck (truck never in the ground truth)
}
# Per-class IoU = diag / (row + column - diag), worked out by hand:
#   road 8/(10+9-8) = 8/11, sidewalk 3/(4+5-3) = 1/2, building 5/(5+6-5) = 5/6,
#   wall 1/(2+1-1) = 1/2, terrain 2/2 = 1, car 4/(8+4-4) = 1/2, truck 0/(0+4-0) = 0,
#   the 12 other classes 0/0 = NaN (never in the ground truth, never predicted): left out.
IOU = {0: 8 / 11, 1: 1 / 2, 2: 5 / 6, 3: 1 / 2, 9: 1.0, 13: 1 / 2, 14: 0.0}
MIOU19 = 100 * (8 / 11 + 1 / 2 + 5 / 6 + 1 / 2 + 1 + 1 / 2 + 0) / 7   # 58.01
MIOU16 = 100 * (8 / 11 + 1 / 2 + 5 / 6 + 1 / 2 + 1 / 2) / 5           # 61.21: no terrain/truck
MIOU13 = 100 * (8 / 11 + 1 / 2 + 5 / 6 + 1 / 2) / 4                   # 64.02: no wall either
AACC = 100 * 23 / 31
MACC19 = 100 * (8 / 10 + 3 / 4 + 5 / 5 + 1 / 2 + 2 / 2 + 4 / 8) / 6  # truck: 0/0 left out


def hand_matrix() -> torch.Tensor:
    conf = torch.zeros(19, 19, dtype=torch.int64)
    for (gt, pred), n in PAIRS.items():
        conf[gt, pred] = n
    return conf


def samples_from_pairs(num_images: int = 2, ignored: int = 5) -> list:
    """Data samples whose pixels realise PAIRS, split over images, plus ignored pixels."""
    gt = [g for (g, _), n in PAIRS.items() for _ in range(n)] + [255] * ignored
    pred = [p for (_, p), n in PAIRS.items() for _ in range(n)] + [7] * ignored
    out = []
    for g, p in zip(np.array_split(gt, num_images), np.array_split(pred, num_images)):
        out.append(dict(gt_sem_seg=dict(data=torch.as_tensor(g)[None, None]),
                        pred_sem_seg=dict(data=torch.as_tensor(p)[None, None])))
    return out


def build(classes=CITYSCAPES, **kwargs):
    metric = METRICS.build(dict(type='SubsetIoUMetric', **kwargs))
    metric.dataset_meta = dict(classes=classes)
    return metric


def test_subsets_match_the_paper_lists():
    assert CITYSCAPES_13 == (0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18)
    assert CITYSCAPES_16 == tuple(sorted(CITYSCAPES_13 + (3, 4, 5)))
    assert [CITYSCAPES[i] for i in set(CITYSCAPES_16) - set(CITYSCAPES_13)] == \
        ['wall', 'fence', 'pole']


def test_confusion_matrix_rows_are_ground_truth_and_ignore_is_skipped():
    conf = sum(confusion_matrix(s['pred_sem_seg']['data'], s['gt_sem_seg']['data'], 19)
               for s in samples_from_pairs())
    assert torch.equal(conf, hand_matrix())


def test_confusion_matrix_refuses_out_of_range_prediction():
    with pytest.raises(ValueError, match='outside'):
        confusion_matrix(torch.tensor([19]), torch.tensor([0]), 19)


def test_hand_computed_19_16_13_from_one_matrix():
    metric = build()
    res = metric.compute_metrics([hand_matrix()])
    assert res['mIoU19'] == pytest.approx(MIOU19, abs=0.005)
    assert res['mIoU16'] == pytest.approx(MIOU16, abs=0.005)
    assert res['mIoU13'] == pytest.approx(MIOU13, abs=0.005)
    assert res['mIoU'] == res['mIoU19']  # the default primary of a 19-class dataset
    assert res['aAcc'] == pytest.approx(AACC, abs=0.005)
    assert res['mAcc'] == pytest.approx(MACC19, abs=0.005)
    # the classic error: rescaling the 19-class mean is not the 16-class mean
    assert res['mIoU16'] != pytest.approx(res['mIoU19'] * 19 / 16, abs=0.5)


def test_per_class_iou_is_nan_for_absent_classes():
    per_class = build()._per_class_metrics(hand_matrix())['IoU']
    for c in range(19):
        if c in IOU:
            assert per_class[c] == pytest.approx(IOU[c])
        else:
            assert np.isnan(per_class[c])


def test_evaluator_api_synthia_preset():
    metric = build(subsets='synthia')
    metric.process({}, samples_from_pairs(num_images=3))
    res = metric.evaluate(3)
    assert res['mIoU'] == pytest.approx(MIOU13, abs=0.005)  # SYNTHIA's headline: 13 classes
    assert {k: round(res[k], 2) for k in ('mIoU19', 'mIoU16', 'mIoU13')} == \
        {'mIoU19': round(MIOU19, 2), 'mIoU16': round(MIOU16, 2), 'mIoU13': round(MIOU13, 2)}


def test_mmengine_evaluator_and_stock_iou_metric_agree_on_19_classes():
    samples = samples_from_pairs()
    ours = Evaluator(dict(type='SubsetIoUMetric', subsets='cross_city'))
    stock = Evaluator(dict(type='IoUMetric'))
    for ev in (ours, stock):
        ev.dataset_meta = dict(classes=CITYSCAPES)
        ev.process(data_samples=samples, data_batch={})
    ours, stock = ours.evaluate(2), stock.evaluate(2)
    assert ours['mIoU19'] == stock['mIoU'] and ours['aAcc'] == stock['aAcc']
    assert ours['mIoU'] == ours['mIoU13'] == pytest.approx(MIOU13, abs=0.005)


def test_custom_subsets_by_id_and_name_and_primary():
    metric = build(subsets=dict(mIoU16=list(CITYSCAPES_16), flat=['road', 'sidewalk']),
                   primary='flat')
    res = metric.compute_metrics([hand_matrix()])
    assert res['mIoU'] == res['flat'] == pytest.approx(100 * (8 / 11 + 1 / 2) / 2, abs=0.005)
    assert res['mIoU16'] == pytest.approx(MIOU16, abs=0.005)
    assert 'mIoU13' not in res and 'mIoU19' in res


def test_toy_dataset_defaults_to_all_classes():
    metric = build(classes=TOY_CLASSES)
    gt = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 6]])
    pred = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 0]])
    metric.process({}, [dict(gt_sem_seg=dict(data=gt[None]), pred_sem_seg=dict(data=pred[None]))])
    res = metric.evaluate(1)
    assert set(res) == {'aAcc', 'mIoU', 'mAcc', 'mIoU7'}
    # road 1/2 (one person pixel called road), person 1/2, the five others 1
    assert res['mIoU'] == res['mIoU7'] == pytest.approx(100 * (5 + 1 / 2 + 1 / 2) / 7, abs=0.005)


def test_subset_id_out_of_range_names_the_config_key():
    metric = METRICS.build(dict(type='SubsetIoUMetric', subsets=dict(mIoU13=[0, 1, 19])))
    with pytest.raises(ValueError, match=r"subsets\['mIoU13'\].*19.*\[0, 19\)"):
        metric.dataset_meta = dict(classes=CITYSCAPES)
    metric = METRICS.build(dict(type='SubsetIoUMetric', subsets=dict(mine=[6, 7])))
    with pytest.raises(ValueError, match=r"subsets\['mine'\].*7 classes"):
        metric.dataset_meta = dict(classes=TOY_CLASSES)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(subsets='synthai'), KeyError, 'not a preset'),
    (dict(subsets=dict(mIoU=[0])), ValueError, 'not allowed'),
    (dict(subsets=dict(a=[])), ValueError, 'non-empty'),
    (dict(subsets=dict(a=[0, 0])), ValueError, 'twice'),
    (dict(subsets=dict(a=['roads'])), ValueError, "names class 'roads'"),
    (dict(subsets='synthia', primary='mIoU15'), KeyError, 'primary'),
])
def test_config_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        build(**kwargs)


def test_preset_on_a_non_cityscapes_dataset_is_an_error():
    with pytest.raises(ValueError, match="subsets='synthia'.*7 classes"):
        build(classes=TOY_CLASSES, subsets='synthia')


def test_runner_val_on_the_toy_config(tmp_path, toy_root):
    """The metric as a config selects it: registry, scope and dataset_meta through mmengine."""
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path)
    cfg.val_evaluator = dict(type='SubsetIoUMetric')
    res = Runner.from_cfg(cfg).val()
    assert {'aAcc', 'mIoU', 'mAcc', 'mIoU7'} <= set(res) and res['mIoU'] == res['mIoU7']
