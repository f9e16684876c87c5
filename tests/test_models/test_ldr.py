"""LDR: one train_step against a hand computation of eqs. 1 and 3-6, the parameters each step
moves, the pseudo-label contract, and the direction of the reconstruction's pull."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import AmpOptimWrapper, OptimWrapperDict
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from conftest import NUM_CLASSES, assert_sgd_update, record_steps, tiny_segmentor
from test_models.test_adaptsegnet import LR_D, LR_SEG, H, W, make_batch

LAMBDA, ALPHA, BETA = 0.001, 0.001, 10.0
LR_M, LR_DK = 0.05, 0.1
CHILDREN = dict(segmentor=LR_SEG, discriminators=LR_D, reconstructor=LR_M,
                recon_discriminator=LR_DK)


def build_ldr(tau: float = 0.5, reconstruction: bool = True, **kwargs):
    recon = dict(
        reconstructor=dict(type='ResnetGenerator', in_channels=NUM_CLASSES, out_channels=3,
                           base_channels=4, num_downsamples=1, num_blocks=1),
        recon_discriminator=dict(
            type='MultiScaleDiscriminator', num_scales=2,
            discriminator=dict(type='PatchGANDiscriminator', in_channels=NUM_CLASSES + 3,
                               base_channels=4, num_layers=1)),
        perceptual=dict(type='VGGPerceptualLoss', pretrained=None, width_divisor=16))
    cfg = dict(
        type='LDR', segmentor=tiny_segmentor(aux=False),
        discriminators=dict(main=dict(type='FCDiscriminator', in_channels=NUM_CLASSES,
                                      channels=(8, 8, 8, 8))),
        adv_weights=dict(main=LAMBDA), tau=tau, recon_adv_weight=ALPHA, recon_weight=BETA,
        **(recon if reconstruction else {}))
    model = MODELS.build({**cfg, **kwargs})
    model.init_weights()
    return model


def sgd_wrappers(model, **lrs) -> OptimWrapperDict:
    cfg = {name: dict(optimizer=dict(type='SGD', lr=lrs.get(name, lr)))
           for name, lr in CHILDREN.items()}
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='UDAOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


def pseudo_batch(seed: int = 0) -> dict:
    """A batch whose target samples carry (pseudo) labels, as UDADataset(target_labels=
    'pseudo') delivers them."""
    return make_batch(seed, target_labels=True)


def hand_losses(model, batch, tau: float):
    """Eqs. 1 and 3-6 written out with plain torch ops and the model's own sub-networks."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    seg, D, M, Dk = (model.segmentor, model.discriminators['main'], model.reconstructor,
                     model.recon_discriminator)
    pre = model.data_preprocessor.source  # both branches share the toy normalisation
    up = lambda z: F.interpolate(z, size=(H, W), mode='bilinear', align_corners=True)  # noqa
    bce = F.binary_cross_entropy_with_logits
    seg_terms, d_terms, logits = {}, {}, {}
    for domain, short in (('source', 'src'), ('target', 'tgt')):
        x = data['inputs'][domain]
        gt = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples'][domain]])
        z = up(seg.decode_head(seg.extract_feat(x)))
        logits[domain] = z
        seg_terms[f'{short}.decode.loss_ce'] = F.cross_entropy(z, gt, ignore_index=255)
        image = (x * pre.std + pre.mean) / 127.5 - 1  # RGB already (bgr_to_rgb=True)
        omega = F.softmax(z / tau, 1)
        recon = M(omega)
        fake = Dk.forward_features(torch.cat([omega, recon], 1))
        real = Dk.forward_features(torch.cat([omega, image], 1))
        seg_terms[f'rec.{short}.loss_adv'] = ALPHA * sum(
            bce(f[-1], torch.ones_like(f[-1])) for f in fake)
        seg_terms[f'rec.{short}.loss_vgg'] = BETA * model.perceptual(recon, image)
        # pix2pixHD's normalisation: each of the N layers of each of the K scales weighs
        # (1 / K) * (4 / N)
        seg_terms[f'rec.{short}.loss_fm'] = BETA * sum(
            4 / (len(rs) - 1) / len(real) * (r - f).abs().mean()
            for rs, fs in zip(real, fake) for r, f in zip(rs[:-1], fs[:-1]))
        real_d = Dk(torch.cat([omega.detach(), image], 1))
        fake_d = Dk(torch.cat([omega.detach(), recon.detach()], 1))
        d_terms[f'disc.rec.{short}.loss_real'] = 0.5 * sum(
            bce(o, torch.ones_like(o)) for o in real_d)
        d_terms[f'disc.rec.{short}.loss_fake'] = 0.5 * sum(
            bce(o, torch.zeros_like(o)) for o in fake_d)
    out_t = D(F.softmax(logits['target'], 1))
    seg_terms['adv.main.loss_gen'] = LAMBDA * bce(out_t, torch.zeros_like(out_t))
    d_s = D(F.softmax(logits['source'], 1).detach())
    d_t = D(F.softmax(logits['target'], 1).detach())
    d_terms['disc.main.loss_src'] = 0.5 * bce(d_s, torch.zeros_like(d_s))
    d_terms['disc.main.loss_tgt'] = 0.5 * bce(d_t, torch.ones_like(d_t))
    return seg_terms, d_terms


def trainable(module) -> list:
    return [p for p in module.parameters() if p.requires_grad]


def test_train_step_matches_hand_computation_and_moves_params_in_their_own_step():
    torch.manual_seed(0)
    tau = 0.5
    model = build_ldr(tau=tau)
    batch = pseudo_batch()
    ref = copy.deepcopy(model)
    seg_terms, d_terms = hand_losses(ref, batch, tau)
    gen_params = {n: trainable(getattr(ref, n)) for n in ('segmentor', 'reconstructor')}
    disc_params = {n: trainable(getattr(ref, n)) for n in ('discriminators',
                                                          'recon_discriminator')}
    g_gen = torch.autograd.grad(sum(seg_terms.values()), sum(gen_params.values(), []),
                                allow_unused=True)
    g_disc = torch.autograd.grad(sum(d_terms.values()), sum(disc_params.values(), []))

    wrappers = sgd_wrappers(model)
    moved = record_steps(model, wrappers, CHILDREN)
    log = model.train_step(batch, wrappers)

    for key, value in {**seg_terms, **d_terms}.items():
        torch.testing.assert_close(log[key], value.detach(), rtol=1e-5, atol=1e-7,
                                   msg=f'{key} differs from the hand computation')
    assert moved == {name: {name} for name in CHILDREN}
    # exact SGD deltas: the generator step moved G and M by eq. 6's gradient, the
    # discriminator step moved D and D_k by their own losses only
    news = sum((trainable(getattr(model, n)) for n in gen_params), [])
    olds = sum(gen_params.values(), [])
    lrs = sum(([CHILDREN[n]] * len(ps) for n, ps in gen_params.items()), [])
    for p_new, p_old, g, lr in zip(news, olds, g_gen, lrs):
        assert_sgd_update(p_new, p_old, g, lr)
    news = sum((trainable(getattr(model, n)) for n in disc_params), [])
    lrs = sum(([CHILDREN[n]] * len(ps) for n, ps in disc_params.items()), [])
    for p_new, p_old, g, lr in zip(news, sum(disc_params.values(), []), g_disc, lrs):
        assert_sgd_update(p_new, p_old, g, lr)


def test_reconstruction_gradient_reaches_the_segmentor():
    """Eq. 6 trains G through the label map: its gradient differs with and without M."""
    torch.manual_seed(0)
    with_rec = build_ldr(tau=0.5)
    without = build_ldr(tau=0.5, reconstruction=False)
    without.segmentor.load_state_dict(with_rec.segmentor.state_dict())
    without.discriminators.load_state_dict(with_rec.discriminators.state_dict())
    grads = []
    for model in (with_rec, without):
        batch = model.prepare_batch(model.data_preprocessor(pseudo_batch(), True))
        losses, _ = model.segmentor_losses(batch)
        loss, _ = model.parse_losses(losses)
        head = model.segmentor.decode_head.branches[0].weight
        grads.append(torch.autograd.grad(loss, head)[0])
    assert not torch.allclose(grads[0], grads[1])


def test_reconstruction_steps_make_target_labels_reconstruct_better():
    """The intended direction of section 3.4: with M and D_k fixed, segmentor steps on the
    reconstruction terms alone lower the target's reconstruction loss."""
    torch.manual_seed(0)
    model = build_ldr(tau=1.0, use_pseudo_labels=False, adv_weights=dict(main=0.0))
    wrappers = sgd_wrappers(model, segmentor=0.05, reconstructor=0.0,
                            recon_discriminator=0.0, discriminators=0.0)
    batch = pseudo_batch()
    keys = ('rec.tgt.loss_vgg', 'rec.tgt.loss_fm')

    def target_rec_loss() -> float:
        with torch.no_grad():
            b = model.prepare_batch(model.data_preprocessor(copy.deepcopy(batch), True))
            losses, _ = model.segmentor_losses(b)
        return float(sum(losses[k] for k in keys))

    src_free = copy.deepcopy(batch)
    for s in src_free['data_samples']['source']:
        s.gt_sem_seg.data[:] = 255  # no source supervision: only the reconstruction pulls
    before = target_rec_loss()
    for _ in range(5):
        model.train_step(copy.deepcopy(src_free), wrappers)
    assert target_rec_loss() < before


def test_pseudo_labels_are_required_unless_switched_off():
    torch.manual_seed(0)
    model = build_ldr(reconstruction=False)
    with pytest.raises(KeyError, match="target_labels='pseudo'"):
        model.train_step(make_batch(), sgd_wrappers(model))
    model = build_ldr(reconstruction=False, use_pseudo_labels=False)
    log = model.train_step(make_batch(), sgd_wrappers(model))
    assert not any(k.startswith('tgt.') for k in log)


def test_pseudo_label_term_pulls_target_predictions_towards_the_pseudo_labels():
    torch.manual_seed(0)
    model = build_ldr(reconstruction=False, adv_weights=dict(main=0.0))
    batch = pseudo_batch()
    for s in batch['data_samples']['source']:
        s.gt_sem_seg.data[:] = 255
    wrappers = sgd_wrappers(model, segmentor=0.02)
    first = model.train_step(copy.deepcopy(batch), wrappers)['tgt.decode.loss_ce']
    for _ in range(4):
        last = model.train_step(copy.deepcopy(batch), wrappers)['tgt.decode.loss_ce']
    assert last < first


def test_without_reconstruction_only_the_adaptsegnet_children_train():
    model = build_ldr(reconstruction=False)
    wrappers = sgd_wrappers(model)
    assert set(wrappers.keys()) == {'segmentor', 'discriminators'}
    log = model.train_step(pseudo_batch(), wrappers)
    assert not any(k.startswith(('rec.', 'disc.rec.')) for k in log)


def test_bad_configs_name_the_key():
    with pytest.raises(ValueError, match='model.tau'):
        build_ldr(tau=0.0)
    with pytest.raises(ValueError, match='recon_discriminator'):
        build_ldr(recon_discriminator=dict(
            type='MultiScaleDiscriminator', num_scales=1,
            discriminator=dict(type='PatchGANDiscriminator', in_channels=NUM_CLASSES)))
    with pytest.raises(ValueError, match='model.reconstructor.in_channels'):
        build_ldr(reconstructor=dict(type='ResnetGenerator', in_channels=3))


def test_several_wrappers_in_one_step_refuse_amp_and_mismatched_accumulation():
    model = build_ldr()
    wrappers = sgd_wrappers(model)
    pairs = [(n, wrappers[n]) for n in ('segmentor', 'reconstructor')]
    amp = object.__new__(AmpOptimWrapper)  # only its type matters to the check
    with pytest.raises(NotImplementedError, match='AMP'):
        model._check_compatible([pairs[0], ('reconstructor', amp)])
    pairs[1][1]._accumulative_counts = 2
    with pytest.raises(ValueError, match='accumulative_counts'):
        model._check_compatible(pairs)


def test_undecided_share_counts_pixels_whose_label_map_is_not_one_hot():
    """Top-two logit gaps of 0, 5, 7 and 200 tau: the runner-up keeps 1/2, 1/(1 + e^5) =
    0.0067, 1/(1 + e^7) = 0.00091 and ~0 of the map; two of the four reach 1e-3."""
    from mmuda.models.uda.ldr import undecided_share
    tau = 0.001
    gaps = torch.tensor([0.0, 5.0, 7.0, 200.0]) * tau
    logits = torch.stack([torch.zeros(4), -gaps, torch.full((4,), -1.0)]).view(1, 3, 2, 2)
    omega = F.softmax(logits / tau, dim=1)
    assert float(undecided_share(omega)) == 0.5
    model = build_ldr(tau=tau)
    log = model.train_step(pseudo_batch(), sgd_wrappers(model))
    for domain in ('src', 'tgt'):
        assert 0.0 <= float(log[f'rec.{domain}.undecided']) <= 1.0
    # logged only: the step's total is the sum of the loss terms
    total = sum(v for k, v in log.items() if 'loss' in k and not k.startswith('disc.')
                and k != 'loss')
    torch.testing.assert_close(log['loss'], total)
