"""LDR's label-driven reconstruction (paper 001, eqs. 3-5) and the pre-training of M."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.structures import SegDataSample

from conftest import assert_sgd_update, record_steps, track_bias_summands
from mmuda.models.losses.perceptual_loss import TAPS, VGGPerceptualLoss, vgg19_features
from mmuda.models.reconstruction import (
    one_hot_labels,
    reconstruction_discriminator_losses,
    reconstruction_generator_losses,
    to_unit_rgb,
)
from mmuda.models.utils import boltzmann_softmax

C, H, W = 4, 32, 64
LR_M, LR_D = 0.5, 0.25
TOY_NORM = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
CAFFE_NORM = dict(type='SegDataPreProcessor', mean=[104.00698793, 116.66876762, 122.67891434],
                  std=[1.0, 1.0, 1.0], bgr_to_rgb=False)


def tiny_m(classes: int = C) -> dict:
    return dict(type='ResnetGenerator', in_channels=classes, base_channels=4, num_blocks=1)


def tiny_d(classes: int = C) -> dict:
    return dict(type='MultiScaleDiscriminator', num_scales=3, discriminator=dict(
        type='PatchGANDiscriminator', in_channels=classes + 3, base_channels=4, num_layers=1))


def tiny_vgg() -> VGGPerceptualLoss:
    vgg = VGGPerceptualLoss(width_divisor=16)
    vgg.init_weights()
    return vgg


def build_pretrainer(**kwargs):
    cfg = dict(type='LabelReconstructionPretrainer', num_classes=C, data_preprocessor=TOY_NORM,
               reconstructor=tiny_m(), recon_discriminator=tiny_d(),
               perceptual=dict(type='VGGPerceptualLoss', width_divisor=16))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


# ---------------------------------------------------------------------- eq. 3
def test_boltzmann_approaches_one_hot_as_tau_falls():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3, 4)
    onehot = F.one_hot(logits.argmax(1), 5).permute(0, 3, 1, 2).float()
    gaps = [(boltzmann_softmax(logits, tau) - onehot).abs().max() for tau in (1, 0.1, 0.01)]
    assert gaps[0] > gaps[1] > gaps[2]
    top2 = logits.topk(2, dim=1).values
    margin = (top2[:, 0] - top2[:, 1]).min()
    assert margin > 0.02  # so that tau = 0.001 is one-hot to float precision
    torch.testing.assert_close(boltzmann_softmax(logits, 0.001), onehot, atol=1e-6, rtol=0)
    torch.testing.assert_close(boltzmann_softmax(logits, 1.0), F.softmax(logits, 1))


def test_boltzmann_gradients_are_finite_at_tau_0001_also_near_ties():
    # pixel 0: exact tie, pixel 1: tie up to 1e-6, pixel 2: large logits, pixel 3: clear win
    logits = torch.tensor([[3.0, 3.0, -1.0], [2.0, 2.0 + 1e-6, 0.0], [900.0, 899.999, -50.0],
                           [1.0, 0.0, 0.0]]).T.reshape(1, 3, 1, 4).requires_grad_()
    omega = boltzmann_softmax(logits, 0.001)
    torch.testing.assert_close(omega[0, :2, 0, 0], torch.tensor([0.5, 0.5]))
    (omega * torch.randn_like(omega)).sum().backward()
    assert torch.isfinite(omega).all() and torch.isfinite(logits.grad).all()
    assert logits.grad[0, :, 0, 0].abs().sum() > 0  # at the tie the map is still learning
    with pytest.raises(ValueError, match='tau must be > 0'):
        boltzmann_softmax(logits, 0.0)


def test_boltzmann_gradient_at_tau_0001_lives_only_near_ties():
    """At tau = 0.001 the Jacobian of eq. 3 is (1 / tau) (diag(p) - p p^T): up to 250 per unit
    logit at a tie, and exactly 0 in float32 once the top two logits differ by more than
    ~0.104 (exp(-104) is below float32's smallest subnormal, 1.4e-45). So the reconstruction's
    gradient reaches the segmentor only at pixels whose prediction is undecided."""
    tau = 0.001

    def grad_of_top(gap: float) -> torch.Tensor:
        z = torch.tensor([0.0, -gap, -5.0]).view(1, 3, 1, 1).requires_grad_()
        g, = torch.autograd.grad(boltzmann_softmax(z, tau)[0, 0].sum(), z)
        return g.view(-1)

    for gap in (0.0, 0.002, 0.005):
        p = torch.sigmoid(torch.tensor(gap / tau, dtype=torch.float64))
        expected = float(p * (1 - p) / tau)  # d p_top / d z_top with the third class at 0
        # float32 softmax of O(1e3) exponents: relative rounding ~1e-6, 1e-4 is ample
        assert float(grad_of_top(gap)[0]) == pytest.approx(expected, rel=1e-4)
    assert float(grad_of_top(0.0)[0]) == pytest.approx(250.0, rel=1e-5)
    assert torch.count_nonzero(grad_of_top(0.103)) > 0
    for gap in (0.104, 0.11, 1.0):
        assert torch.count_nonzero(grad_of_top(gap)) == 0


# ---------------------------------------------------------------------- VGG19 (eq. 5, term 1)
def test_vgg_layout_is_torchvision_features():
    features, taps = vgg19_features()
    convs = [i for i, m in enumerate(features) if hasattr(m, 'weight')]
    assert convs == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28]
    assert taps == dict(relu1_1=1, relu2_1=6, relu3_1=11, relu4_1=20, relu5_1=29)
    assert tuple(features[0].weight.shape) == (64, 3, 3, 3)
    assert tuple(features[28].weight.shape) == (512, 512, 3, 3)
    assert isinstance(features[4], nn.MaxPool2d) and isinstance(features[27], nn.MaxPool2d)


def test_perceptual_loss_matches_hand_computation():
    """pix2pixHD's VGGLoss by default: layer weights 1/32, 1/16, 1/8, 1/4, 1 on the mean L1
    distances at relu1_1 ... relu5_1; explicit weights and pix2pixHD's raw [-1, 1] input
    (input_norm='none') as options."""
    torch.manual_seed(0)
    vgg = tiny_vgg()
    recon = (torch.rand(2, 3, H, W) * 2 - 1).requires_grad_()
    image = (torch.rand(2, 3, H, W) * 2 - 1).requires_grad_()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def feats(x, imagenet=True):
        x, out = ((x + 1) / 2 - mean) / std if imagenet else x, []
        for i, m in enumerate(vgg.features):
            if hasattr(m, 'weight'):
                x = F.relu(F.conv2d(x, m.weight, m.bias, padding=1))
                if i + 1 in (1, 6, 11, 20, 29):
                    out.append(x)
            elif isinstance(m, nn.MaxPool2d):
                x = F.max_pool2d(x, 2)
        return out

    def per_layer(imagenet=True):
        return [(a - b).abs().mean()
                for a, b in zip(feats(recon, imagenet), feats(image, imagenet))]

    def same_vgg(**kwargs):
        other = MODELS.build(dict(type='VGGPerceptualLoss', width_divisor=16, **kwargs))
        for a, b in zip(other.features.buffers(), vgg.features.buffers()):
            a.copy_(b)
        return other

    layers = per_layer()
    assert len(layers) == len(TAPS)
    # float32 forward of the same ops in the same order: only the final weighted sum can
    # associate differently, so torch's default float32 tolerance (1.3e-6 rel) holds
    pix2pixhd = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1)
    torch.testing.assert_close(vgg(recon, image), sum(w * t for w, t in zip(pix2pixhd, layers)))
    assert vgg.layer_weights == pix2pixhd and vgg.input_norm == 'imagenet'
    unit = same_vgg(layer_weights=(1, 1, 1, 1, 1))
    torch.testing.assert_close(unit(recon, image), sum(layers))
    raw = same_vgg(input_norm='none')
    torch.testing.assert_close(
        raw(recon, image), sum(w * t for w, t in zip(pix2pixhd, per_layer(imagenet=False))))
    vgg(recon, image).backward()
    assert recon.grad.abs().sum() > 0 and image.grad is None  # the image is the target


def test_vgg_is_frozen_in_eval_and_absent_from_state_dict():
    class Holder(BaseModule):
        def __init__(self):
            super().__init__()
            self.head = nn.Conv2d(3, 3, 1)
            self.perceptual = VGGPerceptualLoss(width_divisor=16)

    model = Holder()
    model.train()
    assert not model.perceptual.training and not model.perceptual.features.training
    assert list(model.perceptual.parameters()) == []
    assert set(model.state_dict()) == {'head.weight', 'head.bias'}
    before = model.perceptual.features[0].weight.clone()
    other = Holder()
    other.load_state_dict(model.state_dict(), strict=True)  # no VGG keys expected
    from mmengine.runner.checkpoint import load_state_dict
    load_state_dict(other, model.state_dict(), strict=True)  # mmengine's loader as well
    torch.testing.assert_close(model.perceptual.features[0].weight, before)


def fake_torchvision_vgg19(path, features_only: bool = False) -> dict:
    """Random tensors in the layout of torchvision's vgg19().state_dict()."""
    g = torch.Generator().manual_seed(1)
    state, in_c, idx = {}, 3, 0
    for item in (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M',
                 512, 512, 512, 512, 'M'):
        if item == 'M':
            idx += 1
            continue
        big = idx <= 28
        state[f'features.{idx}.weight'] = (torch.randn(item, in_c, 3, 3, generator=g) * 0.01
                                           if big else torch.zeros(1))  # unused conv5_2+
        state[f'features.{idx}.bias'] = torch.randn(item if big else 1, generator=g)
        in_c, idx = item, idx + 2
    if features_only:
        state = {k[len('features.'):]: v for k, v in state.items()}
    else:
        state['classifier.0.weight'] = torch.zeros(2, 2)
    torch.save(state, path)
    return state


@pytest.mark.parametrize('features_only', [False, True], ids=['full', 'features'])
def test_vgg_loads_a_torchvision_layout_file(tmp_path, features_only):
    path = tmp_path / 'vgg19.pth'
    state = fake_torchvision_vgg19(path, features_only)
    key = (lambda i: f'{i}.weight') if features_only else (lambda i: f'features.{i}.weight')
    vgg = MODELS.build(dict(type='VGGPerceptualLoss', pretrained=str(path)))
    with pytest.raises(RuntimeError, match='init_weights'):
        vgg(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    vgg.init_weights()
    for i in (0, 10, 28):
        torch.testing.assert_close(vgg.features[i].weight, state[key(i)])
    assert vgg.state_dict() == {}
    assert torch.isfinite(vgg(torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)))


def test_vgg_config_errors(tmp_path):
    with pytest.raises(ValueError, match='width_divisor'):
        VGGPerceptualLoss(pretrained='vgg19.pth', width_divisor=8)
    with pytest.raises(ValueError, match='width_divisor'):
        VGGPerceptualLoss(width_divisor=3)
    with pytest.raises(ValueError, match='layer_weights'):
        VGGPerceptualLoss(layer_weights=(1.0, 1.0))
    with pytest.raises(ValueError, match='input_norm'):
        VGGPerceptualLoss(input_norm='caffe')
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        VGGPerceptualLoss(pretrained=str(tmp_path / 'no_such.pth')).init_weights()
    torch.save({'features.0.weight': torch.zeros(64, 3, 3, 3)}, tmp_path / 'partial.pth')
    with pytest.raises(KeyError, match='features.0.bias'):
        VGGPerceptualLoss(pretrained=str(tmp_path / 'partial.pth')).init_weights()
    with pytest.raises(ValueError, match='same shape|one shape'):
        tiny_vgg()(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 16))


# ---------------------------------------------------------------------- feature matching
def test_feature_matching_matches_hand_computation():
    """pix2pixHD by default: with N intermediate layers per scale and K scales each layer
    weighs (1 / K) * (4 / N); here K = 2, N = 3: 2/3 each. 'unit' is eq. 5's plain sum."""
    torch.manual_seed(0)
    real = [[torch.randn(2, 3, 4, 4), torch.randn(2, 5, 2, 2), torch.randn(2, 2, 2, 2),
             torch.randn(2, 1, 1, 1)] for _ in range(2)]
    fake = [[torch.randn_like(t) for t in scale] for scale in real]
    dists = [[(f - r).abs().mean() for r, f in zip(rs[:-1], fs[:-1])]  # logits excluded
             for rs, fs in zip(real, fake)]
    # float32 sums of 6 terms in the same order up to the weights' rounding: default tolerance
    fm = MODELS.build(dict(type='FeatureMatchingLoss'))
    torch.testing.assert_close(fm(real, fake), sum(2 / 3 * d for ds in dists for d in ds))
    unit = MODELS.build(dict(type='FeatureMatchingLoss', layer_weights='unit',
                             scale_weights='unit'))
    torch.testing.assert_close(unit(real, fake), sum(d for ds in dists for d in ds))
    listed = MODELS.build(dict(type='FeatureMatchingLoss', layer_weights=(1, 2, 3),
                               scale_weights=(0.5, 2)))
    torch.testing.assert_close(listed(real, fake), sum(
        s * w * d for s, ds in zip((0.5, 2), dists) for w, d in zip((1, 2, 3), ds)))
    # pix2pixHD's 70x70 PatchGAN (n_layers_D = 3) gives N = 4: 4 / (3 + 1) = 1 per layer
    d = MODELS.build(dict(type='MultiScaleDiscriminator', num_scales=3, discriminator=dict(
        type='PatchGANDiscriminator', in_channels=4, base_channels=4, num_layers=3)))
    feats = d.forward_features(torch.randn(1, 4, 128, 128))
    assert [len(f) - 1 for f in feats] == [4, 4, 4]
    with pytest.raises(ValueError, match='scales'):
        fm(real, fake[:1])
    with pytest.raises(ValueError, match='same number'):
        fm(real, [fake[0], fake[1][:2]])
    with pytest.raises(ValueError, match='layer_weights has 2 weights, but the discriminator '
                                         'gives 3'):
        MODELS.build(dict(type='FeatureMatchingLoss', layer_weights=(1, 2)))(real, fake)
    with pytest.raises(ValueError, match='scale_weights must be one of'):
        MODELS.build(dict(type='FeatureMatchingLoss', scale_weights='mean'))


# ---------------------------------------------------------------------- eqs. 4-5
def loss_modules():
    torch.manual_seed(0)
    m, d = MODELS.build(tiny_m()), MODELS.build(tiny_d())
    m.init_weights()
    d.init_weights()
    return m, d, MODELS.build(dict(type='GANLoss', gan_type='vanilla')), tiny_vgg(), \
        MODELS.build(dict(type='FeatureMatchingLoss'))


def test_generator_and_discriminator_losses_match_hand_computation():
    m, d, gan, vgg, fm = loss_modules()
    omega = boltzmann_softmax(torch.randn(2, C, H, W), 0.5).requires_grad_()
    image = (torch.rand(2, 3, H, W) * 2 - 1).requires_grad_()
    losses, recon = reconstruction_generator_losses(m, d, omega, image, gan, vgg, fm, 0.3, 7.0)

    ref_recon = m(omega)
    fake = d.forward_features(torch.cat([omega, ref_recon], 1))
    real = d.forward_features(torch.cat([omega, image], 1))
    expected = dict(
        loss_adv=0.3 * sum(bce(s[-1], True) for s in fake),  # non-saturating: scored as real
        loss_vgg=7.0 * vgg(ref_recon, image),
        # pix2pixHD's normalisation: 3 scales of N = 2 layers, each (1 / 3) * (4 / 2)
        loss_fm=7.0 * sum(2 / 3 * (f - r).abs().mean() for rs, fs in zip(real, fake)
                          for r, f in zip(rs[:-1], fs[:-1])))
    torch.testing.assert_close(recon, ref_recon)
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value, msg=key)

    for key, loss in losses.items():  # every term reaches both M and omega, never the image
        g_omega, g_m = torch.autograd.grad(loss, [omega, m.layers[1].weight], retain_graph=True)
        assert g_omega.abs().sum() > 0 and g_m.abs().sum() > 0, key
    sum(losses.values()).backward()
    assert image.grad is None

    d_losses = reconstruction_discriminator_losses(d, omega, image, recon, gan)
    real_d = d(torch.cat([omega, image], 1).detach())
    fake_d = d(torch.cat([omega, recon], 1).detach())
    torch.testing.assert_close(d_losses['loss_real'], 0.5 * sum(bce(x, True) for x in real_d))
    torch.testing.assert_close(d_losses['loss_fake'], 0.5 * sum(bce(x, False) for x in fake_d))
    omega.grad = None
    sum(d_losses.values()).backward()
    assert omega.grad is None and image.grad is None  # the D step sees detached inputs


def test_feature_matching_real_pair_keeps_omega_attached():
    """Eq. 5 literally: D_k^(n)(omega, X) depends on omega, so omega's FM gradient has a term
    through the real pair; detaching the real side (pix2pixHD) would change it."""
    m, d, gan, vgg, fm = loss_modules()
    omega = boltzmann_softmax(torch.randn(1, C, H, W), 0.5).requires_grad_()
    image = torch.rand(1, 3, H, W) * 2 - 1
    losses, _ = reconstruction_generator_losses(m, d, omega, image, gan, vgg, fm, 1.0, 1.0)
    g_attached, = torch.autograd.grad(losses['loss_fm'], omega)
    recon = m(omega)
    real = [[t.detach() for t in s] for s in d.forward_features(torch.cat([omega, image], 1))]
    fake = d.forward_features(torch.cat([omega, recon], 1))
    g_detached, = torch.autograd.grad(fm(real, fake), omega)
    assert not torch.allclose(g_attached, g_detached)
    # pix2pixHD's form as an option: the real pair's features are constants
    pix2pixhd = MODELS.build(dict(type='FeatureMatchingLoss', detach_real=True))
    losses, _ = reconstruction_generator_losses(m, d, omega, image, gan, vgg, pix2pixhd, 1.0, 1.0)
    g_option, = torch.autograd.grad(losses['loss_fm'], omega)
    # the same ops in the same order, only the real side's graph cut: float32 default tolerance
    torch.testing.assert_close(g_option, g_detached)


def test_reconstruction_input_errors():
    m, d, gan, vgg, fm = loss_modules()
    omega, image = torch.rand(1, C, H, W), torch.rand(1, 3, H, W)
    with pytest.raises(ValueError, match='same batch and spatial size'):
        reconstruction_generator_losses(m, d, omega, image[..., :16], gan, vgg, fm, 1, 1)
    with pytest.raises(ValueError, match=f'in_channels must be 5 classes \\+ 3 = 8, got {C + 3}'):
        reconstruction_discriminator_losses(d, torch.rand(1, 5, H, W), image, image, gan)


# ---------------------------------------------------------------------- image space
def raw_batch(seed: int = 0, n: int = 2, labels: bool = True) -> dict:
    """uint8 BGR images as LoadImageFromFile gives them, labels with an ignored band."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
        if labels:
            label = torch.randint(0, C, (1, H, W), generator=g)
            label[:, :4] = 255
            s.gt_sem_seg = PixelData(data=label)
        samples.append(s)
    imgs = [torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8) for _ in range(n)]
    return dict(inputs=imgs, data_samples=samples)


@pytest.mark.parametrize('norm', [TOY_NORM, CAFFE_NORM, dict(type='ImgDataPreprocessor',
                                                              mean=[1.0, 2.0, 3.0],
                                                              std=[2.0, 2.0, 2.0],
                                                              bgr_to_rgb=True)],
                         ids=['rgb-imagenet', 'bgr-caffe', 'mmengine-rgb'])
def test_to_unit_rgb_round_trip(norm):
    preprocessor = MODELS.build(dict(norm, size_divisor=1)
                                if norm['type'] == 'SegDataPreProcessor' else norm)
    batch = raw_batch()
    inputs = preprocessor(copy.deepcopy(batch), True)['inputs']
    expected = torch.stack([img.flip(0).float() / 127.5 - 1 for img in batch['inputs']])  # RGB
    torch.testing.assert_close(to_unit_rgb(inputs, preprocessor), expected, atol=2e-5, rtol=0)


def test_to_unit_rgb_refuses_a_uda_preprocessor():
    common = {k: v for k, v in TOY_NORM.items() if k != 'type'}
    uda = MODELS.build(dict(type='UDADataPreprocessor', common=common))
    with pytest.raises(TypeError, match='data_preprocessor.source'):
        to_unit_rgb(torch.zeros(1, 3, 4, 4), uda)
    torch.testing.assert_close(to_unit_rgb(torch.zeros(1, 3, 4, 4), uda.source),
                               to_unit_rgb(torch.zeros(1, 3, 4, 4), uda.target))


def test_one_hot_labels():
    labels = torch.tensor([[[0, 2], [255, 1]]])
    omega = one_hot_labels(labels, 3)
    assert omega.shape == (1, 3, 2, 2) and omega.dtype == torch.float32
    assert omega[0, :, 1, 0].eq(0).all()  # ignored pixel: all-zero vector
    assert omega[0, 2, 0, 1] == 1 and omega.sum() == 3
    with pytest.raises(ValueError, match=r'outside \[0, 3\) \(model.num_classes\)'):
        one_hot_labels(torch.tensor([[[3]]]), 3)


# ---------------------------------------------------------------------- the pre-trainer
def sgd_wrappers(model):
    cfg = dict(reconstructor=dict(optimizer=dict(type='SGD', lr=LR_M)),
               recon_discriminator=dict(optimizer=dict(type='SGD', lr=LR_D)))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='UDAOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


def hand_losses(model, batch):
    """The pre-training losses from the raw batch, with plain torch ops."""
    image = torch.stack([img.flip(0).float() / 127.5 - 1 for img in batch['inputs']])
    labels = torch.stack([s.gt_sem_seg.data[0] for s in batch['data_samples']])
    valid = labels != 255
    omega = torch.stack([(labels == c) for c in range(C)], 1).float()
    assert omega.sum(1).eq(valid.float()).all()
    M, D = model.reconstructor, model.recon_discriminator
    recon = M(omega)
    fake = D.forward_features(torch.cat([omega, recon], 1))
    real = D.forward_features(torch.cat([omega, image], 1))
    g_terms = {
        'rec.loss_adv': 1.0 * sum(bce(s[-1], True) for s in fake),
        'rec.loss_vgg': 10.0 * model.perceptual(recon, image),
        # pix2pixHD's normalisation, (1 / 3 scales) * (4 / 2 layers) per layer
        'rec.loss_fm': 10.0 * sum(2 / 3 * (f - r).abs().mean() for rs, fs in zip(real, fake)
                                  for r, f in zip(rs[:-1], fs[:-1])),
    }
    pair_r, pair_f = torch.cat([omega, image], 1), torch.cat([omega, recon.detach()], 1)
    d_terms = {'disc.rec.loss_real': 0.5 * sum(bce(x, True) for x in D(pair_r)),
               'disc.rec.loss_fake': 0.5 * sum(bce(x, False) for x in D(pair_f))}
    return g_terms, d_terms


def test_train_step_matches_hand_computation_and_moves_params_in_their_own_step():
    torch.manual_seed(0)
    model = build_pretrainer()
    batch = raw_batch()
    ref = copy.deepcopy(model)
    # most of M's conv biases feed InstanceNorms, so their exact gradient is 0 while their
    # per-pixel terms are not: the update check needs those terms' sizes (issue 18, oneDNN off)
    summands = track_bias_summands(ref.reconstructor)
    g_terms, d_terms = hand_losses(ref, batch)
    m_params = list(ref.reconstructor.parameters())
    d_params = list(ref.recon_discriminator.parameters())
    g_m = torch.autograd.grad(sum(g_terms.values()), m_params)
    g_d = torch.autograd.grad(sum(d_terms.values()), d_params)

    wrappers = sgd_wrappers(model)
    assert set(wrappers.keys()) == {'reconstructor', 'recon_discriminator'}
    moved = record_steps(model, wrappers)
    log = model.train_step(batch, wrappers)

    for key, value in {**g_terms, **d_terms}.items():
        torch.testing.assert_close(log[key], value.detach(), rtol=1e-5, atol=1e-6, msg=key)
    assert moved == dict(reconstructor={'reconstructor'},
                         recon_discriminator={'recon_discriminator'})
    assert summands and all(bound.count for bound in summands.values())
    for p_new, p_old, g in zip(model.reconstructor.parameters(), m_params, g_m):
        assert_sgd_update(p_new, p_old, g, LR_M, summands.get(p_old))
    for p_new, p_old, g in zip(model.recon_discriminator.parameters(), d_params, g_d):
        assert_sgd_update(p_new, p_old, g, LR_D)


def test_checkpoint_keys_and_prefix_init_into_fresh_modules(tmp_path):
    torch.manual_seed(0)
    model = build_pretrainer()
    model.train_step(raw_batch(), sgd_wrappers(model))
    state = model.state_dict()
    assert {k.split('.')[0] for k in state} == {'reconstructor', 'recon_discriminator'}
    path = tmp_path / 'recon.pth'
    torch.save(dict(meta=dict(), state_dict=state), path)

    class LDRLike(BaseModule):  # the children LDR loads the pre-trained weights into
        def __init__(self):
            super().__init__()
            self.reconstructor = MODELS.build(dict(tiny_m(), init_cfg=dict(
                type='Pretrained', checkpoint=str(path), prefix='reconstructor.')))
            self.recon_discriminator = MODELS.build(dict(tiny_d(), init_cfg=dict(
                type='Pretrained', checkpoint=str(path), prefix='recon_discriminator.')))

    fresh = LDRLike()
    fresh.init_weights()
    for key, value in state.items():
        torch.testing.assert_close(fresh.state_dict()[key], value, msg=key)


def test_forward_reconstructs_labels_and_refuses_other_modes():
    model = build_pretrainer().eval()
    labels = torch.randint(0, C, (2, H, W))
    out = model(labels, mode='tensor')
    assert out.shape == (2, 3, H, W) and out.abs().max() <= 1
    torch.testing.assert_close(model(one_hot_labels(labels, C)), out)
    for mode in ('loss', 'predict'):
        with pytest.raises(RuntimeError, match="mode='tensor'"):
            model(labels, mode=mode)


def test_pretrainer_config_errors():
    with pytest.raises(ValueError, match=r'model.reconstructor maps 5 -> 3'):
        build_pretrainer(reconstructor=tiny_m(5))
    with pytest.raises(ValueError, match=r'in_channels must be 4 classes \+ 3 = 7, got 8'):
        build_pretrainer(recon_discriminator=tiny_d(5))
    with pytest.raises(TypeError, match='MultiScaleDiscriminator'):
        build_pretrainer(recon_discriminator=tiny_d()['discriminator'])
    model = build_pretrainer()
    uda_batch = dict(inputs=dict(source=raw_batch()['inputs'], target=raw_batch()['inputs']),
                     data_samples=dict(source=raw_batch()['data_samples']))
    with pytest.raises(TypeError, match='UDADataset'):
        model.prepare_batch(uda_batch)
    with pytest.raises(KeyError, match='LoadAnnotations'):
        model.train_step(raw_batch(labels=False), sgd_wrappers(model))


def test_defaults_are_the_paper_architecture():
    model = MODELS.build(dict(type='LabelReconstructionPretrainer', num_classes=19,
                              data_preprocessor=CAFFE_NORM))
    assert model.reconstructor.in_channels == 19 and model.reconstructor.out_channels == 3
    assert sum(isinstance(m, nn.Module) and type(m).__name__ == 'ResidualBlock'
               for m in model.reconstructor.modules()) == 9
    assert len(model.recon_discriminator.scales) == 3
    assert model.recon_discriminator.in_channels == 22
    assert model.adv_weight == 1.0 and model.rec_weight == 10.0
    assert model.gan_loss.gan_type == 'vanilla'
    assert model.perceptual.layer_weights == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1)  # pix2pixHD
    assert model.feature_matching.layer_weights == 'pix2pixhd'
    assert model.feature_matching.scale_weights == 'pix2pixhd'


# ---------------------------------------------------------------------- configs and tools
PRETRAIN_AND_LDR = [
    ('ldr-recon-pretrain_resnet9_1xb1-100k_gta5-1280x720.py',
     'ldr-stage0_dlv2-r101_1xb1-80k_gta5-1280x720_cityscapes-t2s-1024x512.py'),
    ('ldr-recon-pretrain_resnet9_1xb1-100k_synthia-1280x760.py',
     'ldr-stage0_dlv2-r101_1xb1-80k_synthia-1280x760_cityscapes-t2s-1024x512.py'),
    ('ldr-recon-pretrain_toy_1xb4-600_toy-source.py',
     'ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py'),
]


@pytest.mark.parametrize('pretrain,stage', PRETRAIN_AND_LDR, ids=['gta5', 'synthia', 'toy'])
def test_pretrained_m_and_d_fit_the_ldr_models(pretrain, stage):
    """The pre-training config builds the M and D_k of the LDR config that loads it."""
    from mmengine.config import Config

    from conftest import REPO
    ldr = REPO / 'configs/ldr'
    ours, theirs = Config.fromfile(str(ldr / pretrain)), Config.fromfile(str(ldr / stage))
    for child in ('reconstructor', 'recon_discriminator'):
        cfg = copy.deepcopy(theirs.model[child])
        cfg.pop('init_cfg', None)  # points at the pre-training checkpoint
        shapes = [{k: v.shape for k, v in MODELS.build(c).state_dict().items()}
                  for c in (ours.model[child], cfg)]
        assert shapes[0] == shapes[1], f'{pretrain} vs {stage}: {child}'


def test_toy_pretraining_trains_through_tools_train(toy_root, tmp_path):
    """A few iterations of the toy config with tools/train.py; its checkpoint holds M and the
    D_k only and initialises fresh modules through init_cfg prefixes."""
    import json
    import subprocess
    import sys

    from mmengine.config import Config

    from conftest import REPO
    cfg = Config.fromfile(str(REPO / 'configs/ldr/ldr-recon-pretrain_toy_1xb4-600_toy-source.py'))
    iters = 3
    cfg.work_dir = str(tmp_path)
    cfg.model.reconstructor.update(base_channels=4, num_blocks=1)
    cfg.model.recon_discriminator.discriminator.update(base_channels=4)
    cfg.model.perceptual.width_divisor = 16
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = str(toy_root / 'source')
    cfg.train_cfg.max_iters = iters
    for sched in cfg.param_scheduler.values():
        sched[0].end = iters + 1
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.dump(str(tmp_path / 'cfg.py'))
    proc = subprocess.run([sys.executable, str(REPO / 'tools/train.py'), str(tmp_path / 'cfg.py')],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    logged = [json.loads(line) for path in tmp_path.glob('*/vis_data/scalars.json')
              for line in path.read_text().splitlines()]
    assert [r['iter'] for r in logged] == list(range(1, iters + 1))
    for key in ('rec.loss_adv', 'rec.loss_vgg', 'rec.loss_fm', 'disc.rec.loss_real',
                'disc.rec.loss_fake', 'reconstructor.lr', 'recon_discriminator.lr'):
        assert all(np.isfinite(r[key]) for r in logged), key
    lrs = [r['reconstructor.lr'] for r in logged]  # linear to zero after the last iteration
    np.testing.assert_allclose(lrs, [2e-4 * (1 - i / iters) for i in range(iters)])

    ckpt = tmp_path / f'iter_{iters}.pth'
    saved = torch.load(ckpt, weights_only=True)['state_dict']
    assert {k.split('.')[0] for k in saved} == {'reconstructor', 'recon_discriminator'}
    for child in ('reconstructor', 'recon_discriminator'):
        fresh = MODELS.build(dict(cfg.model[child], init_cfg=dict(
            type='Pretrained', checkpoint=str(ckpt), prefix=f'{child}.')))
        fresh.init_weights()
        for key, value in fresh.state_dict().items():
            torch.testing.assert_close(value, saved[f'{child}.{key}'], msg=key)
