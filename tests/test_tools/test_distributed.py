"""tools/dist_train.sh with 2 processes (gloo on CPU): ranks agree and 2x1 equals 1x2, for
every method (LDR: its segmentor stage, with the reconstruction)."""
import os
import socket
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
    toy_cfg,
    toy_ldr_cfg,
)

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ldr_cfg(root: Path, work: Path, iters: int):
    """LDR's segmentor stage with every child and loss term, conditioned for a 2x1 == 1x2
    comparison. Two parts of the toy recipe turn float32 rounding (the batch-of-2 and batch-of-1
    convolutions sum in another order, ~1e-7 relative) into differences far above it, whatever
    the distribution does: the Boltzmann softmax of eq. 3 with tau 0.001 multiplies the logits'
    rounding by 1000 before M sees them, and Adam turns the rounding noise in the gradients of
    the convolution biases in front of InstanceNorm (mathematically zero: the norm removes a
    per-channel constant) into steps of the full learning rate. Measured on this test: 2.7e-3
    apart with the recipe, 4e-7 with tau 1 and SGD for M and the D_k. (In float64 the gradient
    of a batch of 2 is the mean of those of its two halves to 2e-11 relative, the bias
    gradients in front of InstanceNorm being ~1e-17: the loss itself is batch-additive.)"""
    cfg = toy_ldr_cfg(root, work, iters)
    cfg.model.tau = 1.0
    for name in ('reconstructor', 'recon_discriminator'):
        cfg.optim_wrapper[name] = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=1e-2))
    return cfg


def deterministic_cfg(config, root: Path, work: Path, batch: int):
    """Toy config (or a builder of one) without random augmentation (flips and jitter draw from
    per-process numpy state)."""
    cfg = config(root, work, 3) if callable(config) else toy_cfg(config, root, work, iters=3)
    for branch in ('source', 'target'):
        pipe = cfg.train_dataloader.dataset[branch].pipeline
        cfg.train_dataloader.dataset[branch].pipeline = [
            t for t in pipe if t['type'] not in ('RandomFlip', 'ColorJitter')]
    cfg.train_dataloader.batch_size = batch
    cfg.custom_imports = dict(imports=['mmuda', 'dist_probe'], allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='DumpRankWeightsHook')]
    cfg.train_cfg.val_interval = 100  # no validation: this test is about training
    return cfg


def launch(cfg, work: Path, gpus: int) -> None:
    path = work / 'cfg.py'
    cfg.dump(str(path))
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=f'{HERE}:{os.environ.get("PYTHONPATH", "")}',
               PATH=f'{Path(sys.executable).parent}:{os.environ["PATH"]}')
    if gpus == 1:
        cmd = [sys.executable, str(REPO / 'tools/train.py'), str(path)]
    else:
        cmd = ['bash', str(REPO / 'tools/dist_train.sh'), str(path), str(gpus)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


@pytest.mark.parametrize('config', [TOY_SOURCE_ONLY, TOY_ADAPTSEGNET, TOY_FADA, TOY_SSF_DAN,
                                    TOY_ADVENT, TOY_MADA, ldr_cfg],
                         ids=['source-only', 'adaptsegnet', 'fada', 'ssf_dan', 'advent', 'mada',
                              'ldr'])
def test_two_ranks_stay_identical_and_match_one_process(config, toy_root, tmp_path):
    dist_dir, single_dir = tmp_path / 'dist', tmp_path / 'single'
    dist_dir.mkdir()
    single_dir.mkdir()
    launch(deterministic_cfg(config, toy_root, dist_dir, batch=1), dist_dir, gpus=2)
    launch(deterministic_cfg(config, toy_root, single_dir, batch=2), single_dir, gpus=1)
    rank0 = torch.load(dist_dir / 'rank0_weights.pt')
    rank1 = torch.load(dist_dir / 'rank1_weights.pt')
    single = torch.load(single_dir / 'rank0_weights.pt')
    start = torch.load(dist_dir / 'iter_3.pth')['state_dict']
    assert rank0.keys() == rank1.keys() == single.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f'ranks drifted apart at {key}'
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-4, atol=1e-5,
                                   msg=f'2x1 differs from 1x2 at {key}')
    assert torch.equal(start['segmentor.decode_head.branches.0.weight'],
                       rank0['segmentor.decode_head.branches.0.weight'])
