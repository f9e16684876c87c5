"""ADVENT (AdvEnt and MinEnt): one train_step against a hand computation of the reference code
(valeoai/ADVENT: prob_2_entropy, entropy_loss, train_advent, train_minent), config errors and a
short toy run through mmengine's Runner."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.structures import SegDataSample

from conftest import NUM_CLASSES, REPO, record_steps, tiny_segmentor, toy_cfg
from mmuda.models.uda.advent import self_information

H, W = 32, 64
LR_SEG, LR_D = 0.5, 0.25
# Large weights so that a target term that does not reach the segmentor's gradient moves the
# parameters by far more than the comparison tolerance (the configs use 0.001 / 0.0002).
ADV = dict(main=0.5, aux=0.2)
ENT = dict(main=1.0, aux=0.4)
TOY_ADVENT = REPO / 'configs/advent/advent_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py'


def disc(channels: int = NUM_CLASSES) -> dict:
    return dict(type='FCDiscriminator', in_channels=channels, channels=(8, 8, 8, 8))


def build(kind: str, **kwargs):
    if kind == 'ADVENT':
        kwargs.setdefault('discriminators', {lv: disc() for lv in ADV})
        kwargs.setdefault('adv_weights', dict(ADV))
    else:
        kwargs.setdefault('ent_weights', dict(ENT))
    kwargs.setdefault('segmentor', tiny_segmentor())
    model = MODELS.build(dict(type=kind, **kwargs))
    model.init_weights()
    return model


def make_batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def sample(with_label: bool) -> SegDataSample:
        s = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
        if with_label:
            label = torch.randint(0, NUM_CLASSES, (1, H, W), generator=g)
            label[:, :3] = 255
            s.gt_sem_seg = PixelData(data=label)
        return s

    def images() -> list:
        return [torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8)
                for _ in range(2)]

    return dict(inputs=dict(source=images(), target=images()),
                data_samples=dict(source=[sample(True) for _ in range(2)],
                                  target=[sample(False) for _ in range(2)]))


def sgd_wrappers(model):
    cfg = dict(segmentor=dict(optimizer=dict(type='SGD', lr=LR_SEG)),
               discriminators=dict(optimizer=dict(type='SGD', lr=LR_D)))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='UDAOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


# ---------------------------------------------------------------------- the reference, by hand
def ref_self_information(prob):
    """The reference's prob_2_entropy: -p * log2(p + 1e-30) / log2(C)."""
    return -prob * torch.log2(prob + 1e-30) / math.log2(prob.shape[1])


def ref_entropy_loss(prob):
    """The reference's entropy_loss: sum of -p log2 p over everything / (N H W log2 C)."""
    n, c, h, w = prob.shape
    return -(prob * torch.log2(prob + 1e-30)).sum() / (n * h * w * math.log2(c))


def hand_predictions(model, batch):
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    seg = model.segmentor
    up = lambda x: F.interpolate(x, size=(H, W), mode='bilinear', align_corners=True)  # noqa

    def heads(x):
        f = seg.extract_feat(x)
        return dict(main=up(seg.decode_head(f)), aux=up(seg.auxiliary_head(f)))

    gt = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']['source']])
    ps, pt = heads(data['inputs']['source']), heads(data['inputs']['target'])
    seg_terms = {
        'src.decode.loss_ce': F.cross_entropy(ps['main'], gt, ignore_index=255),
        'src.aux.loss_ce': 0.1 * F.cross_entropy(ps['aux'], gt, ignore_index=255),
    }
    return ps, pt, seg_terms


def hand_advent(model, batch):
    ps, pt, seg_terms = hand_predictions(model, batch)
    bce = F.binary_cross_entropy_with_logits
    d_terms = {}
    for lv, lam in ADV.items():
        D = model.discriminators[lv]
        i_s = ref_self_information(F.softmax(ps[lv], 1))
        i_t = ref_self_information(F.softmax(pt[lv], 1))
        out_t = D(i_t)
        seg_terms[f'adv.{lv}.loss_gen'] = lam * bce(out_t, torch.zeros_like(out_t))
        out_s_d, out_t_d = D(i_s.detach()), D(i_t.detach())
        d_terms[f'disc.{lv}.loss_src'] = 0.5 * bce(out_s_d, torch.zeros_like(out_s_d))
        d_terms[f'disc.{lv}.loss_tgt'] = 0.5 * bce(out_t_d, torch.ones_like(out_t_d))
    return seg_terms, d_terms


def hand_minent(model, batch):
    _, pt, seg_terms = hand_predictions(model, batch)
    for lv, lam in ENT.items():
        seg_terms[f'ent.{lv}.loss_ent'] = lam * ref_entropy_loss(F.softmax(pt[lv], 1))
    return seg_terms


def grads(loss, params):
    return torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)


def seg_params(model):
    return [p for p in model.segmentor.parameters() if p.requires_grad]


def assert_sgd_update(new_params, old_params, g, lr):
    for p_new, p_old, gi in zip(new_params, old_params, g):
        expected = p_old if gi is None else p_old - lr * gi
        torch.testing.assert_close(p_new, expected.detach(), rtol=1e-4, atol=1e-6)


def assert_term_matters(new_params, old_params, g_all, g_term, lr):
    """The update without ``g_term`` would fail assert_sgd_update: the target term really
    reached the segmentor's gradient."""
    differs = False
    for p_new, p_old, ga, gt in zip(new_params, old_params, g_all, g_term):
        if ga is not None and gt is not None:
            without = (p_old - lr * (ga - gt)).detach()
            differs |= not torch.allclose(p_new, without, rtol=1e-4, atol=1e-6)
    assert differs, 'the target term did not change the segmentor update'


# ---------------------------------------------------------------------- the self-information map
def test_self_information_values():
    prob = torch.tensor([0.5, 0.25, 0.25, 0.0]).view(1, 4, 1, 1)
    expected = torch.tensor([0.25, 0.25, 0.25, 0.0]).view(1, 4, 1, 1)  # -p log4 p
    torch.testing.assert_close(self_information(prob), expected)
    uniform = torch.full((2, 7, 3, 5), 1 / 7)
    torch.testing.assert_close(self_information(uniform).sum(1), torch.ones(2, 3, 5))
    one_hot = torch.zeros(1, 7, 1, 1)
    one_hot[0, 2] = 1.0
    assert self_information(one_hot).abs().max() == 0


def test_self_information_has_finite_gradient_where_softmax_underflows():
    logits = torch.tensor([0.0, -200.0, 3.0]).view(1, 3, 1, 1).requires_grad_()
    prob = F.softmax(logits, 1)
    assert prob[0, 1] == 0  # underflowed: log(p) would be -inf
    self_information(prob).sum().backward()
    assert torch.isfinite(logits.grad).all()


# ---------------------------------------------------------------------- AdvEnt
def test_advent_step_matches_the_reference_and_moves_params_in_their_own_step():
    torch.manual_seed(0)
    model, batch = build('ADVENT'), make_batch()
    ref = copy.deepcopy(model)
    seg_terms, d_terms = hand_advent(ref, batch)
    old_seg, old_d = seg_params(ref), list(ref.discriminators.parameters())
    g_seg = grads(sum(seg_terms.values()), old_seg)
    g_adv = grads(sum(v for k, v in seg_terms.items() if k.startswith('adv.')), old_seg)
    g_d = grads(sum(d_terms.values()), old_d)

    wrappers = sgd_wrappers(model)
    moved = record_steps(model, wrappers)
    log = model.train_step(batch, wrappers)

    for key, value in {**seg_terms, **d_terms}.items():
        torch.testing.assert_close(log[key], value.detach(), rtol=1e-5, atol=1e-7,
                                   msg=f'{key} differs from the hand computation')
    assert moved == dict(segmentor={'segmentor'}, discriminators={'discriminators'})
    # the segmentor moved by the source CE + the adversarial terms (through the frozen D)
    assert_sgd_update(seg_params(model), old_seg, g_seg, LR_SEG)
    assert_term_matters(seg_params(model), old_seg, g_seg, g_adv, LR_SEG)
    # D moved by its own loss on detached maps only
    assert_sgd_update(model.discriminators.parameters(), old_d, g_d, LR_D)


def test_advent_discriminator_sees_self_information_not_softmax():
    model = build('ADVENT', adv_weights=dict(main=0.001),
                  discriminators=dict(main=disc()), upsample_to_input=False)
    out = model.forward_heads(torch.randn(2, 3, H, W))
    d_in = model.discriminator_input(out, 'main', (H, W))
    prob = F.softmax(out['main'], 1)
    torch.testing.assert_close(d_in, ref_self_information(prob), rtol=1e-5, atol=1e-7)
    assert (d_in.sum(1) <= 1 + 1e-6).all() and (d_in >= 0).all()


def test_advent_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r"model\.adv_input must be 'output'"):
        build('ADVENT', adv_input='feature', discriminators=dict(main=disc(64)),
              adv_weights=dict(main=0.001))
    with pytest.raises(ValueError, match=r'model\.discriminators\.main\.in_channels is 19'):
        build('ADVENT', discriminators=dict(main=disc(19)), adv_weights=dict(main=0.001))


# ---------------------------------------------------------------------- MinEnt
def test_minent_step_matches_the_reference_and_only_the_segmentor_moves():
    torch.manual_seed(0)
    model, batch = build('MinEnt'), make_batch()
    ref = copy.deepcopy(model)
    seg_terms = hand_minent(ref, batch)
    old_seg = seg_params(ref)
    g_seg = grads(sum(seg_terms.values()), old_seg)
    g_ent = grads(sum(v for k, v in seg_terms.items() if k.startswith('ent.')), old_seg)

    wrappers = sgd_wrappers(model)
    assert list(wrappers.keys()) == ['segmentor']  # no discriminator, no D optimizer
    moved = record_steps(model, wrappers)
    log = model.train_step(batch, wrappers)

    assert {k for k in log if 'loss' in k} == set(seg_terms) | {'loss'}
    for key, value in seg_terms.items():
        torch.testing.assert_close(log[key], value.detach(), rtol=1e-5, atol=1e-7,
                                   msg=f'{key} differs from the hand computation')
    assert moved == dict(segmentor={'segmentor'})
    assert_sgd_update(seg_params(model), old_seg, g_seg, LR_SEG)
    assert_term_matters(seg_params(model), old_seg, g_seg, g_ent, LR_SEG)


def test_minent_steps_make_target_predictions_more_confident():
    """Entropy term alone (source CE switched off): the target entropy goes down."""
    torch.manual_seed(0)
    model = build('MinEnt', ent_weights=dict(main=1.0))
    for m in model.segmentor.modules():
        if hasattr(m, 'loss_decode'):
            m.loss_decode.loss_weight = 0.0
    wrappers, batch = sgd_wrappers(model), make_batch()
    first = model.train_step(batch, wrappers)['ent.main.loss_ent']
    for _ in range(5):
        last = model.train_step(batch, wrappers)['ent.main.loss_ent']
    assert last < 0.9 * first


def test_minent_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r'model\.discriminators'):
        build('MinEnt', discriminators=dict(main=disc()))
    with pytest.raises(ValueError, match=r'model\.ent_weights'):
        build('MinEnt', ent_weights={})
    with pytest.raises(KeyError, match=r'model\.ent_weights\.aux: unknown prediction level'):
        build('MinEnt', segmentor=tiny_segmentor(aux=False))


@pytest.mark.parametrize('kind', ['ADVENT', 'MinEnt'])
def test_visual_maps_add_entropy_of_every_level(kind):
    model = build(kind).eval()
    maps = model.visual_maps(torch.randn(2, 3, H, W))
    for level in ('main', 'aux'):
        ent = maps[f'entropy.{level}']
        assert ent.shape == (2, H, W) and ent.min() >= 0 and ent.max() <= 1 + 1e-6
    assert ('disc.main' in maps) == (kind == 'ADVENT')


# ---------------------------------------------------------------------- the toy config
class _Record(Hook):
    """Keeps the weights after initialisation and every iteration's log dict."""

    def before_train(self, runner) -> None:
        self.init = {k: v.clone() for k, v in runner.model.state_dict().items()}
        self.logs = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.logs.append({k: float(v.detach()) for k, v in outputs.items()})


def test_toy_config_trains_through_the_runner(toy_root, tmp_path):
    runner = Runner.from_cfg(toy_cfg(TOY_ADVENT, toy_root, tmp_path, iters=3))
    record = _Record()
    runner.register_hook(record)
    runner.train()
    assert type(runner.model).__name__ == 'ADVENT' and len(record.logs) == 3
    for log in record.logs:
        assert {'adv.main.loss_gen', 'adv.aux.loss_gen', 'disc.aux.loss_tgt'} <= set(log)
        assert all(math.isfinite(v) for v in log.values()), log
    after = runner.model.state_dict()
    for part in ('segmentor.', 'discriminators.main.', 'discriminators.aux.'):
        assert any(not torch.equal(after[k], v) for k, v in record.init.items()
                   if k.startswith(part)), f'{part} did not train'
