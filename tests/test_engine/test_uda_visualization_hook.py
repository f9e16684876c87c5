"""UDAVisualizationHook, the visual_maps of the models and the logged discriminator accuracy."""
import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner
from mmseg.registry import DATASETS, HOOKS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from PIL import Image

from conftest import NUM_CLASSES, TOY_ADAPTSEGNET, tiny_segmentor, toy_cfg
from mmuda.apis import colormap_lut, palette_lut
from mmuda.datasets.toy_domains import PALETTE
from mmuda.engine.model_wrappers import UDADataParallel

H, W = 32, 64
LUT = palette_lut(PALETTE)
VIRIDIS = colormap_lut('viridis')


def panel(image: np.ndarray, row: int, col: int) -> np.ndarray:
    return image[row * H:(row + 1) * H, col * W:(col + 1) * W]


def label_colors(image: np.ndarray) -> set:
    return {tuple(c) for c in image.reshape(-1, 3)}


# ---------------------------------------------------------------------- through the Runner
@pytest.fixture(scope='module')
def hook_run(toy_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('vis_hook')
    cfg = toy_cfg(TOY_ADAPTSEGNET, toy_root, work, iters=4,
                  custom_hooks=[dict(type='UDAVisualizationHook', interval=2)])
    # mmengine reuses a visualiser of the same name, and with it the save_dir of an earlier
    # in-process run: a name of its own sends this run's images to this work dir
    cfg.visualizer.name = f'visualizer_{work.name}'
    Runner.from_cfg(cfg).train()
    (vis_dir,) = work.glob('*/vis_data/vis_image')
    return vis_dir


def test_runner_writes_panels_at_the_interval(hook_run):
    assert sorted(p.name for p in hook_run.iterdir()) == [
        'uda_source_2.png', 'uda_source_4.png', 'uda_target_2.png', 'uda_target_4.png']
    for step in (2, 4):
        source = np.asarray(Image.open(hook_run / f'uda_source_{step}.png').convert('RGB'))
        target = np.asarray(Image.open(hook_run / f'uda_target_{step}.png').convert('RGB'))
        # 2 images per domain; source: image | gt | prediction,
        # target: image | prediction | disc.main | disc.aux (the multi-level AdaptSegNet)
        assert source.shape == (2 * H, 3 * W, 3)
        assert target.shape == (2 * H, 4 * W, 3)
        palette = {tuple(c) for c in PALETTE}
        for row in range(2):
            assert label_colors(panel(source, row, 1)) <= palette | {(0, 0, 0)}  # gt, ignore
            assert label_colors(panel(source, row, 2)) <= palette  # prediction
            assert label_colors(panel(target, row, 1)) <= palette
            for col in (2, 3):  # discriminator maps: colours of the colour map
                assert label_colors(panel(target, row, col)) <= {tuple(c) for c in VIRIDIS}


# ---------------------------------------------------------------------- exact panel content
class RecordingVisualizer:
    def __init__(self):
        self.dataset_meta = dict(classes=(), palette=PALETTE)
        self.images = {}

    def add_image(self, name, image, step=0):
        self.images[(name, step)] = image


@pytest.fixture
def toy_model_and_batch(toy_root, tmp_path):
    cfg = toy_cfg(TOY_ADAPTSEGNET, toy_root, tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([dataset[i] for i in range(3)])
    return model, batch


def run_hook(model, batch, it, **kwargs):
    hook = HOOKS.build(dict(type='UDAVisualizationHook', interval=2, **kwargs))
    runner = SimpleNamespace(model=UDADataParallel(model), iter=it,
                             visualizer=RecordingVisualizer(), train_dataloader=None)
    hook.before_train(runner)
    hook.after_train_iter(runner, it, copy.deepcopy(batch))
    return runner.visualizer.images


def test_panels_are_the_model_maps_coloured(toy_model_and_batch):
    model, batch = toy_model_and_batch
    model.train()
    assert run_hook(model, batch, it=0) == {}  # iteration 1: not a multiple of 2
    images = run_hook(model, batch, it=1)
    assert set(images) == {('uda_source', 2), ('uda_target', 2)}
    assert model.training  # train mode restored
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        maps = {d: model.visual_maps(data['inputs'][d]) for d in ('source', 'target')}
    src, tgt = images[('uda_source', 2)], images[('uda_target', 2)]
    assert src.shape == (2 * H, 3 * W, 3) and tgt.shape == (2 * H, 4 * W, 3)  # max_images=2
    for i in range(2):
        raw = batch['inputs']['source'][i].numpy().transpose(1, 2, 0)[..., ::-1]  # BGR -> RGB
        np.testing.assert_array_equal(panel(src, i, 0), raw)
        gt = batch['data_samples']['source'][i].gt_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(panel(src, i, 1), LUT[gt])
        np.testing.assert_array_equal(panel(src, i, 2), LUT[maps['source']['prediction'][i]])
        np.testing.assert_array_equal(panel(tgt, i, 1), LUT[maps['target']['prediction'][i]])
        for col, level in ((2, 'main'), (3, 'aux')):
            value = maps['target'][f'disc.{level}'][i].numpy()
            np.testing.assert_array_equal(panel(tgt, i, col),
                                          VIRIDIS[np.round(value * 255).astype(int)])


def test_label_maps_of_a_method_are_drawn_with_the_palette(toy_model_and_batch):
    """A method's extra integer map (e.g. pseudo labels) becomes a palette panel, no hook code."""
    model, batch = toy_model_and_batch
    plain = model.visual_maps

    def with_pseudo_labels(inputs):
        maps = plain(inputs)
        maps['pseudo_label'] = torch.full_like(maps['prediction'], 3)
        maps['pseudo_label'][:, :, :8] = 255  # ignored pixels
        return maps

    model.visual_maps = with_pseudo_labels
    tgt = run_hook(model, batch, it=1, max_images=1)[('uda_target', 2)]
    assert tgt.shape == (H, 5 * W, 3)
    pseudo = panel(tgt, 0, 4)
    assert (pseudo[:, :8] == 0).all() and (pseudo[:, 8:] == PALETTE[3]).all()


def test_hook_refuses_a_model_without_visual_maps():
    hook = HOOKS.build(dict(type='UDAVisualizationHook'))
    with pytest.raises(TypeError, match='visual_maps'):
        hook.before_train(SimpleNamespace(model=torch.nn.Linear(1, 1)))
    with pytest.raises(ValueError, match='interval'):
        HOOKS.build(dict(type='UDAVisualizationHook', interval=0))


# ---------------------------------------------------------------------- model side
def adaptsegnet(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='AdaptSegNet', segmentor=tiny_segmentor(),
        discriminators={lv: dict(type='FCDiscriminator', in_channels=NUM_CLASSES,
                                 channels=(8, 8, 8, 8)) for lv in ('main', 'aux')},
        adv_weights=dict(main=0.001, aux=0.0002), **kwargs))
    model.init_weights()
    return model


def test_adaptsegnet_visual_maps_are_predictions_and_target_probabilities():
    model = adaptsegnet().eval()
    x = torch.randn(2, 3, H, W)
    maps = model.visual_maps(x)
    assert list(maps) == ['prediction', 'disc.main', 'disc.aux']
    head = model.segmentor.decode_head
    logits = F.interpolate(head(model.segmentor.extract_feat(x)), size=(H, W), mode='bilinear',
                           align_corners=head.align_corners)
    assert maps['prediction'].dtype == torch.int64
    torch.testing.assert_close(maps['prediction'], logits.argmax(1), rtol=0, atol=0)
    with torch.no_grad():
        feats = model.segmentor.extract_feat(x)
        for level, head in (('main', 'decode_head'), ('aux', 'auxiliary_head')):
            prob = F.softmax(F.interpolate(getattr(model.segmentor, head)(feats), size=(H, W),
                                           mode='bilinear', align_corners=True), 1)
            d = model.discriminators[level](prob)
            expected = torch.sigmoid(F.interpolate(d, size=(H, W), mode='bilinear'))[:, 0]
            assert maps[f'disc.{level}'].shape == (2, H, W)
            torch.testing.assert_close(maps[f'disc.{level}'], expected)


def test_target_belief_follows_the_label_convention():
    logits = torch.tensor([-3.0, 0.0, 0.4, 2.0])
    vanilla = adaptsegnet()
    torch.testing.assert_close(vanilla.target_belief(logits), torch.sigmoid(logits))
    swapped = adaptsegnet(adv_loss=dict(type='AdversarialLoss', source_label=1.0,
                                        target_label=0.0))
    torch.testing.assert_close(swapped.target_belief(logits), 1 - torch.sigmoid(logits))
    lsgan = adaptsegnet(adv_loss=dict(type='AdversarialLoss', gan_type='lsgan'))
    torch.testing.assert_close(lsgan.target_belief(logits), torch.tensor([0.0, 0.0, 0.4, 1.0]))


def uda_batch(seed=0):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)

    def sample(labelled):
        s = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
        if labelled:
            s.gt_sem_seg = PixelData(data=torch.randint(0, NUM_CLASSES, (1, H, W), generator=g))
        return s

    imgs = [torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8) for _ in range(4)]
    return dict(inputs=dict(source=imgs[:2], target=imgs[2:]),
                data_samples=dict(source=[sample(True), sample(True)],
                                  target=[sample(False), sample(False)]))


def test_discriminator_accuracy_is_logged_detached_and_not_summed():
    model = adaptsegnet()
    ref = copy.deepcopy(model)
    batch = uda_batch()
    wrappers = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='UDAOptimWrapperConstructor', optim_wrapper_cfg=dict(
            segmentor=dict(optimizer=dict(type='SGD', lr=0.1)),
            discriminators=dict(optimizer=dict(type='SGD', lr=0.1)))))(model)
    log = model.train_step(copy.deepcopy(batch), wrappers)

    # reference: D (before its update) on the detached softmax of the first forward
    data = ref.data_preprocessor(batch, True)
    with torch.no_grad():
        for level in ('main', 'aux'):
            right, total = 0, 0
            for domain, is_target in (('source', False), ('target', True)):
                x = data['inputs'][domain]
                out = ref.forward_heads(x)
                d = ref.discriminators[level](ref.discriminator_input(out, level, x.shape[2:]))
                says_target = torch.sigmoid(d) > 0.5
                right += int((says_target == is_target).sum())
                total += d.numel()
            acc = log[f'disc.{level}.acc']
            assert not acc.requires_grad and 0.0 <= float(acc) <= 1.0
            assert float(acc) == pytest.approx(right / total)
    # the D step's total loss (logged as 'disc.loss') sums its loss terms only
    d_loss = sum(float(v) for k, v in log.items()
                 if k.startswith('disc.') and 'loss_' in k)
    assert float(log['disc.loss']) == pytest.approx(d_loss, rel=1e-6)
    s_loss = sum(float(v) for k, v in log.items() if k.startswith(('src.', 'adv.'))
                 and 'loss' in k)
    assert float(log['loss']) == pytest.approx(s_loss, rel=1e-6)


def test_discriminator_accuracy_counts_each_domain():
    model = adaptsegnet()
    src = torch.tensor([[-1.0, -2.0, 3.0, -0.5]])  # 3 of 4 said source
    tgt = torch.tensor([[1.0, -2.0, 3.0, 0.5]])  # 3 of 4 said target
    assert float(model.discriminator_accuracy(src, tgt)) == pytest.approx(6 / 8)
