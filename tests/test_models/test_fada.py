"""FADA: domain encodings, the soft-label loss, and one train_step against a hand computation."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from conftest import NUM_CLASSES, record_steps, tiny_segmentor
from test_models.test_adaptsegnet import LR_D, LR_SEG, make_batch, sgd_wrappers

H, W = 32, 64
T, CONF, LAMBDA = 1.8, 0.9, 0.001
FEAT = 64  # layer4 width of the tiny segmentor


def build_fada(encoding: str = 'soft', d_classes: int = NUM_CLASSES, in_channels: int = FEAT,
               **kwargs):
    model = MODELS.build(dict(
        type='FADA', segmentor=tiny_segmentor(aux=False), domain_encoding=encoding,
        discriminators=dict(fine=dict(type='FineGrainedDiscriminator', in_channels=in_channels,
                                      num_classes=d_classes, channels=(16, 8))),
        **kwargs))
    model.init_weights()
    return model


def sharpen(model, factor: float = 40.0) -> None:
    """Scale the classifier so that some probabilities exceed the clipping value."""
    with torch.no_grad():
        for conv in model.segmentor.decode_head.branches:
            conv.weight.mul_(factor)


def hand_losses(model, batch):
    """FADA's losses (reference-facts section 6) written out with plain torch ops."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    xs, xt = data['inputs']['source'], data['inputs']['target']
    gt = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']['source']])
    seg, D = model.segmentor, model.discriminators['fine']
    up = lambda x: F.interpolate(x, size=(H, W), mode='bilinear', align_corners=True)  # noqa
    fs, ft = seg.extract_feat(xs), seg.extract_feat(xt)
    zs, zt = up(seg.decode_head(fs)), up(seg.decode_head(ft))
    qs = F.softmax(zs.detach() / T, 1).clamp(max=CONF)
    qt = F.softmax(zt.detach() / T, 1).clamp(max=CONF)
    zero = torch.zeros_like(qs)

    def soft_ce(d_out, target):
        return -(target * F.log_softmax(up(d_out), 1)).sum(1).mean()

    seg_terms = {
        'src.decode.loss_ce': F.cross_entropy(zs / T, gt, ignore_index=255),
        'adv.fine.loss_gen': LAMBDA * soft_ce(D(ft[-1]), torch.cat([qt, zero], 1)),
    }
    d_terms = {
        'disc.fine.loss_src': 0.5 * soft_ce(D(fs[-1].detach()), torch.cat([qs, zero], 1)),
        'disc.fine.loss_tgt': 0.5 * soft_ce(D(ft[-1].detach()), torch.cat([zero, qt], 1)),
    }
    clipped = (F.softmax(zt.detach() / T, 1) > CONF).float().mean()
    return seg_terms, d_terms, clipped


def test_train_step_matches_hand_computation_and_moves_params_in_their_own_step():
    torch.manual_seed(0)
    model = build_fada()
    sharpen(model)
    batch = make_batch()
    ref = copy.deepcopy(model)
    seg_terms, d_terms, clipped = hand_losses(ref, batch)
    assert clipped > 0.05, 'the batch must exercise confidence clipping'
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
    for p_new, p_old, g in zip(model.discriminators.parameters(), d_params, g_d):
        torch.testing.assert_close(p_new, (p_old - LR_D * g).detach(), rtol=1e-4, atol=1e-6)


def test_source_temperature_is_an_option():
    torch.manual_seed(0)
    model = build_fada(source_temperature=False)
    batch = make_batch()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    gt = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']['source']])
    logits = model.segmentor.decode_head(model.segmentor.extract_feat(data['inputs']['source']))
    logits = F.interpolate(logits, size=(H, W), mode='bilinear', align_corners=True)
    expected = F.cross_entropy(logits, gt, ignore_index=255)
    log = model.train_step(batch, sgd_wrappers(model))
    torch.testing.assert_close(log['src.decode.loss_ce'], expected.detach(), rtol=1e-5, atol=0)


def test_domain_encodings_on_hand_made_logits():
    from mmuda.models.uda.domain_encoding import class_knowledge, domain_targets
    # two pixels, three classes: one confident (after T), one uncertain
    logits = torch.tensor([[10.0, 0.0, 0.0], [0.3, 0.2, 0.1]]).T.reshape(1, 3, 1, 2) * T
    prob = F.softmax(logits / T, 1)
    soft, valid = class_knowledge(logits, 'soft', T, CONF)
    assert valid is None
    torch.testing.assert_close(soft[0, :, 0, 0], torch.tensor([CONF, *prob[0, 1:, 0, 0]]))
    torch.testing.assert_close(soft[0, :, 0, 1], prob[0, :, 0, 1])  # nothing above 0.9
    hard, valid = class_knowledge(logits, 'hard', T, CONF)
    assert valid.tolist() == [[[[True, False]]]]
    assert hard[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0] and hard[0, :, 0, 1].sum() == 0
    binary, valid = class_knowledge(logits, 'binary', T, CONF)
    assert valid is None and binary.shape == (1, 1, 1, 2) and binary.eq(1).all()
    both = domain_targets(soft, is_source=False)
    assert both.shape[1] == 6 and both[:, :3].eq(0).all() and torch.equal(both[:, 3:], soft)
    with pytest.raises(ValueError, match='domain encoding'):
        class_knowledge(logits, 'onehot')


def test_soft_label_cross_entropy_with_ignored_pixels():
    loss = MODELS.build(dict(type='SoftLabelCrossEntropyLoss'))
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]]).T.reshape(1, 2, 1, 2)
    target = torch.tensor([[0.5, 0.5], [1.0, 0.0]]).T.reshape(1, 2, 1, 2)
    per_pixel = torch.tensor([torch.log(torch.tensor(2.0)),
                              -F.log_softmax(torch.tensor([2.0, 0.0]), 0)[0]])
    torch.testing.assert_close(loss(logits, target), per_pixel.mean())
    valid = torch.tensor([False, True]).reshape(1, 1, 1, 2)
    torch.testing.assert_close(loss(logits, target, valid), per_pixel[1])
    assert loss(logits, target, torch.zeros_like(valid)) == 0


@pytest.mark.parametrize('encoding,d_classes', [('hard', NUM_CLASSES), ('binary', 1)])
def test_other_encodings_train(encoding, d_classes):
    torch.manual_seed(0)
    model = build_fada(encoding, d_classes)
    sharpen(model, 200.0)
    before = copy.deepcopy(model.discriminators.state_dict())
    log = model.train_step(make_batch(), sgd_wrappers(model))
    assert all(torch.isfinite(v) for v in log.values())
    assert log['disc.fine.loss_src'] > 0 and log['disc.fine.loss_tgt'] > 0
    assert any(not torch.equal(v, model.discriminators.state_dict()[k])
               for k, v in before.items())


def test_adversarial_steps_make_target_features_source_like_for_their_class():
    """With the supervised loss off and a fixed D, the generator term falls: D now finds the
    target features more likely to be source features of their own (predicted) class."""
    torch.manual_seed(0)
    model = build_fada(adv_weight=1.0)
    model.segmentor.decode_head.loss_decode.loss_weight = 0.0
    wrappers = sgd_wrappers(model)
    batch = make_batch()
    for _ in range(3):  # give D something to judge with
        model.train_step(batch, wrappers)
    wrappers['discriminators'].step = lambda **kw: None
    first = model.train_step(batch, wrappers)['adv.fine.loss_gen']
    for _ in range(5):
        last = model.train_step(batch, wrappers)['adv.fine.loss_gen']
    assert last < first


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r'model\.discriminators\.fine\.num_classes is 7'):
        build_fada('binary', NUM_CLASSES)
    with pytest.raises(ValueError, match=r'model\.domain_encoding'):
        build_fada('onehot')
    with pytest.raises(KeyError, match=r'model\.discriminators\.fine'):
        MODELS.build(dict(type='FADA', segmentor=tiny_segmentor(aux=False), discriminators=dict(
            main=dict(type='FineGrainedDiscriminator', in_channels=FEAT,
                      num_classes=NUM_CLASSES))))
    model = build_fada(in_channels=32)
    with pytest.raises(ValueError, match=r'model\.discriminators\.fine\.in_channels is 32'):
        model.train_step(make_batch(), sgd_wrappers(model))
    model = build_fada(feature_index=5)
    with pytest.raises(IndexError, match=r'model\.feature_index is 5'):
        model.train_step(make_batch(), sgd_wrappers(model))


def test_toy_stages_train_end_to_end(toy_root, tmp_path):
    """The warm-up config trains source-only; the FADA config starts from its checkpoint
    (load_from), continues its run (iterations 2 -> 4) and logs every FADA term.
    tests/test_engine/test_warmup_continuation_hook.py checks what the continuation restores."""
    from mmengine.runner import Runner

    from conftest import REPO, toy_cfg
    toy = REPO / 'configs/fada'
    tiny_d = dict(fine=dict(in_channels=FEAT, channels=(8, 8)))
    warm = toy_cfg(toy / 'fada-warmup_dlv2-r18-toy_1xb4-200_toy-source_toy-target.py',
                   toy_root, tmp_path / 'warm', iters=2)
    warm.model.segmentor = tiny_segmentor(aux=False)
    warm.param_scheduler.segmentor[0].end = 4  # the schedule the stage continues
    Runner.from_cfg(warm).train()
    ckpt = tmp_path / 'warm' / 'iter_2.pth'
    adapt = toy_cfg(toy / 'fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py', toy_root,
                    tmp_path / 'adapt', iters=4, load_from=str(ckpt))
    adapt.model.segmentor = tiny_segmentor(aux=False)
    adapt.model.discriminators.fine.update(tiny_d['fine'])
    adapt.visualizer.name = 'fada_adapt'  # a second Runner in this process needs its own
    runner = Runner.from_cfg(adapt)
    runner.load_or_resume()
    warm_state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    for key, value in runner.model.segmentor.state_dict().items():
        assert torch.equal(value, warm_state[f'segmentor.{key}']), key
    runner.train()
    assert (tmp_path / 'adapt' / 'iter_4.pth').is_file()
    scalars = (next((tmp_path / 'adapt').glob('*/vis_data/scalars.json'))).read_text()
    for key in ('src.decode.loss_ce', 'adv.fine.loss_gen', 'disc.fine.loss_src',
                'disc.fine.loss_tgt', 'mIoU'):
        assert key in scalars, key


def test_self_distillation_stage_trains_on_argmax_pseudo_labels(toy_root, tmp_path):
    """Adapted model -> tools/generate_pseudo_labels.py --policy argmax -> the toy
    self-distillation config (a plain segmentor) trains on the labels it wrote."""
    import json
    import os
    import subprocess
    import sys

    import numpy as np
    from mmengine.config import Config
    from mmengine.runner import Runner
    from PIL import Image

    from conftest import REPO, TOY_FADA, toy_cfg
    adapt = toy_cfg(TOY_FADA, toy_root, tmp_path / 'adapt', iters=1)
    adapt.visualizer.name = 'fada_sd_adapt'
    Runner.from_cfg(adapt).train()
    adapt.dump(str(tmp_path / 'adapt.py'))
    labels = tmp_path / 'labels'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/generate_pseudo_labels.py'), str(tmp_path / 'adapt.py'),
         str(tmp_path / 'adapt' / 'iter_1.pth'), '--policy', 'argmax', '--out-dir', str(labels),
         '--num-workers', '0'],
        cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    pngs = sorted(labels.rglob('*_gtFine_labelTrainIds.png'))
    assert len(pngs) == 8  # every target train image, no threshold: no ignored pixel
    assert all(np.asarray(Image.open(p)).max() < NUM_CLASSES for p in pngs)
    assert json.loads((labels / 'pseudo_labels.json').read_text())['policy'] == 'argmax'

    sd = Config.fromfile(str(REPO / 'configs/fada/fada-sd_dlv2-r18-toy_1xb4-1600_toy-target-'
                                    'pseudo.py'))
    assert sd.model.type == 'EncoderDecoder' and sd.model_wrapper_cfg is None
    sd.work_dir = str(tmp_path / 'sd')
    # the config's own data preprocessor: a plain segmentor needs `size` to stack its batch
    assert sd.model.data_preprocessor.size == sd.crop_size
    sd.model = dict(tiny_segmentor(aux=False), data_preprocessor=sd.model.data_preprocessor)
    train = sd.train_dataloader
    train.update(batch_size=2, num_workers=0, persistent_workers=False)
    train.dataset.data_prefix = dict(img_path=str(toy_root / 'target/leftImg8bit/train'),
                                     seg_map_path=str(labels))
    train.dataset.pipeline[2].scale = (64, 32)  # the test images are 32x64
    train.dataset.pipeline[3].crop_size = (32, 32)
    for name in ('val_dataloader', 'test_dataloader'):
        sd[name].update(num_workers=0, persistent_workers=False)
        sd[name].dataset.data_root = str(toy_root / 'target')
    sd.train_cfg.update(max_iters=2, val_interval=2)
    sd.param_scheduler[0].end = 2
    sd.default_hooks.logger.interval = 1
    sd.default_hooks.checkpoint.update(interval=2)
    sd.default_hooks.visualization.draw = False
    sd.visualizer.name = 'fada_sd'
    Runner.from_cfg(sd).train()
    scalars = next((tmp_path / 'sd').glob('*/vis_data/scalars.json')).read_text()
    assert 'decode.loss_ce' in scalars and 'mIoU' in scalars


def test_mst_config_is_the_reference_multi_scale_recipe():
    """FADA-MST (Table 3: self-distillation + multi-scale testing): the self-distilled model at
    its own scale, 2048x1024 scaled by 0.7 / 1.0 / 1.3, each with and without flip (test.py of
    the reference code), probabilities averaged by SegTTAModel; single-scale evaluation at full
    resolution."""
    from mmengine.config import Config

    from conftest import REPO
    cfg = Config.fromfile(str(REPO / 'configs/fada/fada-sd-mst_dlv2-r101-tv_1xb8-20k_'
                                     'cityscapes-pseudo-512x1024.py'))
    resize, flip = cfg.tta_pipeline[1]['transforms'][:2]
    assert [t['scale'] for t in resize] == [(int(2048 * r), int(1024 * r)) for r in (0.7, 1, 1.3)]
    assert sorted(t['prob'] for t in flip) == [0.0, 1.0] and cfg.tta_model.type == 'SegTTAModel'
    assert not any(t['type'] == 'Resize' for t in cfg.test_dataloader.dataset.pipeline)
