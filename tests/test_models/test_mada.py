"""Multi-adversarial training (paper 004): patch discriminators, the fusion decoder, one
train_step against a hand computation, the adversarial confidence, proxy labels and the toy
pipeline end to end."""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS, MODELS
from PIL import Image

from conftest import NUM_CLASSES, REPO, record_steps, tiny_segmentor, toy_cfg
from mmuda.pseudo_labels import PseudoLabelGenerator, resolve_dataset_cfg
from test_models.test_adaptsegnet import LR_D, LR_SEG, make_batch, sgd_wrappers

H, W = 32, 64
L3, L4 = 32, 64  # layer3 / layer4 widths of the tiny segmentor
LAMBDA_SEG, LAMBDA_1, LAMBDA_2 = 0.5, 0.01, 0.002
TOY = REPO / 'configs/mada'
TOY_WARMUP = TOY / 'mada-warmup_dlv2-r18-toy_1xb4-200_toy-source_toy-target.py'
TOY_MADA = TOY / 'mada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py'
TOY_PROXY = TOY / 'mada-proxy_dlv2-r18-toy_1xb4-1600_toy-target-proxy.py'
TOY_PROXY_FT = TOY / 'mada-proxy-ft_dlv2-r18-toy_1xb4-600_toy-target-proxy.py'


def patch_d(in_channels: int, num_downsamples: int = 2, **kwargs) -> dict:
    return dict(type='PatchDiscriminator', in_channels=in_channels,
                num_downsamples=num_downsamples, channels=(8, 8, 8), **kwargs)


def build_mada(segmentor: dict = None, discriminators: dict = None, **kwargs):
    """Tiny plain DeepLab-v2: D1 (`high`) on layer4, D2 (`mid`) on layer3, both at 1/8."""
    if discriminators is None:
        discriminators = dict(high=patch_d(L4), mid=patch_d(L3))
    cfg = dict(
        type='MultiAdversarial', segmentor=segmentor or tiny_segmentor(aux=False),
        discriminators=discriminators,
        adv_features=dict(high=-1, mid=0), adv_weights=dict(high=LAMBDA_1, mid=LAMBDA_2))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def fusion_segmentor() -> dict:
    """The tiny segmentor with torchvision-style strides (exact 1/8 features) and the
    FusionDecoder neck: features (layer3, layer4, F at 1/4)."""
    seg = tiny_segmentor(aux=False)
    seg['backbone'].update(style='pytorch', contract_dilation=True, ceil_mode_pool=False)
    seg['neck'] = dict(type='FusionDecoder', in_channels=(L3, L4), fuse_indices=(1, 0),
                       channels=16, dilation=2, upsample_factor=2.0)
    seg['decode_head'].update(in_channels=16, in_index=-1, dilations=(1, 2, 4, 8))
    return seg


# ---------------------------------------------------------------------- modules
def test_patch_discriminator_reaches_1_32_from_both_taps():
    """An image of 256x512: F at 1/4 with 3 poolings and F_l at 1/8 with 2 both give 8x16."""
    d1 = MODELS.build(patch_d(16, 3))
    d2 = MODELS.build(patch_d(L3, 2))
    assert d1(torch.randn(2, 16, 64, 128)).shape == (2, 1, 8, 16)
    assert d2(torch.randn(2, L3, 32, 64)).shape == (2, 1, 8, 16)
    # DeepLab-v2's ceil-mode pool gives 65x129 at 1/8 of 512x1024: ceil-mode pooling -> 17x33
    assert d2(torch.randn(1, L3, 65, 129)).shape == (1, 1, 17, 33)
    layers = [type(m).__name__ for m in d1.layers]
    assert layers.count('AvgPool2d') == 3 and layers.count('LeakyReLU') == 3
    assert all(m.negative_slope == 0.2 for m in d1.layers if isinstance(m, torch.nn.LeakyReLU))
    assert all(m.stride == (1, 1) for m in d1.layers if isinstance(m, torch.nn.Conv2d))
    with pytest.raises(ValueError, match='num_downsamples'):
        MODELS.build(patch_d(16, 4))
    with pytest.raises(ValueError, match='in_channels'):
        d1(torch.randn(1, 8, 64, 128))


def test_patch_discriminators_on_the_fusion_model_output_1_32_for_both_taps():
    model = build_mada(fusion_segmentor(), dict(high=patch_d(16, 3), mid=patch_d(L3, 2)))
    x = torch.randn(2, 3, 256, 512)
    out = model.forward_heads(x)
    assert [tuple(f.shape[2:]) for f in out['feats']] == [(32, 64), (32, 64), (64, 128)]
    for name in ('high', 'mid'):
        assert model.judge(name, model.tap(out, name), x.shape[2:]).shape == (2, 1, 8, 16)


def test_fusion_decoder_resolution_channels_and_hand_computation():
    torch.manual_seed(0)
    neck = MODELS.build(dict(type='FusionDecoder', in_channels=(L3, L4), fuse_indices=(1, 0),
                             channels=128, dilation=2, upsample_factor=2.0))
    l3, l4 = torch.randn(2, L3, 8, 16), torch.randn(2, L4, 8, 16)
    out = neck((l3, l4))
    assert len(out) == 3 and out[0] is l3 and out[1] is l4
    assert out[2].shape == (2, 128, 16, 32) and neck.out_channels == 128
    r4 = F.relu(neck.reduce[0].conv(l4))
    r3 = F.relu(neck.reduce[1].conv(l3))
    up = F.interpolate(r4 + r3, size=(16, 32), mode='bilinear', align_corners=False)
    conv = neck.fuse.conv
    assert conv.dilation == (2, 2) and conv.kernel_size == (3, 3)
    expected = F.relu(F.conv2d(up, conv.weight, conv.bias, padding=2, dilation=2))
    torch.testing.assert_close(out[2], expected)
    # the other way to 1/4: also fuse layer1, no final upsampling; keep_inputs=False
    neck = MODELS.build(dict(type='FusionDecoder', in_channels=(8, L3, L4),
                             fuse_indices=(2, 1, 0), upsample_factor=1.0, keep_inputs=False))
    l1 = torch.randn(2, 8, 16, 32)
    (fused,) = neck((l1, l3, l4))
    assert fused.shape == (2, 128, 16, 32)
    with pytest.raises(IndexError, match='fuse_indices'):
        MODELS.build(dict(type='FusionDecoder', in_channels=(L3, L4), fuse_indices=(2, 0)))
    with pytest.raises(ValueError, match='out_indices'):
        neck((l3, l4))


# ---------------------------------------------------------------------- training
def hand_losses(model, batch):
    """Eqs. 2-4 written out: BCE with source 1 / target 0, output cells averaged."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    xs, xt = data['inputs']['source'], data['inputs']['target']
    gt = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']['source']])
    seg = model.segmentor
    fs, ft = seg.extract_feat(xs), seg.extract_feat(xt)
    logits = F.interpolate(seg.decode_head(fs), size=(H, W), mode='bilinear',
                           align_corners=True)
    bce = F.binary_cross_entropy_with_logits
    d1, d2 = model.discriminators['high'], model.discriminators['mid']
    ones, zeros = torch.ones_like, torch.zeros_like
    seg_terms = {
        'src.decode.loss_ce': LAMBDA_SEG * F.cross_entropy(logits, gt, ignore_index=255),
        'adv.high.loss_gen': LAMBDA_1 * bce(d1(ft[1]), ones(d1(ft[1]))),
        'adv.mid.loss_gen': LAMBDA_2 * bce(d2(ft[0]), ones(d2(ft[0]))),
    }
    d_terms = {}
    for name, disc, level in (('high', d1, 1), ('mid', d2, 0)):
        out_s, out_t = disc(fs[level].detach()), disc(ft[level].detach())
        d_terms[f'disc.{name}.loss_src'] = bce(out_s, ones(out_s))
        d_terms[f'disc.{name}.loss_tgt'] = bce(out_t, zeros(out_t))
    return seg_terms, d_terms


def test_train_step_matches_hand_computation_and_moves_params_in_their_own_step():
    torch.manual_seed(0)
    model = build_mada(lambda_seg=LAMBDA_SEG)
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
    assert 'disc.high.acc' in log and 0 <= float(log['disc.high.acc']) <= 1
    assert moved == dict(segmentor={'segmentor'}, discriminators={'discriminators'})
    for p_new, p_old, g in zip([p for p in model.segmentor.parameters() if p.requires_grad],
                               seg_params, g_seg):
        expected = p_old if g is None else p_old - LR_SEG * g
        torch.testing.assert_close(p_new, expected.detach(), rtol=1e-4, atol=1e-6)
    # D moved by eqs. 2-3 only: the segmentor's adversarial terms did not leak into D
    for p_new, p_old, g in zip(model.discriminators.parameters(), d_params, g_d):
        torch.testing.assert_close(p_new, (p_old - LR_D * g).detach(), rtol=1e-4, atol=1e-6)


def test_adversarial_term_uses_the_source_label_one():
    """With D's last bias pushed to +20 (sure "source"), the generator term is ~0; at -20 it
    is ~20 * lambda: the segmentor is scored against label 1."""
    torch.manual_seed(0)
    model = build_mada()
    for bias, expected in ((20.0, 0.0), (-20.0, 20.0)):
        for disc in model.discriminators.values():
            with torch.no_grad():
                disc.layers[-1].weight.zero_()
                disc.layers[-1].bias.fill_(bias)
        log = model.train_step(make_batch(), sgd_wrappers(model))
        assert log['adv.high.loss_gen'].item() == pytest.approx(LAMBDA_1 * expected, abs=1e-6)
        assert log['adv.mid.loss_gen'].item() == pytest.approx(LAMBDA_2 * expected, abs=1e-6)


def test_output_space_tap_trains():
    torch.manual_seed(0)
    model = build_mada(discriminators=dict(high=patch_d(NUM_CLASSES), mid=patch_d(L3)),
                       adv_features=dict(high='main', mid=0))
    log = model.train_step(make_batch(), sgd_wrappers(model))
    assert all(torch.isfinite(v) for v in log.values())


@pytest.mark.parametrize('fusion', [False, True], ids=['plain', 'fusion'])
def test_concatenated_forward_equals_two_passes(fusion):
    """The one-pass source+target forward gives the same losses and updates (GroupNorm
    backbone, no norm in the fusion decoder)."""
    torch.manual_seed(0)
    fast = build_mada(fusion_segmentor(), dict(high=patch_d(16, 3), mid=patch_d(L3))) \
        if fusion else build_mada()
    plain = copy.deepcopy(fast)
    plain.concat_forward = False
    batch = make_batch()
    log_fast = fast.train_step(copy.deepcopy(batch), sgd_wrappers(fast))
    log_plain = plain.train_step(copy.deepcopy(batch), sgd_wrappers(plain))
    assert fast._batch_independent() and log_fast.keys() == log_plain.keys()
    for key in log_fast:
        torch.testing.assert_close(log_fast[key], log_plain[key], rtol=1e-4, atol=1e-6,
                                   msg=key)
    for (name, p_fast), p_plain in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p_fast, p_plain, rtol=1e-4, atol=1e-6, msg=name)


# ---------------------------------------------------------------------- confidence
def fixed_discriminators(model, outputs: dict) -> None:
    """Replace each discriminator's output by a fixed logit map."""
    for name, logits in outputs.items():
        model.discriminators[name].forward = lambda x, logits=logits: logits


def upsampled(values: torch.Tensor) -> torch.Tensor:
    return F.interpolate(values, size=(H, W), mode='bilinear', align_corners=False)


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Per image, by hand: (x - min) / (max - min), 0.5 for a constant map."""
    out = []
    for m in maps:
        span = m.max() - m.min()
        out.append((m - m.min()) / span if span > 0 else torch.full_like(m, 0.5))
    return torch.stack(out)


def test_adversarial_confidence_on_a_hand_made_case():
    torch.manual_seed(0)
    model = build_mada()
    # D1: 1x2 cells, image 1 constant; D2: 1x3 cells whose maximum is the middle cell, which
    # bilinear upsampling to 64 columns never hits exactly: normalising after upsampling (the
    # default, confidence_norm='per_image_minmax') still reaches 1, normalising before would not
    high = torch.tensor([[0.0, 2.0], [1.0, 1.0]]).view(2, 1, 1, 2)
    mid = torch.tensor([[-1.0, 3.0, 0.0], [0.0, 4.0, 1.0]]).view(2, 1, 1, 3)
    fixed_discriminators(model, dict(high=high, mid=mid))
    x = torch.randn(2, 3, H, W)
    model.train()  # mode-agnostic: the mode is left as it is
    a = model.adversarial_confidence(x)
    assert model.training and a.shape == (2, 1, H, W) and not a.requires_grad
    up_high, up_mid = upsampled(high.sigmoid()), upsampled(mid.sigmoid())  # source label 1
    assert up_mid[0].max() < mid[0].sigmoid().max()  # the peak is not an upsampled pixel
    expected = (minmax(up_high) + minmax(up_mid)) / 2
    torch.testing.assert_close(a, expected)
    assert minmax(up_mid)[0].max() == 1.0 and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a[1, 0, :, 0], (0.5 + minmax(up_mid)[1, 0, :, 0]) / 2)  # D1 flat
    # 'logit': the raw outputs are normalised instead of their sigmoid
    model.confidence_input = 'logit'
    torch.testing.assert_close(model.adversarial_confidence(x),
                               (minmax(upsampled(high)) + minmax(upsampled(mid))) / 2)
    # 'none': the sigmoid probabilities averaged as they are
    model.confidence_input, model.confidence_norm = 'probability', 'none'
    model.eval()
    a = model.adversarial_confidence(x)
    torch.testing.assert_close(a, (up_high + up_mid) / 2)
    assert a[0, 0, 0, 0].item() == pytest.approx(
        (0.5 + torch.sigmoid(torch.tensor(-1.0)).item()) / 2)
    maps = model.visual_maps(x)
    torch.testing.assert_close(maps['adv_confidence'], a[:, 0])


def test_source_belief_follows_the_loss_labels():
    logits = torch.tensor([-2.0, 0.0, 3.0])
    model = build_mada()
    torch.testing.assert_close(model.source_belief(logits), logits.sigmoid())
    flipped = build_mada(adv_loss=dict(type='AdversarialLoss'))  # AdaptSegNet's 0 / 1
    torch.testing.assert_close(flipped.source_belief(logits), 1 - logits.sigmoid())
    lsgan = build_mada(adv_loss=dict(type='AdversarialLoss', gan_type='lsgan',
                                     source_label=1.0, target_label=0.0))
    torch.testing.assert_close(lsgan.source_belief(logits), torch.tensor([0.0, 0.0, 1.0]))


# ---------------------------------------------------------------------- proxy labels
def test_adversarial_proxy_labels_from_the_model_end_to_end(toy_root, tmp_path):
    cfg = toy_cfg(TOY_MADA, toy_root, tmp_path / 'work')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    dataset_cfg = resolve_dataset_cfg(cfg)
    out = tmp_path / 'labels'
    summary = PseudoLabelGenerator(dataset_cfg, dict(type='adversarial_proxy', p1=0.6, p2=0.8),
                                   str(out), progress=False).run(model)
    assert summary['status'] == 'complete' and summary['num_images'] == 8
    t1 = summary['thresholds']['t1']
    kept = sum(summary['kept_pixels'].values()) / summary['total_pixels']
    assert 0 < kept <= 0.6 + 0.02  # at most the p1 share survives refocusing
    dataset = DATASETS.build(dataset_cfg)
    for i in range(len(dataset)):
        data = model.data_preprocessor(pseudo_collate([dataset[i]]), False)
        adv = model.adversarial_confidence(data['inputs'])[0, 0]
        name = Path(data['data_samples'][0].img_path).name
        label = np.asarray(Image.open(out / 'toy' / name.replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png')))
        labelled = torch.from_numpy(label != 255)
        assert (adv[labelled] > t1).all(), name  # eq. 5: only where A > t1


# ---------------------------------------------------------------------- toy pipeline
def proxy_cfg(label_dir: Path, root: Path, work_dir: Path, iters: int = 2,
              config: Path = TOY_PROXY) -> Config:
    """A toy proxy stage shrunk for tests (toy_cfg expects a UDA config); the config's
    initialisation (init_cfg) is kept."""
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(work_dir)
    seg = tiny_segmentor(aux=False)
    if cfg.model.get('init_cfg') is not None:
        seg['init_cfg'] = cfg.model.init_cfg
    seg['data_preprocessor']['size'] = (32, 32)
    cfg.model = seg
    train = cfg.train_dataloader
    train.update(batch_size=2, num_workers=0, persistent_workers=False)
    train.dataset.data_prefix = dict(img_path=str(root / 'target/leftImg8bit/train'),
                                     seg_map_path=str(label_dir))
    train.dataset.pipeline[2].scale = (64, 32)  # the test images are 32x64
    train.dataset.pipeline[3].crop_size = (32, 32)
    for name in ('val_dataloader', 'test_dataloader'):
        cfg[name].update(num_workers=0, persistent_workers=False)
        cfg[name].dataset.data_root = str(root / 'target')
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    cfg.param_scheduler[0].end = iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=iters)
    cfg.default_hooks.visualization.draw = False
    cfg.randomness = dict(seed=0, deterministic=True)
    return cfg


def test_toy_pipeline_end_to_end(toy_root, tmp_path):
    """warm-up -> multi-adversarial stage (load_from) -> proxy labels with the tool -> a fresh
    plain segmentor trained on them."""
    from mmengine.runner import Runner
    warm = toy_cfg(TOY_WARMUP, toy_root, tmp_path / 'warm', iters=2)
    assert warm.model.type == 'UDASegmentor'
    Runner.from_cfg(warm).train()
    ckpt = tmp_path / 'warm' / 'iter_2.pth'
    adapt = toy_cfg(TOY_MADA, toy_root, tmp_path / 'adapt', iters=2, load_from=str(ckpt))
    adapt.visualizer.name = 'mada_adapt'  # a second Runner in this process needs its own
    runner = Runner.from_cfg(adapt)
    runner.load_or_resume()
    warm_state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    for key, value in runner.model.segmentor.state_dict().items():
        assert torch.equal(value, warm_state[f'segmentor.{key}']), key
    runner.train()
    scalars = next((tmp_path / 'adapt').glob('*/vis_data/scalars.json')).read_text()
    for key in ('src.decode.loss_ce', 'adv.high.loss_gen', 'adv.mid.loss_gen',
                'disc.high.loss_src', 'disc.mid.loss_tgt', 'disc.mid.acc', 'mIoU'):
        assert key in scalars, key

    adapt.dump(str(tmp_path / 'adapt.py'))
    labels = tmp_path / 'proxy_labels'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/generate_pseudo_labels.py'), str(tmp_path / 'adapt.py'),
         str(tmp_path / 'adapt' / 'iter_2.pth'), '--policy', 'adversarial_proxy', '--p1', '0.6',
         '--p2', '0.8', '--out-dir', str(labels), '--num-workers', '0'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert '8 pseudo-label maps' in proc.stdout
    summary = json.loads((labels / 'pseudo_labels.json').read_text())
    assert summary['policy'] == 'adversarial_proxy' and summary['options']['p1'] == 0.6

    proxy = proxy_cfg(labels, toy_root, tmp_path / 'proxy')
    assert proxy.model_wrapper_cfg is None and proxy.model.type == 'EncoderDecoder'
    proxy.visualizer.name = 'mada_proxy'
    Runner.from_cfg(proxy).train()
    scalars = next((tmp_path / 'proxy').glob('*/vis_data/scalars.json')).read_text()
    assert 'decode.loss_ce' in scalars and 'mIoU' in scalars

    # The paper's alternative: the proxy stage starts from the adapted segmentor.
    ft = proxy_cfg(labels, toy_root, tmp_path / 'proxy_ft', config=TOY_PROXY_FT)
    assert ft.model.init_cfg.prefix == 'segmentor.'
    ft.model.init_cfg.checkpoint = str(tmp_path / 'adapt' / 'iter_2.pth')
    ft.visualizer.name = 'mada_proxy_ft'
    runner = Runner.from_cfg(ft)
    runner._init_model_weights()
    adapted = torch.load(tmp_path / 'adapt' / 'iter_2.pth', map_location='cpu',
                         weights_only=True)['state_dict']
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, adapted[f'segmentor.{key}']), key
    runner.train()
    assert (tmp_path / 'proxy_ft' / 'iter_2.pth').is_file()


# ---------------------------------------------------------------------- config errors
def test_config_errors_name_the_key():
    with pytest.raises(KeyError, match=r'model\.adv_features needs one entry'):
        build_mada(adv_features=dict(high=-1))
    with pytest.raises(KeyError, match=r'model\.adv_weights needs one entry'):
        build_mada(adv_weights=dict(high=LAMBDA_1, low=LAMBDA_2))
    with pytest.raises(ValueError, match=r'model\.confidence_norm'):
        build_mada(confidence_norm='zscore')
    with pytest.raises(ValueError, match=r'model\.confidence_input'):
        build_mada(confidence_input='softmax')
    with pytest.raises(ValueError, match=r"model\.confidence_input='logit' needs"):
        build_mada(confidence_input='logit', confidence_norm='none')
    with pytest.raises(KeyError, match=r'model\.adv_features\.mid is .aux.'):
        build_mada(adv_features=dict(high=-1, mid='aux'))
    with pytest.raises(ValueError, match=r'model\.adv_features\.mid is .layer3.'):
        build_mada(adv_features=dict(high=-1, mid='layer3'))
    with pytest.raises(KeyError, match=r'at least one entry in model\.discriminators'):
        build_mada(discriminators={}, adv_features={}, adv_weights={})
    cases = [
        (dict(adv_features=dict(high=5, mid=0)), IndexError, r'model\.adv_features\.high is 5'),
        (dict(discriminators=dict(high=patch_d(L3), mid=patch_d(L3))), ValueError,
         r'model\.discriminators\.high\.in_channels is 32'),
        (dict(discriminators=dict(high=patch_d(L4, 0), mid=patch_d(L3))), ValueError,
         r'model\.discriminators\.high\.num_downsamples'),
    ]
    for kwargs, error, message in cases:
        model = build_mada(**kwargs)
        with pytest.raises(error, match=message):
            model.train_step(make_batch(), sgd_wrappers(model))
    model = build_mada(discriminators=dict(high=patch_d(L4, 0), mid=patch_d(L3)),
                       disc_output_stride=None)
    assert torch.isfinite(model.train_step(make_batch(), sgd_wrappers(model))['loss'])
