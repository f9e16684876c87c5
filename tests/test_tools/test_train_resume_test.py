"""tools/train.py, --resume, tools/test.py (+ --tta) and mmseg.apis on mmuda checkpoints."""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO, TOY_ADAPTSEGNET, TOY_SOURCE_ONLY, tiny_segmentor, toy_cfg


def run_tool(tool: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / tool), *args], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def logged_losses(work_dir: Path) -> dict:
    """iteration -> every loss value that the LoggerHook wrote to scalars.json."""
    out = {}
    for scalars in work_dir.glob('*/vis_data/scalars.json'):
        for line in scalars.read_text().splitlines():
            rec = json.loads(line)
            if 'iter' in rec and any('loss' in k for k in rec):
                out[rec['iter']] = {k: v for k, v in rec.items() if 'loss' in k}
    return out


def dump(cfg, path: Path) -> str:
    cfg.dump(str(path))
    return str(path)


@pytest.fixture(scope='module')
def full_run(toy_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('full')
    cfg = dump(toy_cfg(TOY_ADAPTSEGNET, toy_root, work, iters=6), work / 'cfg.py')
    run_tool('train.py', cfg)
    return work, cfg


def test_resume_reproduces_uninterrupted_losses(full_run, toy_root, tmp_path):
    full_dir, _ = full_run
    cfg = toy_cfg(TOY_ADAPTSEGNET, toy_root, tmp_path, iters=6)
    cfg.train_cfg.max_iters = 4  # interrupted at iteration 4, schedule still planned for 6
    cfg.default_hooks.checkpoint.interval = 4
    run_tool('train.py', dump(cfg, tmp_path / 'part.py'))
    assert (tmp_path / 'iter_4.pth').exists() and not (tmp_path / 'iter_6.pth').exists()
    run_tool('train.py', dump(toy_cfg(TOY_ADAPTSEGNET, toy_root, tmp_path, iters=6),
                              tmp_path / 'resume.py'), '--resume')
    full, resumed = logged_losses(full_dir), logged_losses(tmp_path)
    assert sorted(full) == sorted(resumed) == [1, 2, 3, 4, 5, 6]
    for it in range(1, 7):
        assert set(full[it]) >= {'src.decode.loss_ce', 'adv.main.loss_gen',
                                 'disc.aux.loss_tgt'}
        for key, value in full[it].items():
            assert resumed[it][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (it, key)


def test_checkpoint_loads_with_weights_only_and_keeps_everything(full_run):
    work, _ = full_run
    ckpt = torch.load(work / 'iter_6.pth', weights_only=True)  # torch's safe default
    assert any(k.startswith('discriminators.main.') for k in ckpt['state_dict'])
    assert set(ckpt['optimizer']) == {'segmentor', 'discriminators'}
    assert ckpt['optimizer']['discriminators']['state']  # Adam moments are kept
    assert set(ckpt['param_schedulers']) == {'segmentor', 'discriminators'}
    assert ckpt['meta']['dataset_meta']['classes'][0] == 'road'


class Foreign:  # a global nobody allow-listed
    pass


def test_foreign_pickles_still_refused(tmp_path):
    path = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {}, 'payload': Foreign()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


class SneakyGetattr:
    """Pickles as getattr(HistoryBuffer, '__init__'): a getattr that is not a statistic."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return getattr, (HistoryBuffer, '__init__')


def test_getattr_is_only_allowed_for_history_buffer_statistics(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'state_dict': {}, 'payload': SneakyGetattr()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refuses getattr'):
        torch.load(path, weights_only=True)


def test_test_tool_and_tta_on_uda_checkpoint(full_run):
    work, cfg = full_run
    out = run_tool('test.py', cfg, str(work / 'iter_6.pth'), '--work-dir', str(work / 't'),
                   '--show-dir', str(work / 'vis'),
                   '--cfg-options', 'default_hooks.visualization.interval=1')
    assert 'mIoU' in out
    assert len(list((work / 'vis').rglob('*.png'))) == 4  # mmseg's visualiser, 4 val images
    out = run_tool('test.py', cfg, str(work / 'iter_6.pth'), '--tta', '--work-dir',
                   str(work / 'tta'))
    assert 'mIoU' in out


def test_mmseg_init_model_and_inference_on_uda_checkpoint(full_run, toy_root):
    from mmseg.apis import inference_model, init_model
    work, cfg = full_run
    model = init_model(cfg, str(work / 'iter_6.pth'), device='cpu')
    assert model.dataset_meta['classes'][0] == 'road'
    img = next((toy_root / 'target/leftImg8bit/val').rglob('*.png'))
    result = inference_model(model, str(img))
    assert result.pred_sem_seg.data.shape[-2:] == (32, 64)


def test_load_from_initialises_a_new_run(full_run, toy_root, tmp_path):
    work, _ = full_run
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path, iters=1,
                  load_from=str(work / 'iter_6.pth'))
    out = run_tool('train.py', dump(cfg, tmp_path / 'cfg.py'))
    assert 'Load checkpoint from' in out


def test_init_cfg_pretrained_reads_a_uda_checkpoint(full_run):
    """`init_cfg=Pretrained` goes through mmengine's loader, i.e. torch.load(weights_only)."""
    from mmseg.registry import MODELS
    work, _ = full_run
    seg = tiny_segmentor()
    seg['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint=str(work / 'iter_6.pth'),
                                       prefix='segmentor.backbone.')
    model = MODELS.build(seg)
    model.init_weights()
    saved = torch.load(work / 'iter_6.pth')['state_dict']
    torch.testing.assert_close(model.backbone.conv1.weight,
                               saved['segmentor.backbone.conv1.weight'])
