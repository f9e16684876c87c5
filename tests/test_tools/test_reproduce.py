"""tools/reproduce.py: one command per paper row.

* the declared chain of every row agrees with the paths its configs read (a renamed config or
  path fails here), and ``fada gta5 --dry-run`` prints every stage, chained;
* the FADA and LDR toy rows run end to end through the runner with tiny schedules, print the
  final table, and a rerun skips every finished stage;
* a run killed in the middle of a stage and rerun ends with the uninterrupted run's metrics;
* a failing stage, stale outputs, missing weights and impossible GPU splits are named.
"""
import functools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
import yaml
from mmengine.config import Config

from conftest import REPO, load_script
from mmuda.reproduce import PlanError, Row, RunOptions, Stage, all_rows, find_row, plan_row
from mmuda.reproduce.plan import config_value, starts_from
from mmuda.reproduce.stages import PSEUDO_LABELS, TEST, TRAIN, TRANSLATE

HERE = Path(__file__).resolve().parent
TOOL = REPO / 'tools/reproduce.py'

# ---------------------------------------------------------------- tiny toy schedules
# Loaders in the main process and a fixed seed for every stage that builds a Runner.
LOADERS = [f'{loader}.{k}' for loader in ('train_dataloader', 'val_dataloader',
                                          'test_dataloader')
           for k in ('num_workers=0', 'persistent_workers=False')]
SEEDED = ['randomness.seed=0', 'randomness.deterministic=True']
# FADA: warm-up iterations 1-2 of a poly schedule over FADA_ITERS, which the FADA stage
# continues to FADA_ITERS (a checkpoint every 2: the kill test stops it after KILL_AT or
# later); self-distillation 2 iterations of 2 crops.
FADA_ITERS, KILL_AT = 12, 4
FADA_TINY = [*LOADERS, *SEEDED,
             *[f'warmup:{o}' for o in ('train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                                       'default_hooks.checkpoint.interval=2',
                                       f'param_scheduler.segmentor.0.end={FADA_ITERS}')],
             *[f'fada:{o}' for o in (f'train_cfg.max_iters={FADA_ITERS}',
                                     f'train_cfg.val_interval={FADA_ITERS}',
                                     'default_hooks.checkpoint.interval=2',
                                     f'param_scheduler.segmentor.0.end={FADA_ITERS}',
                                     f'param_scheduler.discriminators.0.end={FADA_ITERS}')],
             *[f'sd:{o}' for o in ('train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                                   'default_hooks.checkpoint.interval=2',
                                   'param_scheduler.0.end=2', 'train_dataloader.batch_size=2')]]
TINY_M = ['model.reconstructor.base_channels=4', 'model.reconstructor.num_blocks=1',
          'model.recon_discriminator.discriminator.base_channels=4',
          'model.recon_discriminator.discriminator.num_layers=1']
TWO_ITERS = ['train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2',
             'train_dataloader.batch_size=2', *LOADERS[:2], *SEEDED]
LDR_TINY = [
    *[f'translator:{o}' for o in (*TWO_ITERS, 'model.generator.base_channels=4',
                                  'model.generator.num_blocks=1',
                                  'model.discriminator.base_channels=4')],
    # the tiny 32x64 images at full size (the toy config reconstructs at 64x128)
    *[f'recon-pretrain:{o}' for o in (*TWO_ITERS, *TINY_M,
                                      'train_dataloader.dataset.pipeline.3.scale=(64,32)')],
    # the source-only model stage 0 starts from
    *[f'source-only:{o}' for o in (*TWO_ITERS, *LOADERS[2:], 'train_cfg.val_interval=2')],
    *[f'{stage}:{o}' for stage in ('stage0', 'stage1')
      for o in (*TWO_ITERS, *LOADERS[2:], *TINY_M, 'model.recon_scale=1.0',
                'train_cfg.val_interval=2',
                *[f'param_scheduler.{k}.0.end=2' for k in ('segmentor', 'discriminators',
                                                          'reconstructor',
                                                          'recon_discriminator')])]]


def run_reproduce(cwd: Path, *args: str, returncode: int = 0) -> str:
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, str(TOOL), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == returncode, out[-6000:]
    return out


def toy_workspace(path: Path, toy_root: Path) -> Path:
    """A working directory whose data/toy_domains are the tiny test domains."""
    (path / 'data').mkdir(parents=True)
    (path / 'data' / 'toy_domains').symlink_to(toy_root)
    return path


def final_table(out: str) -> Dict[tuple, str]:
    """(stage, metric) -> our value, from the table the runner prints last (the tools' own
    per-class tables come before it)."""
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if 'ours beside the paper' in line)
    table = {}
    for line in lines[start + 1:]:
        if not line.startswith('| '):
            continue
        stage, _, metric, ours, _ = [c.strip() for c in line.strip('|').split('|')]
        if stage != 'stage':
            table[(stage, metric)] = ours
    return table


def stage_commands(out: str) -> Dict[str, List[str]]:
    """stage -> the command printed under its '[reproduce] [k/n] stage: ...' line."""
    lines = out.splitlines()
    found = {}
    for i, line in enumerate(lines):
        if line.startswith('[reproduce] [') and '/' in line.split()[1]:
            name = line.split()[2].rstrip(':')
            found.setdefault(name, shlex.split(lines[i + 1]))
    return found


def cfg_options(argv: List[str]) -> Dict[str, str]:
    i = argv.index('--cfg-options') if '--cfg-options' in argv else len(argv)
    return dict(item.split('=', 1) for item in argv[i + 1:])


# ---------------------------------------------------------------- the declarations
EXPECTED_ROWS = {
    ('source-only', 'gta5'), ('advent', 'gta5'), ('fada', 'gta5'), ('fada', 'synthia'),
    ('mada', 'gta5'), ('mada', 'synthia'), ('ldr', 'gta5'), ('ldr', 'synthia'),
    ('ldr-norecon', 'gta5'), ('ldr-norecon', 'synthia'),
    *[(m, b) for m in ('adaptsegnet', 'ssf-dan', 'fada') for b in
      ('gta5', 'synthia', 'crosscity-rome', 'crosscity-rio', 'crosscity-tokyo',
       'crosscity-taipei')],
    *[(m, 'toy') for m in ('source-only', 'adaptsegnet', 'advent', 'fada', 'ssf-dan', 'mada',
                           'ldr')]}
# Real rows whose final config has no '(paper)' number in its metafile.
NO_PAPER_NUMBER = {('mada', 'synthia')}  # Table 2's multi-scale row is not in the metafile


def test_the_rows_are_the_paper_rows_with_real_configs():
    assert set(all_rows()) == EXPECTED_ROWS


def test_every_row_is_in_the_run_book():
    """docs/reproduce.md has the command of every real row and names every toy row."""
    doc = (REPO / 'docs/reproduce.md').read_text()
    documented = set()
    for line in doc.splitlines():
        if line.startswith('| `python tools/reproduce.py '):
            method = line.split()[3]
            for name in re.findall(r'(gta5|synthia|crosscity-\{[a-z,]+\})', line.split('|')[1]):
                cities = name[len('crosscity-{'):-1].split(',') if '{' in name else [None]
                documented |= {(method, f'crosscity-{c}' if c else name) for c in cities}
    [toy] = re.findall(r'reproduce.py METHOD toy` for (.*?)\. They', doc, re.S)
    documented |= {(m, 'toy') for m in re.findall(r'`([a-z-]+)`', toy)}
    assert documented == EXPECTED_ROWS


def work_dir_paths(node, key: str = ''):
    """(dotted key, value) of every string under ``node`` that names a path in work_dirs/."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from work_dir_paths(value, f'{key}.{name}' if key else name)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from work_dir_paths(value, f'{key}.{i}')
    elif isinstance(node, str) and node.startswith('work_dirs/'):
        yield key, node


@functools.lru_cache(maxsize=None)
def config_as_shipped(path: str) -> Config:
    return Config.fromfile(str(REPO / path))


READ_BY_MMENGINE = ('load_from', 'model', 'train_dataloader', 'val_dataloader',
                    'test_dataloader')


@pytest.mark.parametrize('key', sorted(EXPECTED_ROWS), ids=' '.join)
def test_chained_paths_are_what_the_configs_read(key):
    """With the default root, the path a stage passes for each key it reads is the value its
    config holds, and every work_dirs/ path its config reads is declared: a renamed config, a
    changed max_iters or a moved folder breaks the chain here."""
    row = all_rows()[key]
    planned = {p.name: p for p in plan_row(row, RunOptions(root='work_dirs'))}
    for p in planned.values():
        if p.stage.kind not in (TRAIN, TEST, PSEUDO_LABELS, TRANSLATE):
            continue
        assert (REPO / p.config).is_file(), p.config
        cfg = config_as_shipped(p.config)  # as a user runs it by hand
        passed = dict(p.options)
        for option_key, value in passed.items():
            if value.startswith('work_dirs/'):
                assert os.path.normpath(config_value(cfg, option_key)) == value, \
                    (p.name, option_key)
        tool = p.stage.kind != TRAIN  # it loads a trained checkpoint instead
        read = [(k, v) for k, v in work_dir_paths({k: cfg.get(k) for k in READ_BY_MMENGINE})
                if not (tool and starts_from(k))]
        for config_key, value in read:
            assert passed.get(config_key) == os.path.normpath(value), \
                f'{row.key}: stage {p.name} config reads {config_key}={value}, not declared'
        if p.stage.kind == TRAIN:
            assert p.output == f'work_dirs/{Path(p.config).stem}/iter_' \
                               f'{cfg.train_cfg.max_iters}.pth'
        if p.checkpoint:  # test / labels / translation read the trained stage's checkpoint
            assert p.checkpoint == planned[p.stage.of].output
    final = planned['test']
    if key[1] != 'toy' and key not in NO_PAPER_NUMBER:
        assert final.paper, f'{row.key}: no paper number for {final.config}'


def test_fada_gta5_dry_run_prints_every_stage_chained(tmp_path):
    root = tmp_path / 'runs'
    out = run_reproduce(REPO, 'fada', 'gta5', '--dry-run', '--work-dir-root', str(root))
    assert not root.exists()  # a dry run writes nothing
    cmds = stage_commands(out)
    assert list(cmds) == ['warmup', 'fada', 'pseudo', 'sd', 'test']
    warm, fada, pseudo, sd, test = cmds.values()
    stem = 'dlv2-r101-tv_1xb8-20k_gta5-1280x720_cityscapes-1024x512'
    assert warm[1:4] == ['tools/train.py', f'configs/fada/fada-warmup_{stem}.py', '--work-dir']
    assert cfg_options(fada)['load_from'] == f'{warm[4]}/iter_20000.pth'
    assert pseudo[1] == 'tools/generate_pseudo_labels.py' and pseudo[2] == fada[2]
    assert pseudo[3] == f'{fada[4]}/iter_40000.pth'
    assert pseudo[pseudo.index('--policy') + 1] == 'argmax'
    out_dir = pseudo[pseudo.index('--out-dir') + 1]
    assert cfg_options(sd)['train_dataloader.dataset.data_prefix.seg_map_path'] == out_dir
    assert test[1] == 'tools/test.py' and 'fada-sd-mst_' in test[2] and '--tta' in test
    assert test[3] == f'{sd[4]}/iter_20000.pth'
    # the paper's number of the multi-scale row, from the metafile, beside ours
    meta = yaml.safe_load((REPO / 'configs/fada/metafile.yaml').read_text())
    [mst] = [m for m in meta['Models'] if m['Name'] == Path(test[2]).stem]
    paper = mst['Results'][0]['Metrics']['mIoU(ms+flip) (paper)']
    row = [line for line in out.splitlines() if line.startswith('| test |')]
    assert row == [f'| test | {Path(test[2]).stem} --tta | mIoU(ms+flip) | - | {paper:g} |']


# ---------------------------------------------------------------- toy rows end to end
@pytest.fixture(scope='module')
def fada_toy(toy_root, tmp_path_factory):
    """An uninterrupted run of the FADA toy row: (working dir, output)."""
    cwd = toy_workspace(tmp_path_factory.mktemp('fada_toy'), toy_root)
    return cwd, run_reproduce(cwd, 'fada', 'toy', '--cfg-options', *FADA_TINY)


def test_fada_toy_row_runs_every_stage_and_a_rerun_skips_them(fada_toy):
    cwd, out = fada_toy
    assert '[1/6] data: finished' in out  # the tiny domains are there
    for stage in ('warmup', 'fada', 'pseudo', 'sd', 'test'):
        assert f'] {stage}: done in' in out, stage
    table = final_table(out)
    assert set(table) == {(s, 'mIoU') for s in ('warmup', 'fada', 'sd', 'test')}
    assert all(value != '-' for value in table.values()), table
    results = json.loads((cwd / 'work_dirs/reproduce/fada_toy.json').read_text())
    assert [r['stage'] for r in results['stages']] == ['warmup', 'fada', 'sd', 'test']
    assert (cwd / 'work_dirs/reproduce/fada_toy/fada.log').is_file()
    again = run_reproduce(cwd, 'fada', 'toy', '--cfg-options', *FADA_TINY)
    assert 'done in' not in again
    for stage in ('data', 'warmup', 'fada', 'pseudo', 'sd', 'test'):
        assert f'] {stage}: finished' in again, stage
    assert final_table(again) == table


def kill_when_checkpointed(cwd: Path, stage_dir: Path, args: List[str]) -> int:
    """Start the runner, SIGKILL it and its stage (its whole process group, as a preempted
    job dies) once the stage has saved a checkpoint at iteration KILL_AT or later; return the
    iteration of the checkpoint it left."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    with open(cwd / 'killed_run.txt', 'wb') as log:
        proc = subprocess.Popen([sys.executable, str(TOOL), *args], cwd=cwd, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        pointer = stage_dir / 'last_checkpoint'
        deadline = time.time() + 300
        while checkpoint_iteration(pointer) < KILL_AT:
            assert proc.poll() is None and time.time() < deadline, \
                (cwd / 'killed_run.txt').read_text()[-3000:]
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return checkpoint_iteration(pointer)


def checkpoint_iteration(pointer: Path) -> int:
    text = pointer.read_text().strip() if pointer.exists() else ''
    return int(text.rsplit('iter_', 1)[1][:-len('.pth')]) if text.endswith('.pth') else -1


def test_a_killed_stage_resumes_to_the_uninterrupted_metrics(fada_toy, toy_root, tmp_path):
    """The runner and the FADA stage killed once the stage checkpointed iteration 4 or later,
    then rerun: the stage resumes from its checkpoint and the row ends with the uninterrupted
    run's numbers, exactly (the same deterministic CPU code on the same inputs)."""
    full_cwd, full = fada_toy
    cwd = toy_workspace(tmp_path, toy_root)
    warmup = 'work_dirs/fada-warmup_dlv2-r18-toy_1xb4-200_toy-source_toy-target'
    shutil.copytree(full_cwd / warmup, cwd / warmup)  # a finished stage, reused
    stage_dir = cwd / 'work_dirs/fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target'
    killed_at = kill_when_checkpointed(cwd, stage_dir, ['fada', 'toy', '--cfg-options',
                                                        *FADA_TINY])
    assert KILL_AT <= killed_at < FADA_ITERS, 'the stage was killed in the middle'
    assert not (cwd / 'work_dirs/fada-toy_pseudo_labels').exists()
    out = run_reproduce(cwd, 'fada', 'toy', '--cfg-options', *FADA_TINY)
    assert '[2/6] warmup: finished' in out
    resume = f'{stage_dir.relative_to(cwd)}/iter_{killed_at}.pth'
    assert f'fada: interrupted, resumes from {resume}' in out
    command = stage_commands(out)['fada']
    assert '--resume' in command and cfg_options(command)['load_from'] == resume
    assert f'resumed epoch: 0, iter: {killed_at}' in out  # mmengine resumed, not restarted
    assert final_table(out) == final_table(full)


def test_ldr_toy_row_runs_every_stage_and_a_rerun_skips_them(toy_root, tmp_path):
    cwd = toy_workspace(tmp_path, toy_root)
    out = run_reproduce(cwd, 'ldr', 'toy', '--cfg-options', *LDR_TINY)
    stages = ('translator', 'translate-train', 'translate-val', 'recon-pretrain', 'source-only',
              'stage0', 'pseudo', 'stage1', 'test')
    for stage in stages:
        assert f'] {stage}: done in' in out, stage
    cmds = stage_commands(out)
    translated = cmds['translate-val'][cmds['translate-val'].index('--out-dir') + 1]
    assert cfg_options(cmds['stage1'])['val_dataloader.dataset.data_prefix.img_path'] == \
        translated
    table = final_table(out)
    assert set(table) == {('source-only', 'mIoU'), ('stage0', 'mIoU'), ('stage1', 'mIoU'),
                          ('test', 'mIoU')}
    assert cfg_options(cmds['stage0'])['load_from'].endswith('/iter_2.pth')
    assert all(value != '-' for value in table.values()), table
    again = run_reproduce(cwd, 'ldr', 'toy', '--cfg-options', *LDR_TINY)
    assert 'done in' not in again and final_table(again) == table
    for stage in stages:
        assert f'] {stage}: finished' in again, stage


# ---------------------------------------------------------------- errors
def test_a_failing_stage_is_named_with_its_log(toy_root, tmp_path):
    cwd = toy_workspace(tmp_path, toy_root)
    out = run_reproduce(cwd, 'fada', 'toy', '--cfg-options', *FADA_TINY,
                        'warmup:train_dataloader.dataset.source.data_root=no/such/folder',
                        returncode=1)
    assert "stage 'warmup' failed (exit status 1); its output: " \
           'work_dirs/reproduce/fada_toy/warmup.log' in out
    assert 'no/such/folder' in (cwd / 'work_dirs/reproduce/fada_toy/warmup.log').read_text()
    assert '] fada:' not in out  # nothing after the failed stage ran


def test_an_output_older_than_its_input_is_refused(fada_toy, tmp_path):
    """The FADA checkpoint written again after the pseudo labels were made from it: reusing
    the labels would mix two runs."""
    cwd = tmp_path / 'copy'
    shutil.copytree(fada_toy[0], cwd, symlinks=True)
    ckpt = cwd / f'work_dirs/fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target/iter_{FADA_ITERS}.pth'
    labels = cwd / 'work_dirs/fada-toy_pseudo_labels/pseudo_labels.json'
    os.utime(ckpt, (labels.stat().st_mtime + 10,) * 2)
    out = run_reproduce(cwd, 'fada', 'toy', '--dry-run', '--cfg-options', *FADA_TINY,
                        returncode=2)
    assert f"stage 'pseudo': its output {labels.relative_to(cwd)} is older than its input " \
           f"{ckpt.relative_to(cwd)} (stage 'fada')" in out


@pytest.fixture(scope='module')
def reproduce_main():
    return load_script(TOOL, 'reproduce_tool').main


def test_unknown_rows_and_stages_are_named(reproduce_main, capsys):
    assert reproduce_main(['fadda', 'gta5', '--dry-run']) == 2
    assert 'unknown method' in capsys.readouterr().err
    assert reproduce_main(['ldr', 'crosscity-rome', '--dry-run']) == 2
    assert 'its benchmarks: gta5, synthia, toy' in capsys.readouterr().err
    assert reproduce_main(['fada', 'toy', '--dry-run', '--cfg-options', 'sdd:a=1']) == 2
    assert "names stage 'sdd'" in capsys.readouterr().err


def test_missing_weights_stop_the_row_before_anything_runs(reproduce_main, capsys, tmp_path,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)  # no checkpoints/ here
    assert reproduce_main(['fada', 'gta5']) == 2
    err = capsys.readouterr().err
    assert 'missing weights, nothing was run' in err
    assert "stages warmup, fada: model.segmentor.backbone.init_cfg.checkpoint is " \
           "'checkpoints/resnet101-5d3b4d8f.pth', which does not exist" in err
    assert "stage sd: model.backbone.init_cfg.checkpoint is " \
           "'checkpoints/resnet101-5d3b4d8f.pth'" in err
    assert not (tmp_path / 'work_dirs').exists()


def test_gpus_keep_the_recipe_batch_and_choose_the_launch_scripts(reproduce_main, capsys):
    assert reproduce_main(['fada', 'gta5', '--dry-run', '--gpus', '4']) == 0
    cmds = stage_commands(capsys.readouterr().out)
    assert cmds['warmup'][:2] == ['bash', 'tools/dist_train.sh'] and cmds['warmup'][3] == '4'
    assert cfg_options(cmds['warmup'])['train_dataloader.batch_size'] == '2'  # 8 / 4
    assert cfg_options(cmds['fada'])['train_dataloader.batch_size'] == '1'  # 4 / 4
    assert cmds['pseudo'][1:4] == ['-m', 'torch.distributed.run', '--nproc_per_node=4']
    assert '--launcher' in cmds['pseudo']
    assert 'train_dataloader.batch_size' not in cfg_options(cmds['pseudo'])
    assert cmds['test'][:2] == ['bash', 'tools/dist_test.sh'] and cmds['test'][4] == '4'
    assert reproduce_main(['fada', 'gta5', '--dry-run', '--gpus', '3']) == 2
    assert 'trains a batch of 8 per iteration, which 3 GPUs cannot share' in \
        capsys.readouterr().err
    assert reproduce_main(['ldr', 'gta5', '--dry-run', '--gpus', '2', '--launcher', 'slurm',
                           '--partition', 'p']) == 2  # LDR trains a batch of 1
    capsys.readouterr()
    assert reproduce_main(['fada', 'gta5', '--dry-run', '--gpus', '4', '--launcher', 'slurm',
                           '--partition', 'p', '--job-name', 'j']) == 0
    cmds = stage_commands(capsys.readouterr().out)
    assert cmds['warmup'][:5] == ['GPUS=4', 'GPUS_PER_NODE=4', 'bash', 'tools/slurm_train.sh',
                                  'p'] and cmds['warmup'][5] == 'j-warmup'
    pseudo = cmds['pseudo']
    assert pseudo[:3] == ['srun', '-p', 'p'] and '--ntasks=4' in pseudo
    assert pseudo[pseudo.index('--launcher') + 1] == 'slurm'
    assert cmds['test'][3] == 'tools/slurm_test.sh'


def test_a_missing_config_is_named():
    row = Row('fada', 'nowhere', (
        Stage('warmup', TRAIN, 'w', config='configs/fada/no_such_config.py'),
        Stage('test', TEST, 't', of='warmup')))
    with pytest.raises(PlanError, match=r"fada nowhere, stage 'warmup': config "
                                        r'\S*configs/fada/no_such_config.py does not exist'):
        plan_row(row, RunOptions())


def test_a_row_that_reads_a_later_stage_is_refused():
    with pytest.raises(ValueError, match="stage 'fada' reads 'warmup', which is not an earlier"):
        Row('fada', 'x', (Stage('fada', TRAIN, 'f', config='c.py', reads=(('load_from',
                                                                           'warmup'),)),
                          Stage('warmup', TRAIN, 'w', config='c.py'),
                          Stage('test', TEST, 't', of='fada')))


def test_find_row_accepts_folder_names():
    assert find_row('ssf_dan', 'GTA5').key == 'ssf-dan gta5'
    assert find_row('source_only', 'toy').key == 'source-only toy'
