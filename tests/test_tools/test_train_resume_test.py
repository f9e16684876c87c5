"""tools/train.py, kill and --resume for every method, tools/test.py (+ --tta) and mmseg.apis on
mmuda checkpoints."""
import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import (
    REPO,
    TOY_ADAPTSEGNET,
    TOY_ADVENT,
    TOY_FADA,
    TOY_MADA,
    TOY_SOURCE_ONLY,
    TOY_SSF_DAN,
    tiny_segmentor,
    toy_cfg,
    toy_ldr_cfg,
    toy_recon_pretrain_cfg,
    toy_translator_cfg,
)

HERE = Path(__file__).resolve().parent
ITERS, KILL_AT = 6, 4
# Every landed method and training stage, one line each: its toy config (or a function building
# the shrunk config from the toy root, work dir and iterations) and loss terms its log must
# contain.
METHODS = [
    pytest.param(TOY_SOURCE_ONLY, {'src.decode.loss_ce', 'src.aux.loss_ce'}, id='source_only'),
    pytest.param(TOY_ADAPTSEGNET, {'src.decode.loss_ce', 'adv.main.loss_gen', 'disc.aux.loss_tgt'},
                 id='adaptsegnet'),
    pytest.param(TOY_FADA, {'src.decode.loss_ce', 'adv.fine.loss_gen', 'disc.fine.loss_tgt'},
                 id='fada'),
    pytest.param(TOY_SSF_DAN, {'src.decode.loss_ce', 'adv.ssd.loss_gen', 'disc.ssd.loss_tgt'},
                 id='ssf_dan'),
    pytest.param(TOY_MADA, {'src.decode.loss_ce', 'adv.high.loss_gen', 'disc.mid.loss_tgt'},
                 id='mada'),
    pytest.param(TOY_ADVENT, {'src.decode.loss_ce', 'adv.main.loss_gen', 'disc.aux.loss_tgt'},
                 id='advent'),
    pytest.param(toy_ldr_cfg, {'src.decode.loss_ce', 'adv.main.loss_gen', 'rec.tgt.loss_vgg',
                               'disc.rec.tgt.loss_real'}, id='ldr_segmentor_stage'),
    pytest.param(toy_translator_cfg, {'gen.t2s.loss_gan', 'cyc.source.loss_l1',
                                      'disc.target.loss_real'}, id='ldr_translator'),
    pytest.param(toy_recon_pretrain_cfg, {'rec.loss_vgg', 'rec.loss_fm', 'disc.rec.loss_real'},
                 id='ldr_reconstruction_pretraining'),
]


def build(config, root: Path, work: Path, iters: int):
    """The shrunk test config of a METHODS entry."""
    if callable(config):
        return config(root, work, iters)
    return toy_cfg(config, root, work, iters=iters)


def run_tool(tool: str, *args: str, returncode: int = 0) -> str:
    env = dict(os.environ, PYTHONPATH=f'{HERE}:{os.environ.get("PYTHONPATH", "")}')
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / tool), *args], cwd=REPO,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == returncode, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def logged_losses(work_dir: Path) -> list:
    """One dict per run in ``work_dir``, oldest first: iteration -> every logged loss value."""
    runs = []
    for scalars in sorted(work_dir.glob('*/vis_data/scalars.json')):  # timestamped run dirs
        losses = {}
        for line in scalars.read_text().splitlines():
            rec = json.loads(line)
            if 'iter' in rec and any('loss' in k for k in rec):
                losses[rec['iter']] = {k: v for k, v in rec.items() if 'loss' in k}
        if losses:  # test runs (tools/test.py) log no loss
            runs.append(losses)
    return runs


def dump(cfg, path: Path) -> str:
    cfg.dump(str(path))
    return str(path)


@pytest.fixture(scope='module')
def full_runs(toy_root, tmp_path_factory):
    """config -> (work dir, config file) of an uninterrupted run, trained on first use."""
    runs = {}

    def full_run_of(config: Path):
        if config not in runs:
            work = tmp_path_factory.mktemp('full')
            cfg = dump(build(config, toy_root, work, ITERS), work / 'cfg.py')
            run_tool('train.py', cfg)
            runs[config] = work, cfg
        return runs[config]
    return full_run_of


@pytest.fixture(scope='module')
def full_run(full_runs):
    return full_runs(TOY_ADAPTSEGNET)


@pytest.mark.parametrize('config,terms', METHODS)
def test_kill_and_resume_reproduce_uninterrupted_losses(full_runs, toy_root, tmp_path, config,
                                                        terms):
    """SIGKILL right after iteration KILL_AT, --resume: the loss log equals the uninterrupted
    run's (deterministic CPU), term by term."""
    [full] = logged_losses(full_runs(config)[0])
    cfg = build(config, toy_root, tmp_path, ITERS)
    cfg.default_hooks.checkpoint.interval = KILL_AT
    cfg.custom_imports.imports.append('kill_at_iter')
    cfg.custom_hooks = [dict(type='KillAtIterHook', iteration=KILL_AT)]
    run_tool('train.py', dump(cfg, tmp_path / 'killed.py'), returncode=-signal.SIGKILL)
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / f'iter_{KILL_AT}.pth')
    run_tool('train.py', dump(build(config, toy_root, tmp_path, ITERS), tmp_path / 'resume.py'),
             '--resume')
    killed, resumed = logged_losses(tmp_path)
    assert sorted(full) == list(range(1, ITERS + 1))
    assert sorted(killed) == list(range(1, KILL_AT + 1))
    assert sorted(resumed) == list(range(KILL_AT + 1, ITERS + 1))  # resumed, not restarted
    for it, logged in {**killed, **resumed}.items():
        assert set(logged) == set(full[it]) and set(logged) >= terms, it
        for key, value in full[it].items():
            assert logged[key] == pytest.approx(value, rel=1e-5, abs=1e-7), (it, key)


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


def test_resume_of_a_second_stage_resumes_its_own_checkpoint(toy_root, tmp_path):
    """The toy FADA stage sets load_from to its warm-up and continues that run (iterations
    2 -> 6). Killed after iteration 4, `--resume` must resume the stage's own checkpoint, not
    its load_from (mmengine's reading, which would restart from the warm-up without the
    discriminators' optimiser), and log the losses of the uninterrupted stage."""
    warm = toy_cfg(REPO / 'configs/fada/fada-warmup_dlv2-r18-toy_1xb4-200_toy-source_toy-'
                   'target.py', toy_root, tmp_path / 'warm', iters=2)
    for schedulers in warm.param_scheduler.values():
        schedulers[0].end = ITERS
    run_tool('train.py', dump(warm, tmp_path / 'warm.py'))

    def stage(work: Path):
        cfg = toy_cfg(TOY_FADA, toy_root, work, iters=ITERS,
                      load_from=str(tmp_path / 'warm' / 'iter_2.pth'))
        assert cfg.custom_hooks[0].type == 'WarmupContinuationHook'
        return cfg
    run_tool('train.py', dump(stage(tmp_path / 'full'), tmp_path / 'full.py'))
    [full] = logged_losses(tmp_path / 'full')
    killed = stage(tmp_path / 'stage')
    killed.default_hooks.checkpoint.interval = KILL_AT
    killed.custom_imports.imports.append('kill_at_iter')
    killed.custom_hooks.append(dict(type='KillAtIterHook', iteration=KILL_AT))
    run_tool('train.py', dump(killed, tmp_path / 'killed.py'), returncode=-signal.SIGKILL)
    out = run_tool('train.py', dump(stage(tmp_path / 'stage'), tmp_path / 'resume.py'),
                   '--resume')
    assert f'resumed epoch: 0, iter: {KILL_AT}' in out
    first, resumed = logged_losses(tmp_path / 'stage')
    assert sorted(full) == list(range(3, ITERS + 1))  # the warm-up's iterations are skipped
    assert sorted(first) == list(range(3, KILL_AT + 1))
    assert sorted(resumed) == list(range(KILL_AT + 1, ITERS + 1))
    for it, logged in {**first, **resumed}.items():
        for key, value in full[it].items():
            assert logged[key] == pytest.approx(value, rel=1e-5, abs=1e-7), (it, key)


def test_resume_without_a_checkpoint_starts_the_stage_from_load_from(toy_root, tmp_path):
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path / 'src', iters=1)
    run_tool('train.py', dump(cfg, tmp_path / 'src.py'))
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path / 'next', iters=1,
                  load_from=str(tmp_path / 'src' / 'iter_1.pth'))
    out = run_tool('train.py', dump(cfg, tmp_path / 'next.py'), '--resume')
    assert 'Load checkpoint from' in out and 'resumed epoch' not in out
