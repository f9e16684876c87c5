"""LDR's whole toy pipeline, every stage a shipped toy config shrunk to the tiny test domains:
translator -> translated target train/val -> M pre-training -> stage 0 -> class-median pseudo
labels -> LDR with pseudo labels and reconstruction."""
import json
import os
import subprocess
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from conftest import NUM_CLASSES, REPO, tiny_segmentor, toy_cfg

LDR = REPO / 'configs/ldr'
TINY_M = dict(base_channels=4, num_blocks=1)
TINY_DK = dict(discriminator=dict(base_channels=4, num_layers=1))


def run_tool(*args: str) -> None:
    proc = subprocess.run([sys.executable, *args, '--num-workers', '0'], cwd=REPO,
                          env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


def shrink_loaders(cfg: Config) -> None:
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=2, max_keep_ckpts=10)
    cfg.train_cfg.max_iters = 2
    cfg.randomness = dict(seed=0, deterministic=True)


def train_translator(toy_root, work_dir) -> Config:
    cfg = Config.fromfile(str(LDR / 'ldr-translator_cyclegan-toy_1xb4-400_toy-source_toy-'
                                    'target.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.generator.update(base_channels=4, num_blocks=1)
    cfg.model.discriminator.update(base_channels=4)
    shrink_loaders(cfg)
    dataset = cfg.train_dataloader.dataset
    dataset.source.data_root = str(toy_root / 'source')
    dataset.target.data_root = str(toy_root / 'target')
    for branch in (dataset.source, dataset.target):
        for t in branch.pipeline:
            if t.type == 'RandomCrop':
                t.crop_size = (32, 32)
    cfg.translate_datasets.target_val.data_root = str(toy_root / 'target')
    cfg.visualizer.name = 'ldr_translator'
    Runner.from_cfg(cfg).train()
    cfg.dump(str(work_dir / 'config.py'))
    return cfg


def pretrain_reconstruction(toy_root, work_dir) -> None:
    cfg = Config.fromfile(str(LDR / 'ldr-recon-pretrain_toy_1xb4-600_toy-source.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.reconstructor.update(TINY_M)
    cfg.model.recon_discriminator.update(TINY_DK)
    shrink_loaders(cfg)
    cfg.train_dataloader.dataset.data_root = str(toy_root / 'source')
    for t in cfg.train_dataloader.dataset.pipeline:
        if t.type == 'Resize':
            t.scale = (64, 32)  # the tiny images' size: the D_k's coarsest scale needs 8x16
    cfg.visualizer.name = 'ldr_pretrain'
    Runner.from_cfg(cfg).train()


def ldr_cfg(config: str, toy_root, work_dir, translated, **overrides) -> Config:
    cfg = toy_cfg(LDR / config, toy_root, work_dir, iters=2, **overrides)
    cfg.model.segmentor = tiny_segmentor(aux=False)
    cfg.model.reconstructor.update(TINY_M)
    cfg.model.recon_discriminator.update(TINY_DK)
    cfg.model.recon_scale = 1.0  # the tiny images at half size are too small for 3 D_k scales
    target = cfg.train_dataloader.dataset.target
    target.data_root = ''
    target.data_prefix.img_path = str(translated / 'train')
    for name in ('val_dataloader', 'test_dataloader'):
        cfg[name].dataset.data_root = ''
        cfg[name].dataset.data_prefix = dict(img_path=str(translated / 'val'),
                                             seg_map_path=str(toy_root / 'target/gtFine/val'))
    return cfg


def test_ldr_toy_pipeline_end_to_end(toy_root, tmp_path):
    translated = tmp_path / 'translated'
    translator = train_translator(toy_root, tmp_path / 'translator')
    ckpt = str(tmp_path / 'translator' / 'iter_2.pth')
    config = str(tmp_path / 'translator' / 'config.py')
    run_tool('tools/translate_dataset.py', config, ckpt, '--out-dir', str(translated / 'train'))
    run_tool('tools/translate_dataset.py', config, ckpt, '--out-dir', str(translated / 'val'),
             '--split-key', 'translate_datasets.target_val')
    assert translator.model.direction == 't2s'
    for split, count in (('train', 8), ('val', 4)):
        images = sorted((translated / split).rglob('*_leftImg8bit.png'))
        assert len(images) == count and Image.open(images[0]).size == (64, 32)

    pretrain_reconstruction(toy_root, tmp_path / 'pretrain')
    pretrained = str(tmp_path / 'pretrain' / 'iter_2.pth')

    stage0 = ldr_cfg('ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py', toy_root,
                     tmp_path / 'stage0', translated)
    assert stage0.model.use_pseudo_labels is False
    stage0.model.reconstructor.init_cfg.checkpoint = pretrained
    stage0.model.recon_discriminator.init_cfg.checkpoint = pretrained
    stage0.visualizer.name = 'ldr_stage0'
    runner = Runner.from_cfg(stage0)
    runner.train()
    state = torch.load(pretrained, map_location='cpu', weights_only=True)['state_dict']
    moved = [k for k, v in runner.model.reconstructor.state_dict().items()
             if not torch.equal(v, state[f'reconstructor.{k}'])]
    assert moved, 'stage 0 starts from the pre-trained M and trains it'
    stage0.dump(str(tmp_path / 'stage0.py'))

    labels = tmp_path / 'pseudo_labels'
    run_tool('tools/generate_pseudo_labels.py', str(tmp_path / 'stage0.py'),
             str(tmp_path / 'stage0' / 'iter_2.pth'), '--policy', 'class_median',
             '--out-dir', str(labels))
    pngs = sorted(labels.rglob('*_gtFine_labelTrainIds.png'))
    assert len(pngs) == 8
    values = np.unique(np.concatenate([np.unique(np.asarray(Image.open(p))) for p in pngs]))
    assert set(values.tolist()) <= set(range(NUM_CLASSES)) | {255}
    assert json.loads((labels / 'pseudo_labels.json').read_text())['policy'] == 'class_median'

    ldr = ldr_cfg('ldr_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py', toy_root,
                  tmp_path / 'ldr', translated, load_from=str(tmp_path / 'stage0/iter_2.pth'))
    assert ldr.train_dataloader.dataset.target_labels == 'pseudo'
    ldr.train_dataloader.dataset.target.data_prefix.seg_map_path = str(labels)
    ldr.visualizer.name = 'ldr_stage1'
    Runner.from_cfg(ldr).train()
    scalars = next((tmp_path / 'ldr').glob('*/vis_data/scalars.json')).read_text()
    for key in ('src.decode.loss_ce', 'tgt.decode.loss_ce', 'adv.main.loss_gen',
                'rec.src.loss_vgg', 'rec.tgt.loss_fm', 'disc.main.loss_tgt',
                'disc.rec.tgt.loss_real', 'mIoU'):
        assert key in scalars, key
