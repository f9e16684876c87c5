"""CycleGANTranslator (LDR's translator): one train_step against a hand computation of CycleGAN's
objective, which parameters move in which step, inference, the history pool, config errors."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.structures import SegDataSample

from conftest import NUM_CLASSES, REPO, record_steps
from mmuda.models.translators import CycleGANTranslator, ImagePool

H, W = 32, 32
LR_G, LR_D = 0.1, 0.05
GEN = dict(type='ResnetGenerator', in_channels=3, out_channels=3, base_channels=4,
           num_downsamples=1, num_blocks=1)
DISC = dict(type='PatchGANDiscriminator', in_channels=3, base_channels=4, num_layers=2)
LDR = REPO / 'configs/ldr'
GTA5_CFG = LDR / 'ldr-translator_cyclegan-r9_1xb1-1000k_gta5-1280x720_cityscapes-1024x512.py'
SYNTHIA_CFG = LDR / 'ldr-translator_cyclegan-r9_1xb1-1000k_synthia-1280x760_cityscapes-1024x512.py'


def build(**kwargs) -> CycleGANTranslator:
    cfg = dict(type='CycleGANTranslator', generator=GEN, discriminator=DISC)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def make_batch(seed: int = 0, n: int = 2) -> dict:
    """A UDADataset batch: uint8 BGR images, labelled source samples, unlabelled target."""
    g = torch.Generator().manual_seed(seed)

    def sample(label: bool) -> SegDataSample:
        s = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
        if label:
            s.gt_sem_seg = PixelData(data=torch.randint(0, NUM_CLASSES, (1, H, W), generator=g))
        return s

    imgs = lambda: [torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8)  # noqa: E731
                    for _ in range(n)]
    return dict(inputs=dict(source=imgs(), target=imgs()),
                data_samples=dict(source=[sample(True) for _ in range(n)],
                                  target=[sample(False) for _ in range(n)]))


def sgd_wrappers(model):
    cfg = dict(generators=dict(optimizer=dict(type='SGD', lr=LR_G)),
               discriminators=dict(optimizer=dict(type='SGD', lr=LR_D)))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='UDAOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


def to_net(images) -> torch.Tensor:
    """The network's view of uint8 BGR images: RGB in [-1, 1]."""
    return torch.stack([(im[[2, 1, 0]].float() - 127.5) / 127.5 for im in images])


def hand_losses(model, batch, identity: float = 5.0):
    """CycleGAN's losses (Zhu et al. 2017, least-squares GAN) with plain torch ops."""
    s, t = to_net(batch['inputs']['source']), to_net(batch['inputs']['target'])
    g_t2s, g_s2t = model.generators['t2s'], model.generators['s2t']
    d_s, d_t = model.discriminators['source'], model.discriminators['target']
    real_label = lambda x: ((x - 1) ** 2).mean()  # noqa: E731
    fake_label = lambda x: (x ** 2).mean()  # noqa: E731
    l1 = lambda a, b: (a - b).abs().mean()  # noqa: E731
    fake_s, fake_t = g_t2s(t), g_s2t(s)
    gen = {'gen.t2s.loss_gan': real_label(d_s(fake_s)),
           'gen.s2t.loss_gan': real_label(d_t(fake_t)),
           'cyc.target.loss_l1': 10.0 * l1(g_s2t(fake_s), t),
           'cyc.source.loss_l1': 10.0 * l1(g_t2s(fake_t), s)}
    if identity:
        gen['idt.t2s.loss_l1'] = identity * l1(g_t2s(s), s)
        gen['idt.s2t.loss_l1'] = identity * l1(g_s2t(t), t)
    disc = {'disc.source.loss_real': 0.5 * real_label(d_s(s)),
            'disc.source.loss_fake': 0.5 * fake_label(d_s(fake_s.detach())),
            'disc.target.loss_real': 0.5 * real_label(d_t(t)),
            'disc.target.loss_fake': 0.5 * fake_label(d_t(fake_t.detach()))}
    return gen, disc


def test_train_step_matches_hand_computation_and_moves_params_in_their_own_step():
    torch.manual_seed(0)
    model = build()
    batch = make_batch()
    ref = copy.deepcopy(model)
    gen, disc = hand_losses(ref, batch)
    g_params, d_params = list(ref.generators.parameters()), list(ref.discriminators.parameters())
    g_grads = torch.autograd.grad(sum(gen.values()), g_params)
    d_grads = torch.autograd.grad(sum(disc.values()), d_params)

    wrappers = sgd_wrappers(model)
    moved = record_steps(model, wrappers, ('generators', 'discriminators'))
    log = model.train_step(batch, wrappers)

    assert set(log) == {*gen, *disc, 'loss', 'disc.loss'}
    for key, value in {**gen, **disc}.items():
        torch.testing.assert_close(log[key], value.detach(), rtol=1e-5, atol=1e-7,
                                   msg=f'{key} differs from the hand computation')
    torch.testing.assert_close(log['loss'], sum(gen.values()).detach(), rtol=1e-5, atol=1e-7)
    assert moved == dict(generators={'generators'}, discriminators={'discriminators'})
    for new, old, g in zip(model.generators.parameters(), g_params, g_grads):
        torch.testing.assert_close(new, (old - LR_G * g).detach(), rtol=1e-4, atol=1e-6)
    for new, old, g in zip(model.discriminators.parameters(), d_params, d_grads):
        torch.testing.assert_close(new, (old - LR_D * g).detach(), rtol=1e-4, atol=1e-6)
    assert all(p.requires_grad for p in model.parameters())  # D unfrozen after its step
    assert [len(model.pools[d]) for d in ('source', 'target')] == [2, 2]


def test_identity_weight_zero_drops_the_terms_and_their_forward_passes():
    torch.manual_seed(0)
    model = build(identity_weight=0)
    batch = make_batch()
    gen, _ = hand_losses(copy.deepcopy(model), batch, identity=0)
    calls = dict(t2s=0, s2t=0)
    for d, g in model.generators.items():
        g.register_forward_hook(lambda *a, d=d: calls.__setitem__(d, calls[d] + 1))
    log = model.train_step(batch, sgd_wrappers(model))
    assert not any(k.startswith('idt.') for k in log)
    torch.testing.assert_close(log['loss'], sum(gen.values()).detach(), rtol=1e-5, atol=1e-7)
    assert calls == dict(t2s=2, s2t=2)  # translation and cycle, no identity pass


def test_direction_chooses_the_generator_of_translate_and_tensor_mode():
    torch.manual_seed(0)
    model = build().eval()
    x = torch.rand(1, 3, H, W) * 2 - 1
    with torch.no_grad():
        t2s, s2t = model.generators['t2s'](x), model.generators['s2t'](x)
        assert torch.equal(model(x), t2s) and torch.equal(model.translate(x), t2s)
        assert torch.equal(model.translate(x, 's2t'), s2t)
        model.direction = 's2t'
        assert torch.equal(model(x, mode='tensor'), s2t)
        other = build(direction='s2t').eval()
        assert torch.equal(other(x), other.generators['s2t'](x))
    with pytest.raises(ValueError, match=r'model\.direction'):
        model.direction = 'target'


def test_preprocess_and_to_images_round_trip_rgb():
    model = build()
    bgr = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    for domain in ('source', 'target'):
        x = model.preprocess([bgr], domain)
        torch.testing.assert_close(x, to_net([bgr]))
        rgb = model.to_images(x, domain)
        assert rgb.shape == (1, 5, 7, 3) and rgb.dtype.name == 'uint8'
        assert (rgb[0] == bgr[[2, 1, 0]].permute(1, 2, 0).numpy()).all()


def test_generator_steps_make_a_fixed_discriminator_rate_translations_more_real():
    """Train D a little, freeze it, then a few generator steps on the GAN term alone: D's
    output on translated target images gets closer to the real label (least squares)."""
    torch.manual_seed(0)
    model = build(cycle_weight=0, identity_weight=0, pool_size=0)
    batch = make_batch(n=2)
    wrappers = sgd_wrappers(model)
    for _ in range(3):
        model.train_step(batch, wrappers)
    wrappers['discriminators'].step = lambda **kwargs: None
    target = to_net(batch['inputs']['target'])

    def distance_to_real() -> float:
        with torch.no_grad():
            out = model.discriminators['source'](model.generators['t2s'](target))
        return ((out - 1) ** 2).mean().item()

    before = distance_to_real()
    for _ in range(8):
        model.train_step(batch, wrappers)
    after = distance_to_real()
    assert after < 0.5 * before, (before, after)


def test_image_pool_mixes_history_with_new_images():
    torch.manual_seed(0)
    assert torch.equal(ImagePool(0).query(torch.ones(2, 3, 4, 4)), torch.ones(2, 3, 4, 4))
    pool = ImagePool(3)
    first = torch.arange(3.0).reshape(3, 1, 1, 1).expand(3, 3, 4, 4)
    assert torch.equal(pool.query(first), first) and len(pool) == 3
    seen_old = seen_new = 0
    for step in range(20):
        new = torch.full((2, 3, 4, 4), 100.0 + step)
        history = {float(im[0, 0, 0]) for im in pool.images}
        out = pool.query(new)
        assert out.shape == new.shape and len(pool) == 3
        for im in out:
            value = float(im[0, 0, 0])
            assert value == 100.0 + step or value in history
            seen_new += value == 100.0 + step
            seen_old += value in history
    assert seen_old > 5 and seen_new > 5
    with pytest.raises(ValueError, match=r'model\.pool_size=3'):
        pool.query(torch.zeros(1, 3, 8, 8))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(direction='both'), ValueError, r'model\.direction'),
    (dict(cycle_weight=-1.0), ValueError, r'model\.cycle_weight'),
    (dict(pool_size=1.5), ValueError, r'model\.pool_size'),
    (dict(gan_weight=0, cycle_weight=0, identity_weight=0), ValueError, 'would not train'),
    (dict(generator={**GEN, 'out_channels': 1}), ValueError, r'model\.generator'),
    (dict(discriminator={**DISC, 'in_channels': 4}), ValueError,
     r'model\.discriminator\.in_channels is 4'),
    (dict(data_preprocessor=dict(type='UDADataPreprocessor', common=dict(bgr_to_rgb=True))),
     ValueError, r'model\.data_preprocessor.*mean'),
    (dict(gan_loss=dict(type='GANLoss', gan_type='wgan')), ValueError, 'gan_type'),
])
def test_bad_config_is_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        build(**kwargs)


def test_loss_and_predict_modes_are_refused():
    model = build()
    x = torch.zeros(1, 3, H, W)
    with pytest.raises(RuntimeError, match='train_step'):
        model(x, None, mode='loss')
    with pytest.raises(RuntimeError, match='translate_dataset'):
        model(x, None, mode='predict')


def test_plain_preprocessor_config_is_both_branches():
    model = build(data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 3,
                                         std=[255.0] * 3, bgr_to_rgb=False))
    bgr = torch.full((3, 2, 2), 51, dtype=torch.uint8)
    bgr[0] = 255
    for domain in ('source', 'target'):
        torch.testing.assert_close(model.preprocess([bgr], domain), bgr[None].float() / 255)
        assert (model.to_images(bgr[None].float() / 255, domain)[0, 0, 0] == [51, 51, 255]).all()


def test_shipped_configs_follow_the_papers_recipe():
    for path in (GTA5_CFG, SYNTHIA_CFG):
        cfg = Config.fromfile(str(path))
        assert cfg.model.type == 'CycleGANTranslator' and cfg.model.direction == 't2s'
        for name in ('generators', 'discriminators'):
            opt = cfg.optim_wrapper[name].optimizer
            assert (opt.type, opt.lr, tuple(opt.betas), opt.weight_decay) == \
                ('Adam', 1e-4, (0.5, 0.999), 1e-4)
            (sched,) = cfg.param_scheduler[name]
            assert (sched.type, sched.step_size, sched.gamma) == ('StepLR', 100000, 0.5)
        assert cfg.train_cfg.max_iters == 1000000 and cfg.train_dataloader.batch_size == 1
        assert cfg.model.generator.num_blocks == 9 and cfg.model.pool_size == 50
        for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader'):
            assert cfg[key] is None, key
        target_val = cfg.translate_datasets.target_val
        assert target_val.type == 'CityscapesDataset'
        assert target_val.data_prefix.img_path == 'leftImg8bit/val'
    # the SYNTHIA translator's source is the SYNTHIA dataset base's, apart from the pipeline
    synthia = Config.fromfile(str(SYNTHIA_CFG)).train_dataloader.dataset.source
    base = Config.fromfile(str(REPO / 'configs/_base_/datasets/'
                               'uda_synthia-1280x760_to_cityscapes-1024x512.py'))
    expected = base.train_dataloader.dataset.source
    for key in set(expected) - {'pipeline'}:
        assert synthia[key] == expected[key], key
