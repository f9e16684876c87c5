"""mmuda.apis (init_uda_model, inference_folder) and tools/analysis_tools/visualize.py."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.runner import Runner
from PIL import Image

from conftest import REPO, TOY_ADAPTSEGNET, toy_cfg
from mmuda.apis import colormap_lut, inference_folder, init_uda_model
from mmuda.datasets.toy_domains import PALETTE

MAPS = ('prediction', 'disc.main', 'disc.aux')


@pytest.fixture(scope='module')
def trained(toy_root, tmp_path_factory):
    """A toy AdaptSegNet after 2 iterations: (config path, checkpoint path, val folder)."""
    work = tmp_path_factory.mktemp('infer')
    cfg = toy_cfg(TOY_ADAPTSEGNET, toy_root, work, iters=2)
    cfg.visualizer.name = f'visualizer_{work.name}'  # not an earlier in-process run's
    Runner.from_cfg(cfg).train()
    cfg.dump(str(work / 'cfg.py'))
    return str(work / 'cfg.py'), str(work / 'iter_2.pth'), toy_root / 'target/leftImg8bit/val'


def images_of(folder: Path) -> list:
    return sorted(folder.rglob('*.png'))


def decode(rgb: np.ndarray) -> np.ndarray:
    """Palette colours back to class indices (-1 for a colour outside the palette)."""
    out = np.full(rgb.shape[:2], -1)
    for cls, color in enumerate(PALETTE):
        out[(rgb == color).all(-1)] = cls
    return out


def test_folder_outputs_match_mmseg_inference(trained, tmp_path):
    from mmseg.apis import inference_model
    config, ckpt, val = trained
    model = init_uda_model(config, ckpt)
    assert model.dataset_meta['classes'][0] == 'road' and not model.training
    summary = inference_folder(model, val, tmp_path, maps=True, progress=False)
    images = images_of(val)
    assert (summary.written, summary.skipped) == (len(images), 0) and len(images) == 4
    viridis = {tuple(c) for c in colormap_lut('viridis')}
    for img in images:
        rel = img.relative_to(val)  # toy/<name>.png: sub-folders mirrored
        size = Image.open(img).size
        outs = {m: np.asarray(Image.open(tmp_path / m / rel).convert('RGB')) for m in MAPS}
        for out in outs.values():
            assert out.shape[1::-1] == size
        expected = inference_model(model, str(img)).pred_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(decode(outs['prediction']), expected)
        for level in ('main', 'aux'):
            assert {tuple(c) for c in outs[f'disc.{level}'].reshape(-1, 3)} <= viridis
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(MAPS)
    assert not list(tmp_path.rglob('.*.tmp'))


def test_skip_existing_and_no_maps(trained, tmp_path):
    config, ckpt, val = trained
    model = init_uda_model(config, ckpt)
    first = inference_folder(model, val, tmp_path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ['prediction']  # no maps asked for
    assert inference_folder(model, val, tmp_path, skip_existing=True,
                            progress=False)[:2] == (0, 4)
    done = tmp_path / 'prediction' / images_of(val)[0].relative_to(val)
    done.unlink()
    again = inference_folder(model, val, tmp_path, skip_existing=True, progress=False)
    assert (first.written, again.written, again.skipped) == (4, 1, 3) and done.exists()
    with_maps = inference_folder(model, val, tmp_path, maps=True, skip_existing=True,
                                 progress=False)
    assert with_maps[:2] == (4, 0)  # the maps were missing
    assert inference_folder(model, val, tmp_path, maps=True, skip_existing=True,
                            progress=False)[:2] == (0, 4)


def test_skip_existing_redoes_an_image_changed_since(trained, tmp_path):
    config, ckpt, val = trained
    model = init_uda_model(config, ckpt)
    images = Path(shutil.copytree(val, tmp_path / 'images'))
    inference_folder(model, images, tmp_path / 'out', progress=False)
    changed = images_of(images)[0]
    output = tmp_path / 'out' / 'prediction' / changed.relative_to(images).with_suffix('.png')
    earlier = changed.stat().st_mtime_ns - 10_000_000_000
    os.utime(output, ns=(earlier, earlier))  # the input was rewritten after its prediction
    again = inference_folder(model, images, tmp_path / 'out', skip_existing=True,
                             progress=False)
    assert again[:2] == (1, 3)
    assert output.stat().st_mtime_ns >= changed.stat().st_mtime_ns


def test_model_without_checkpoint_gets_the_config_palette(trained):
    config, _, _ = trained
    model = init_uda_model(config)
    assert [tuple(c) for c in model.dataset_meta['palette']] == [tuple(c) for c in PALETTE]


def test_errors_name_the_file(trained, tmp_path):
    config, ckpt, _ = trained
    with pytest.raises(FileNotFoundError, match='nope.py'):
        init_uda_model(str(tmp_path / 'nope.py'))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        init_uda_model(config, str(tmp_path / 'nope.pth'))
    model = init_uda_model(config, ckpt)
    with pytest.raises(ValueError, match='no images'):
        inference_folder(model, tmp_path, tmp_path / 'out', progress=False)
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(RuntimeError, match='broken.png'):
        inference_folder(model, tmp_path, tmp_path / 'out', progress=False)


def test_cli_writes_the_same_images_as_the_api(trained, tmp_path):
    config, ckpt, val = trained
    inference_folder(init_uda_model(config, ckpt), val, tmp_path / 'api', maps=True,
                     progress=False)
    tool = REPO / 'tools/analysis_tools/visualize.py'
    proc = subprocess.run([sys.executable, str(tool), config, ckpt, str(val), '--out-dir',
                           str(tmp_path / 'cli'), '--maps'], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '4 images written' in proc.stdout
    api = sorted(p.relative_to(tmp_path / 'api') for p in (tmp_path / 'api').rglob('*.png'))
    cli = sorted(p.relative_to(tmp_path / 'cli') for p in (tmp_path / 'cli').rglob('*.png'))
    assert api == cli and len(api) == 4 * len(MAPS)
    for rel in api:
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'api' / rel)),
                                      np.asarray(Image.open(tmp_path / 'cli' / rel)))
    proc = subprocess.run([sys.executable, str(tool), config, ckpt, str(tmp_path / 'none'),
                           '--out-dir', str(tmp_path / 'x')], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and 'input folder not found' in proc.stderr
