"""tools/generate_pseudo_labels.py: one process, bad options, and 2 gloo processes."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from PIL import Image

from conftest import REPO, TOY_SOURCE_ONLY, load_script, toy_cfg

HERE = Path(__file__).parent
TOOL = REPO / 'tools/generate_pseudo_labels.py'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def setup(toy_root, tmp_path_factory):
    """A config of the fake adversarial model and a checkpoint of its random weights."""
    work = tmp_path_factory.mktemp('tool')
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, work / 'work')
    cfg.model.type = 'FakeAdversarialSegmentor'
    cfg.custom_imports = dict(imports=['mmuda', 'fake_models'], allow_failed_imports=False)
    import fake_models  # noqa: F401  (registers the fake model here too)
    init_default_scope('mmseg')  # module fixtures run before the autouse one of conftest
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), work / 'model.pth')
    cfg.dump(str(work / 'cfg.py'))
    return work


def run(setup: Path, *args: str, nproc: int = 1) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=f'{HERE}:{REPO}:{os.environ.get("PYTHONPATH", "")}')
    base = [str(TOOL), str(setup / 'cfg.py'), str(setup / 'model.pth'), '--num-workers', '0']
    if nproc == 1:
        cmd = [sys.executable, *base, *args]
    else:
        cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
               f'--master_port={free_port()}', *base, *args, '--launcher', 'pytorch']
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def labels_of(out: Path) -> dict:
    return {p.name: np.asarray(Image.open(p)) for p in (out / 'toy').glob('*.png')}


def test_tool_one_process_then_two_gloo_processes_agree(setup, tmp_path):
    args = ['--policy', 'adversarial_proxy', '--p1', '0.7', '--p2', '0.5', '--bins', '512']
    single, dist = tmp_path / 'single', tmp_path / 'dist'
    proc = run(setup, *args, '--out-dir', str(single), '--vis', '3')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '8 pseudo-label maps' in proc.stdout
    summary = json.loads((single / 'pseudo_labels.json').read_text())
    assert summary['options']['p1'] == 0.7 and summary['options']['bins'] == 512
    assert summary['checkpoint'] == str(setup / 'model.pth')
    assert len(list((single / 'vis').rglob('*.png'))) == 3
    proc = run(setup, *args, '--out-dir', str(dist), nproc=2)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    # each rank labelled half of the images; histograms reduced across ranks give the very
    # thresholds, counts and labels of one process
    assert json.loads((dist / 'pseudo_labels.json').read_text()) == summary
    one, two = labels_of(single), labels_of(dist)
    assert len(one) == 8 and one.keys() == two.keys()
    for name in one:
        assert np.array_equal(one[name], two[name]), name


@pytest.mark.parametrize('args, error, message', [
    (['--policy', 'argmax', '--cap', '0.8'], SystemExit, '--cap applies to --policy class_median'),
    (['--policy', 'class_median', '--cap', '1.5'], ValueError, r'cap must lie in \(0, 1\]'),
    (['--policy', 'argmax', '--split-key', 'train_dataloader.nope'], KeyError, "no 'nope'"),
])
def test_tool_rejects_bad_options(setup, tmp_path, args, error, message):
    """In process (the subprocess path is covered above): main() fails before any output."""
    tool = load_script(TOOL)
    argv = [str(TOOL), str(setup / 'cfg.py'), str(setup / 'model.pth'), '--num-workers', '0',
            '--out-dir', str(tmp_path / 'out'), *args]
    with mock.patch.object(sys, 'argv', argv), pytest.raises(error, match=message):
        tool.main()
    assert not (tmp_path / 'out' / 'toy').exists()
