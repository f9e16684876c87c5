"""The three pseudo-label policies on hand-made inputs whose labels are computed by hand."""
import pytest
import torch

from mmuda.pseudo_labels import (
    PSEUDO_LABELERS,
    AdversarialProxyPseudoLabeler,
    ArgmaxPseudoLabeler,
    ClassMedianPseudoLabeler,
    build_pseudo_labeler,
)

IGN = 255


def as_probs(rows, h: int, w: int) -> torch.Tensor:
    """(H*W, C) per-pixel probabilities, row-major -> (1, C, H, W)."""
    return torch.tensor(rows).t().reshape(1, -1, h, w)


def run_passes(labeler, probs, adv=None):
    labeler.reset()
    for _ in range(labeler.num_stat_passes):
        labeler.collect(probs, adv)
        labeler.end_pass()
    return labeler.label(probs, adv)


def test_argmax_keeps_everything_or_applies_a_fixed_threshold():
    probs = as_probs([[.6, .4], [.2, .8], [.95, .05], [.45, .55]], 2, 2)
    assert ArgmaxPseudoLabeler(2).num_stat_passes == 0
    assert run_passes(ArgmaxPseudoLabeler(2), probs).tolist() == [[[0, 1], [0, 1]]]
    assert run_passes(ArgmaxPseudoLabeler(2, threshold=0.7), probs).tolist() == \
        [[[IGN, 1], [0, IGN]]]


def test_class_median_thresholds_by_hand():
    # class 0 predicted with confidences .55 .65 .75 .95 -> median .7 (histogram, 10 bins:
    #   2 of 4 values below the upper edge of bin [.6, .7)); class 1 with .96 .98 -> median
    #   .95 (both in bin [.9, 1), half-way) exceeds the cap .9; class 2 never predicted -> NaN
    rows = [[.55, .45, 0], [.65, .35, 0], [.75, .25, 0], [.95, .05, 0],
            [.02, .96, .02], [.01, .98, .01]]
    probs = as_probs(rows, 2, 3)
    labeler = ClassMedianPseudoLabeler(3, cap=0.9, bins=10)
    labels = run_passes(labeler, probs)
    thr = labeler.class_thresholds
    assert thr[:2].tolist() == pytest.approx([0.7, 0.9])
    assert labeler.medians[1].item() == pytest.approx(0.95)
    assert torch.isnan(thr[2])
    # kept: confidence >= threshold of the predicted class
    assert labels.tolist() == [[[IGN, IGN, 0], [0, 1, 1]]]


def test_class_median_cap_is_configurable():
    probs = as_probs([[.02, .96, .02], [.01, .98, .01], [.8, .1, .1], [.9, .05, .05]], 2, 2)
    default = ClassMedianPseudoLabeler(3, bins=100)
    # class 0: .8 and .9 -> median .81 (upper edge of .8's bin), class 1: .96 .98 -> .96
    assert run_passes(default, probs).tolist() == [[[1, 1], [IGN, 0]]]
    assert default.class_thresholds[:2].tolist() == pytest.approx([0.81, 0.9])
    low_cap = ClassMedianPseudoLabeler(3, cap=0.5, bins=100)
    assert run_passes(low_cap, probs).tolist() == [[[1, 1], [0, 0]]]
    assert low_cap.class_thresholds[:2].tolist() == pytest.approx([0.5, 0.5])


# Paper 004 eq. 5 on 10 pixels (2 x 5), 3 classes, 10 bins, p1 = 0.6, p2 = 0.5.
# A = .05, .15, ..., .95: t1 = 0.4-quantile = 0.4, so pixels 4..9 (A > t1) remain.
# Their predictions: class 0 with P .52 (pixel 4) and .95 (pixel 5) -> t2_0 = 0.6;
# class 1 with .85, .65 -> t2_1 = 0.7; class 2 with .35, .45 -> t2_2 = 0.4.
# Pixels 0 and 3 are confident class-0 pixels with A <= t1: they must not move t2_0 (with
# them class 0's 0.5-quantile would be 0.93).
EQ5_PROBS = [[.97, .02, .01], [.15, .75, .10], [.05, .05, .90], [.93, .05, .02],
             [.52, .03, .45], [.95, .03, .02], [.10, .85, .05], [.25, .65, .10],
             [.33, .32, .35], [.30, .25, .45]]
# Reweighted P / t2 and eq. 5 by hand:
#  4: (.87, .04, 1.125) -> 2 and .45 > .4 -> 2  (argmax P is 0: class balance flips it)
#  5: (1.58, .04, .05)  -> 0 and .95 > .6 -> 0
#  6: (.17, 1.21, .13)  -> 1 and .85 > .7 -> 1
#  7: (.42, .93, .25)   -> 1 but .65 <= .7 -> ignored
#  8: (.55, .46, .875)  -> 2 but .35 <= .4 -> ignored
#  9: (.50, .36, 1.125) -> 2 and .45 > .4 -> 2
#  0-3: A <= t1 -> ignored, however confident
EQ5_EXPECTED = [[[IGN, IGN, IGN, IGN, 2], [0, 1, IGN, IGN, 2]]]


def eq5_inputs():
    probs = as_probs(EQ5_PROBS, 2, 5)
    adv = torch.tensor([0.05 + 0.1 * j for j in range(10)]).reshape(1, 1, 2, 5)
    return probs, adv


def test_adversarial_proxy_eq5_by_hand():
    probs, adv = eq5_inputs()
    labeler = AdversarialProxyPseudoLabeler(3, p1=0.6, p2=0.5, bins=10)
    assert labeler.num_stat_passes == 2 and labeler.needs_adversarial_confidence
    labels = run_passes(labeler, probs, adv)
    assert labeler.t1 == pytest.approx(0.4)
    assert labeler.t2.tolist() == pytest.approx([0.6, 0.7, 0.4])
    assert labels.tolist() == EQ5_EXPECTED
    assert labeler.class_hist.totals().tolist() == [2, 2, 2]  # only pixels with A > t1


def test_adversarial_proxy_accepts_n_h_w_confidence_and_other_batch_splits():
    probs, adv = eq5_inputs()
    labeler = AdversarialProxyPseudoLabeler(3, p1=0.6, p2=0.5, bins=10)
    halves = [(probs[..., :1, :], adv[:, 0, :1]), (probs[..., 1:, :], adv[:, 0, 1:])]
    for _ in range(2):  # two images per pass: statistics are dataset-wide
        for p, a in halves:
            labeler.collect(p, a)
        labeler.end_pass()
    labels = torch.cat([labeler.label(p, a) for p, a in halves], dim=1)
    assert labels.tolist() == EQ5_EXPECTED


def test_adversarial_proxy_with_p1_one_ignores_the_adversarial_confidence():
    probs, _ = eq5_inputs()
    labeler = AdversarialProxyPseudoLabeler(3, p1=1.0, p2=0.4, bins=10)
    assert labeler.num_stat_passes == 1 and not labeler.needs_adversarial_confidence
    labels = run_passes(labeler, probs)
    # every pixel counts now; 0.6-quantiles: class 0 sees .52 .93 .95 .97 (bins 5, 9, 9, 9:
    # 2.4 of 4 -> bin 9 at (2.4 - 1) / 3), class 1 .65 .75 .85 (1.8 of 3 -> bin 7 at .8),
    # class 2 .35 .45 .90 (bin 4 at .8)
    assert labeler.t2.tolist() == pytest.approx([0.9 + 0.14 / 3, 0.78, 0.48])
    assert labeler.t1 == float('-inf')
    # ratios P / t2 by hand: pixel 0 -> 0 (.97 > .947), 2 -> 2 (.9 > .48), 5 -> 0, 6 -> 1;
    # 1 (.75 <= .78), 3 (.93 <= .947), 4 (2 wins, .45 <= .48), 7, 8, 9 fall below
    assert labels.tolist() == [[[0, IGN, 2, IGN, IGN], [0, 1, IGN, IGN, IGN]]]


def test_adversarial_proxy_class_without_statistics_is_never_assigned():
    labeler = AdversarialProxyPseudoLabeler(3, p1=0.5, p2=1.0, bins=10)
    probs = as_probs([[.9, .05, .05], [.8, .1, .1], [.6, .3, .1], [.7, .2, .1]], 2, 2)
    adv = torch.tensor([[[[.1, .9], [.2, .8]]]])  # t1 = 0.3: pixels 1 and 3, both class 0
    labels = run_passes(labeler, probs, adv)
    assert labeler.t2[0].item() == pytest.approx(0.6)  # p2 = 1: lower edge of .7's bin
    assert torch.isnan(labeler.t2[1:]).all()
    assert labels.tolist() == [[[IGN, 0], [IGN, 0]]]


def test_state_dict_restores_thresholds_exactly():
    probs, adv = eq5_inputs()
    labeler = AdversarialProxyPseudoLabeler(3, p1=0.6, p2=0.5, bins=10)
    run_passes(labeler, probs, adv)
    restored = AdversarialProxyPseudoLabeler(3, p1=0.6, p2=0.5, bins=10)
    restored.load_state_dict(labeler.state_dict())
    assert restored.ready and restored.t1 == labeler.t1
    assert restored.label(probs, adv).tolist() == EQ5_EXPECTED
    with pytest.raises(ValueError, match='this policy is AdversarialProxyPseudoLabeler'):
        AdversarialProxyPseudoLabeler(3, p1=0.5, p2=0.5, bins=10).load_state_dict(
            labeler.state_dict())


def test_misuse_and_bad_options_are_errors():
    probs, adv = eq5_inputs()
    labeler = AdversarialProxyPseudoLabeler(3, bins=10)
    with pytest.raises(RuntimeError, match='before its statistics passes'):
        labeler.label(probs, adv)
    with pytest.raises(ValueError, match='needs the adversarial confidence'):
        labeler.collect(probs)
    with pytest.raises(ValueError, match=r'shape \(N, 3, H, W\), got \(1, 2, 2, 5\)'):
        labeler.collect(probs[:, :2], adv)
    with pytest.raises(ValueError, match='p1 must lie in'):
        AdversarialProxyPseudoLabeler(3, p1=0.0)
    with pytest.raises(ValueError, match='cap must lie in'):
        ClassMedianPseudoLabeler(3, cap=1.5)
    with pytest.raises(ValueError, match='threshold must lie in'):
        ArgmaxPseudoLabeler(3, threshold=2)
    with pytest.raises(ValueError, match='num_classes must lie in'):
        ArgmaxPseudoLabeler(300)


def test_registry_builds_each_policy_by_name():
    assert set(PSEUDO_LABELERS.module_dict) == {'argmax', 'class_median', 'adversarial_proxy'}
    labeler = build_pseudo_labeler(dict(type='class_median', cap=0.8), num_classes=4)
    assert isinstance(labeler, ClassMedianPseudoLabeler) and labeler.cap == 0.8
    assert labeler.num_classes == 4
    with pytest.raises(KeyError, match="type='median'.*expected one of"):
        build_pseudo_labeler(dict(type='median'), num_classes=4)
