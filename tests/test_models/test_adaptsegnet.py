"""One AdaptSegNet train_step against a hand computation of reference-facts section 5."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.structures import SegDataSample

from conftest import NUM_CLASSES, record_steps, tiny_segmentor

H, W = 32, 64
LR_SEG, LR_D = 0.5, 0.25


def build_adaptsegnet(levels=('main', 'aux'), disc_channels=NUM_CLASSES, **kwargs):
    weights = dict(main=0.001, aux=0.0002)
    model = MODELS.build(dict(
        type='AdaptSegNet', segmentor=tiny_segmentor(),
        discriminators={lv: dict(type='FCDiscriminator', in_channels=disc_channels,
                                 channels=(8, 8, 8, 8)) for lv in levels},
        adv_weights={lv: weights[lv] for lv in levels}, **kwargs))
    model.init_weights()
    return model


def make_batch(seed: int = 0, target_labels: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)

    def sample(with_label: bool) -> SegDataSample:
        s = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
        if with_label:
            label = torch.randint(0, NUM_CLASSES, (1, H, W), generator=g)
            label[:, :4] = 255  # ignored pixels
            s.gt_sem_seg = PixelData(data=label)
        return s

    imgs = lambda: [torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8)  # noqa: E731
                    for _ in range(2)]
    return dict(inputs=dict(source=imgs(), target=imgs()),
                data_samples=dict(source=[sample(True) for _ in range(2)],
                                  target=[sample(target_labels) for _ in range(2)]))


def sgd_wrappers(model):
    cfg = dict(segmentor=dict(optimizer=dict(type='SGD', lr=LR_SEG)),
               discriminators=dict(optimizer=dict(type='SGD', lr=LR_D)))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='UDAOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


def hand_losses(model, batch):
    """Reference AdaptSegNet losses written out with plain torch ops."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    xs, xt = data['inputs']['source'], data['inputs']['target']
    gt = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']['source']])
    seg = model.segmentor
    up = lambda p: F.interpolate(p, size=(H, W), mode='bilinear', align_corners=True)  # noqa
    fs, ft = seg.extract_feat(xs), seg.extract_feat(xt)
    ps = dict(main=up(seg.decode_head(fs)), aux=up(seg.auxiliary_head(fs)))
    pt = dict(main=up(seg.decode_head(ft)), aux=up(seg.auxiliary_head(ft)))
    bce = F.binary_cross_entropy_with_logits
    seg_terms = {
        'src.decode.loss_ce': F.cross_entropy(ps['main'], gt, ignore_index=255),
        'src.aux.loss_ce': 0.1 * F.cross_entropy(ps['aux'], gt, ignore_index=255),
    }
    d_terms = {}
    for lv, lam in dict(main=0.001, aux=0.0002).items():
        D = model.discriminators[lv]
        out_t = D(F.softmax(pt[lv], 1))
        seg_terms[f'adv.{lv}.loss_gen'] = lam * bce(out_t, torch.zeros_like(out_t))
        out_s_d = D(F.softmax(ps[lv], 1).detach())
        out_t_d = D(F.softmax(pt[lv], 1).detach())
        d_terms[f'disc.{lv}.loss_src'] = 0.5 * bce(out_s_d, torch.zeros_like(out_s_d))
        d_terms[f'disc.{lv}.loss_tgt'] = 0.5 * bce(out_t_d, torch.ones_like(out_t_d))
    return seg_terms, d_terms


def test_train_step_matches_hand_computation_and_moves_params_in_their_own_step():
    torch.manual_seed(0)
    model = build_adaptsegnet()
    batch = make_batch()
    ref = copy.deepcopy(model)
    seg_terms, d_terms = hand_losses(ref, batch)
    seg_params = [p for p in ref.segmentor.parameters() if p.requires_grad]
    d_params = list(ref.discriminators.parameters())
    g_seg = torch.autograd.grad(sum(seg_terms.values()), seg_params, allow_unused=True)
    g_d = torch.autograd.grad(sum(d_terms.values()), d_params)

    wrappers = sgd_wrappers(model)
    moved = record_steps(model, wrappers, ('segmentor', 'discriminators'))
    log = model.train_step(batch, wrappers)

    for key, value in {**seg_terms, **d_terms}.items():
        torch.testing.assert_close(log[key], value.detach(), rtol=1e-5, atol=1e-7,
                                   msg=f'{key} differs from the hand computation')
    assert moved == dict(segmentor={'segmentor'}, discriminators={'discriminators'})
    for p_new, p_old, g in zip([p for p in model.segmentor.parameters() if p.requires_grad],
                               seg_params, g_seg):
        expected = p_old if g is None else p_old - LR_SEG * g
        torch.testing.assert_close(p_new, expected.detach(), rtol=1e-4, atol=1e-6)
    # D moved by its own loss only: the generator's adversarial term did not leak into D
    for p_new, p_old, g in zip(model.discriminators.parameters(), d_params, g_d):
        torch.testing.assert_close(p_new, (p_old - LR_D * g).detach(), rtol=1e-4, atol=1e-6)


def test_target_labels_never_reach_a_training_loss():
    """Identical steps whether or not (random) target labels are present in the batch."""
    torch.manual_seed(0)
    model_a = build_adaptsegnet()
    model_b = copy.deepcopy(model_a)
    log_a = model_a.train_step(make_batch(target_labels=False), sgd_wrappers(model_a))
    log_b = model_b.train_step(make_batch(target_labels=True), sgd_wrappers(model_b))
    assert log_a.keys() == log_b.keys()
    for key in log_a:
        torch.testing.assert_close(log_a[key], log_b[key], rtol=0, atol=0)
    for p_a, p_b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(p_a, p_b)


def test_adaptation_pulls_target_predictions_towards_source_judgement():
    """Steps with only the adversarial term (no source labels) lower the generator loss:
    the discriminator finds target outputs more source-like afterwards."""
    torch.manual_seed(0)
    model = build_adaptsegnet(levels=('main',))
    model.adv_weights['main'] = 1.0
    for m in model.segmentor.modules():  # switch the supervised loss off
        if hasattr(m, 'loss_decode'):
            m.loss_decode.loss_weight = 0.0
    wrappers = sgd_wrappers(model)
    wrappers['discriminators'].step = lambda **kw: None  # a fixed judge
    batch = make_batch()
    first = model.train_step(batch, wrappers)['adv.main.loss_gen']
    for _ in range(5):
        last = model.train_step(batch, wrappers)['adv.main.loss_gen']
    assert last < first


@pytest.mark.parametrize('adv_input,channels', [('feature', 64), ('output', NUM_CLASSES)])
def test_discriminator_inputs(adv_input, channels):
    model = build_adaptsegnet(levels=('main',), disc_channels=channels, adv_input=adv_input,
                              upsample_to_input=False)
    out = model.forward_heads(torch.randn(1, 3, H, W))
    d_in = model.discriminator_input(out, 'main', (H, W))
    assert d_in.shape[1] == channels
    if adv_input == 'output':
        torch.testing.assert_close(d_in.sum(1), torch.ones_like(d_in[:, 0]))


def test_config_errors_are_named():
    with pytest.raises(KeyError, match='adv_weights'):
        MODELS.build(dict(type='AdaptSegNet', segmentor=tiny_segmentor(),
                          discriminators=dict(main=dict(type='FCDiscriminator',
                                                        in_channels=NUM_CLASSES)),
                          adv_weights=dict(aux=0.1)))
    with pytest.raises(KeyError, match='aux'):
        MODELS.build(dict(type='AdaptSegNet', segmentor=tiny_segmentor(aux=False),
                          discriminators=dict(aux=dict(type='FCDiscriminator',
                                                       in_channels=NUM_CLASSES)),
                          adv_weights=dict(aux=0.1)))


def test_loss_mode_is_refused_so_adaptation_cannot_be_skipped_silently():
    model = build_adaptsegnet(levels=('main',))
    with pytest.raises(RuntimeError, match='train_step'):
        model(torch.randn(1, 3, H, W), None, mode='loss')


def _nan_batch():
    batch = make_batch()
    batch['inputs']['source'] = [x.float() * float('nan') for x in batch['inputs']['source']]
    return batch


def test_nonfinite_loss_stops_with_term_and_iteration():
    model = build_adaptsegnet(levels=('main',))
    with pytest.raises(FloatingPointError, match=r'iteration \d+: .*src\.decode\.loss_ce'):
        model.train_step(_nan_batch(), sgd_wrappers(model))


def test_nonfinite_loss_skip_leaves_weights_untouched():
    model = build_adaptsegnet(levels=('main',), nonfinite_loss='skip')
    before = copy.deepcopy(model.state_dict())
    log = model.train_step(_nan_batch(), sgd_wrappers(model))
    assert log['nonfinite_skipped'] == 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_unknown_nonfinite_policy_names_the_key():
    with pytest.raises(ValueError, match='model.nonfinite_loss'):
        build_adaptsegnet(levels=('main',), nonfinite_loss='ignore')


def test_discriminator_channel_mismatch_is_caught_at_build_time():
    with pytest.raises(ValueError, match=r'model\.discriminators\.main\.in_channels is 19'):
        MODELS.build(dict(type='AdaptSegNet', segmentor=tiny_segmentor(),
                          discriminators=dict(main=dict(type='FCDiscriminator', in_channels=19)),
                          adv_weights=dict(main=0.001)))
