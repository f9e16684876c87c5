"""translate_dataset / tools/translate_dataset.py: mirrored names at full resolution, resumable,
atomic, refused output folders, named errors; the toy translator config through tools/train.py."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import DATASETS, MODELS
from PIL import Image

from conftest import REPO, TOY_SOURCE_ONLY, load_script
from mmuda.apis import (
    init_translator,
    resolve_translation_dataset,
    translate_dataset,
    translate_image,
)
from mmuda.apis import translate as translate_module

TOY_TRANSLATOR = REPO / 'configs/ldr/ldr-translator_cyclegan-toy_1xb4-400_toy-source_toy-target.py'
TINY = dict(generator=dict(type='ResnetGenerator', in_channels=3, out_channels=3,
                           base_channels=4, num_downsamples=1, num_blocks=1),
            discriminator=dict(type='PatchGANDiscriminator', in_channels=3, base_channels=4,
                               num_layers=2))
SUFFIX = '_leftImg8bit.png'


@pytest.fixture()
def model():
    torch.manual_seed(0)
    m = MODELS.build(dict(type='CycleGANTranslator', **TINY))
    m.init_weights()
    return m.eval()


def val_cfg(toy_root: Path, domain: str = 'target', **prefix) -> dict:
    """The toy val set with a training pipeline (crop, resize), which the tool must drop."""
    return dict(type='ToyStreetDataset', data_root=str(toy_root / domain),
                data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val', **prefix),
                pipeline=[dict(type='LoadImageFromFile'),
                          dict(type='RandomCrop', crop_size=(16, 16)),
                          dict(type='Resize', scale=(20, 10)),
                          dict(type='PackSegInputs')])


def images_under(folder: Path) -> list:
    return sorted(p.relative_to(folder) for p in folder.rglob(f'*{SUFFIX}'))


def expected_translation(model, path: Path, direction: str = 't2s') -> np.ndarray:
    bgr = np.asarray(Image.open(path).convert('RGB'))[..., ::-1]
    image = torch.from_numpy(np.ascontiguousarray(bgr)).permute(2, 0, 1)
    with torch.no_grad():
        return translate_image(model, image, direction)


def test_mirrored_paths_full_resolution_and_content(model, toy_root, tmp_path):
    out = tmp_path / 'translated'
    summary = translate_dataset(model, val_cfg(toy_root), str(out), progress=False)
    src = toy_root / 'target/leftImg8bit/val'
    assert images_under(out) == images_under(src) and len(images_under(src)) == 4
    for rel in images_under(src):
        written = np.asarray(Image.open(out / rel))
        assert written.shape == (32, 64, 3)  # the stored size, not the pipeline's crop/resize
        np.testing.assert_array_equal(written, expected_translation(model, src / rel))
    on_disk = json.loads((out / 'translation.json').read_text())
    assert on_disk == summary
    assert summary['status'] == 'complete' and summary['count'] == 4
    assert summary['direction'] == 't2s' and summary['input_dir'] == str(src)


def test_second_run_skips_existing_outputs(model, toy_root, tmp_path):
    out = tmp_path / 'translated'
    translate_dataset(model, val_cfg(toy_root), str(out), progress=False)
    files = [out / rel for rel in images_under(out)]
    files[0].unlink()
    stamps = {f: f.stat().st_mtime_ns for f in files[1:]}
    summary = translate_dataset(model, val_cfg(toy_root), str(out), progress=False)
    assert (summary['written'], summary['skipped'], summary['count']) == (1, 3, 4)
    assert files[0].is_file()
    assert {f: f.stat().st_mtime_ns for f in files[1:]} == stamps


def test_an_image_changed_since_its_translation_is_translated_again(model, toy_root, tmp_path):
    """The skip of finished outputs compares times: an input image rewritten after its
    translation (newer than the output) is translated again, the others are kept."""
    src = Path(shutil.copytree(toy_root / 'target', tmp_path / 'target'))
    out = tmp_path / 'translated'
    translate_dataset(model, val_cfg(tmp_path), str(out), progress=False)
    changed = src / 'leftImg8bit/val' / images_under(out)[0]
    Image.fromarray(255 - np.asarray(Image.open(changed))).save(changed)
    earlier = changed.stat().st_mtime_ns - 10_000_000_000
    os.utime(out / images_under(out)[0], ns=(earlier, earlier))  # translated before the change
    summary = translate_dataset(model, val_cfg(tmp_path), str(out), progress=False)
    assert (summary['written'], summary['skipped']) == (1, 3)
    np.testing.assert_array_equal(np.asarray(Image.open(out / images_under(out)[0])),
                                  expected_translation(model, changed))


def test_interrupted_runs_leave_no_partial_file_and_resume(model, toy_root, tmp_path,
                                                           monkeypatch):
    out = tmp_path / 'translated'
    calls = []
    real_translate = translate_module.translate_image

    def dies_at_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_translate(*args, **kwargs)

    monkeypatch.setattr(translate_module, 'translate_image', dies_at_third)
    with pytest.raises(KeyboardInterrupt):
        translate_dataset(model, val_cfg(toy_root), str(out), progress=False)
    done = images_under(out)
    assert len(done) == 2 and all(np.asarray(Image.open(out / p)).shape == (32, 64, 3)
                                  for p in done)
    assert json.loads((out / 'translation.json').read_text())['status'] == 'writing'

    # a write that fails half-way: no file under its final name, no temporary left
    real_save = Image.Image.save

    def half_save(self, fp, *args, **kwargs):
        fp.write(b'\x89PNG half')
        raise OSError('disk full')

    monkeypatch.setattr(translate_module, 'translate_image', real_translate)
    monkeypatch.setattr(Image.Image, 'save', half_save)
    with pytest.raises(OSError, match='disk full'):
        translate_dataset(model, val_cfg(toy_root), str(out), progress=False)
    assert images_under(out) == done
    assert not [p for p in out.rglob('*') if p.name.endswith('.tmp')]

    monkeypatch.setattr(Image.Image, 'save', real_save)
    (out / 'toy').joinpath('.stale.png.abc.tmp').write_bytes(b'x')  # a killed run's leftover
    summary = translate_dataset(model, val_cfg(toy_root), str(out), progress=False)
    assert (summary['status'], summary['written'], summary['skipped']) == ('complete', 2, 2)
    assert len(images_under(out)) == 4
    assert not [p for p in out.rglob('*') if p.name.endswith('.tmp')]


def test_out_dir_equal_to_or_inside_the_image_folder_is_refused(model, toy_root, tmp_path):
    src = toy_root / 'target/leftImg8bit/val'
    link = tmp_path / 'link'
    link.symlink_to(src)
    for out in (src, src / 'toy', src / 'translated', link, link / 'translated'):
        with pytest.raises(ValueError, match='image folder'):
            translate_dataset(model, val_cfg(toy_root), str(out), progress=False)
    assert images_under(src) == sorted(p.relative_to(src) for p in src.rglob('*.png'))


def test_a_dataset_config_reads_the_translated_folder(model, toy_root, tmp_path):
    out = tmp_path / 'translated'
    translate_dataset(model, val_cfg(toy_root), str(out), progress=False)
    dataset = DATASETS.build(dict(
        type='ToyStreetDataset', data_root='',
        data_prefix=dict(img_path=str(out), seg_map_path=str(toy_root / 'target/gtFine/val')),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]))
    assert len(dataset) == 4
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert info['img_path'].startswith(str(out)) and os.path.isfile(info['seg_map_path'])
        sample = dataset[i]
        assert sample['inputs'].shape == (3, 32, 64)
        assert sample['data_samples'].gt_sem_seg.data.shape == (1, 32, 64)


def test_direction_picks_the_domain_and_a_folder_of_another_direction_is_refused(
        model, toy_root, tmp_path):
    cfg = Config.fromfile(str(TOY_TRANSLATOR))
    assert resolve_translation_dataset(cfg, 't2s')['data_root'].endswith('/target')
    assert resolve_translation_dataset(cfg, 's2t')['data_root'].endswith('/source')
    val = resolve_translation_dataset(cfg, 't2s', 'translate_datasets.target_val')
    assert val['data_prefix']['img_path'] == 'leftImg8bit/val'
    with pytest.raises(KeyError, match='no_such'):
        resolve_translation_dataset(cfg, 't2s', 'no_such.dataset')

    out = tmp_path / 'translated'
    summary = translate_dataset(model, val_cfg(toy_root, 'source'), str(out), direction='s2t',
                                progress=False)
    assert summary['direction'] == 's2t'
    src = toy_root / 'source/leftImg8bit/val'
    rel = images_under(src)[0]
    np.testing.assert_array_equal(np.asarray(Image.open(out / rel)),
                                  expected_translation(model, src / rel, 's2t'))
    with pytest.raises(ValueError, match="direction='s2t'"):
        translate_dataset(model, val_cfg(toy_root, 'source'), str(out), direction='t2s',
                          progress=False)


def test_checkpoint_and_config_errors_are_named(model, tmp_path):
    cfg = Config.fromfile(str(TOY_TRANSLATOR))
    cfg.model.update(TINY)
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        init_translator(cfg, str(tmp_path / 'no_such.pth'))
    good = tmp_path / 'translator.pth'
    torch.save(dict(state_dict=model.state_dict()), good)
    loaded = init_translator(cfg, str(good), direction='s2t')
    assert loaded.direction == 's2t'
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    segmentor = tmp_path / 'segmentor.pth'
    torch.save(dict(state_dict={'segmentor.backbone.conv1.weight': torch.zeros(1)}), segmentor)
    with pytest.raises(KeyError, match=r"generators\.t2s\..*\['segmentor'\]"):
        init_translator(cfg, str(segmentor))
    with pytest.raises(TypeError, match='not an image translator'):
        init_translator(Config.fromfile(str(TOY_SOURCE_ONLY)), str(good))


def test_cli_errors_exit_with_the_message(tmp_path, monkeypatch):
    tool = load_script(REPO / 'tools/translate_dataset.py')
    monkeypatch.setattr(sys, 'argv', ['translate_dataset.py', str(TOY_SOURCE_ONLY),
                                      str(tmp_path / 'x.pth'), '--out-dir', str(tmp_path)])
    with pytest.raises(SystemExit, match='checkpoint file not found'):
        tool.main()
    (tmp_path / 'x.pth').write_bytes(b'')
    with pytest.raises(SystemExit, match='not an image translator'):
        tool.main()


def run_tool(tool: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / tool), *args], cwd=REPO,
                          env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_toy_config_trains_with_tools_train_and_translates_with_the_tool(toy_root, tmp_path):
    iters = 2
    cfg = Config.fromfile(str(TOY_TRANSLATOR))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.update(TINY)
    train = cfg.train_dataloader
    train.update(batch_size=2, num_workers=0, persistent_workers=False)
    for domain in ('source', 'target'):
        train.dataset[domain].data_root = str(toy_root / domain)
        train.dataset[domain].pipeline[-3].crop_size = (16, 16)  # RandomCrop
    cfg.translate_datasets.target_val.data_root = str(toy_root / 'target')
    cfg.train_cfg.max_iters = iters
    for scheds in cfg.param_scheduler.values():
        scheds[0].update(end=iters, step_size=1)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.randomness = dict(seed=0)
    cfg.dump(str(tmp_path / 'cfg.py'))
    run_tool('train.py', str(tmp_path / 'cfg.py'))

    scalars = next((tmp_path / 'work').glob('*/vis_data/scalars.json')).read_text()
    for key in ('gen.t2s.loss_gan', 'gen.s2t.loss_gan', 'cyc.target.loss_l1',
                'cyc.source.loss_l1', 'idt.t2s.loss_l1', 'idt.s2t.loss_l1',
                'disc.source.loss_real', 'disc.target.loss_fake', 'disc.loss'):
        assert key in scalars, key
    ckpt = torch.load(tmp_path / 'work' / f'iter_{iters}.pth', map_location='cpu',
                      weights_only=True)
    assert {k.split('.')[0] + '.' + k.split('.')[1] for k in ckpt['state_dict']} == {
        'generators.t2s', 'generators.s2t', 'discriminators.source', 'discriminators.target'}
    assert set(ckpt['optimizer']) == {'generators', 'discriminators'}

    out = tmp_path / 'translated'
    log = run_tool('translate_dataset.py', str(tmp_path / 'cfg.py'),
                   str(tmp_path / 'work' / f'iter_{iters}.pth'), '--out-dir', str(out / 'train'),
                   '--num-workers', '0')
    assert '8 images translated (t2s)' in log
    log = run_tool('translate_dataset.py', str(tmp_path / 'cfg.py'),
                   str(tmp_path / 'work' / f'iter_{iters}.pth'), '--out-dir', str(out / 'val'),
                   '--split-key', 'translate_datasets.target_val', '--num-workers', '0')
    assert '4 images translated (t2s)' in log
    assert images_under(out / 'val') == images_under(toy_root / 'target/leftImg8bit/val')
    assert len(images_under(out / 'train')) == 8
    summary = json.loads((out / 'train' / 'translation.json').read_text())
    assert summary['status'] == 'complete' and summary['checkpoint'].endswith(f'iter_{iters}.pth')


def test_two_ranks_share_the_work_and_write_what_one_process_writes(model, toy_root, tmp_path):
    import socket
    cfg = Config.fromfile(str(TOY_TRANSLATOR))
    cfg.model.update(TINY)
    cfg.translate_datasets.target_val.data_root = str(toy_root / 'target')
    cfg.dump(str(tmp_path / 'cfg.py'))
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'tiny.pth')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = tmp_path / 'dist'
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_port', str(port), str(REPO / 'tools/translate_dataset.py'),
         str(tmp_path / 'cfg.py'), str(tmp_path / 'tiny.pth'), '--out-dir', str(out),
         '--split-key', 'translate_datasets.target_val', '--num-workers', '0',
         '--launcher', 'pytorch'],
        cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / 'translation.json').read_text())
    assert (summary['status'], summary['count'], summary['written']) == ('complete', 4, 4)
    single = tmp_path / 'single'
    translate_dataset(model, val_cfg(toy_root), str(single), progress=False)
    assert images_under(out) == images_under(single)
    for rel in images_under(single):
        np.testing.assert_array_equal(np.asarray(Image.open(out / rel)),
                                      np.asarray(Image.open(single / rel)))
