"""tools/analysis_tools/toy_leaderboard.py: the sign test, the docs section, and the real
command on 2 seeds x 2 tiny runs (a 2-iteration schedule through --cfg-options), its
--dry-run and its resumption."""
import json
import math
import os
import subprocess
import sys

import pytest

from conftest import REPO, load_script

leaderboard = load_script('tools/analysis_tools/toy_leaderboard.py')
SCRIPT = str(REPO / 'tools/analysis_tools/toy_leaderboard.py')
BASE = 'source-only'
JITTER = 'source-only + jitter'
# Tiny schedule and a 4-image target val, no dataloader workers: seconds per run.
TINY = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'val_dataloader.dataset.indices=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False']


def test_sign_test_is_the_exact_two_sided_binomial_with_ties_dropped():
    assert leaderboard.sign_test([1.0, 2.0, 0.5, 3.0, 0.1]) == (5, 0, 2 / 32)
    # 4 wins 1 loss: P(split at least as uneven) = 2 * (1 + 5) / 32
    assert leaderboard.sign_test([1.0, -2.0, 0.5, 3.0, 0.1]) == (4, 1, 12 / 32)
    assert leaderboard.sign_test([1.0, -1.0, 0.0]) == (1, 1, 1.0)
    assert leaderboard.sign_test([0.0, 0.0]) == (0, 0, 1.0)
    wins, losses, p = leaderboard.sign_test([1.0] * 6 + [-1.0] * 2)
    assert (wins, losses) == (6, 2) and math.isclose(p, 2 * (1 + 8 + 28) / 256)


def has_jitter(cfg) -> bool:
    return any(t['type'] == 'ColorJitter' for t in cfg.train_dataloader.dataset.source.pipeline)


def test_every_method_is_compared_with_a_baseline_of_its_own_model_and_jitter():
    from mmengine.config import Config
    cfgs = {e.name: Config.fromfile(str(REPO / e.config)) for e in leaderboard.LEADERBOARD}
    for entry in leaderboard.LEADERBOARD:
        cfg = cfgs[entry.name]
        if cfg.model.type != 'UDASegmentor':  # a method: one baseline matches its jitter
            assert [b for b in entry.baselines if has_jitter(cfgs[b]) == has_jitter(cfg)]
        for base in entry.baselines:
            assert cfgs[base].model.type == 'UDASegmentor'
            assert cfgs[base].model.segmentor == cfg.model.segmentor, (entry.name, base)
            assert cfgs[base].train_dataloader.dataset.target == \
                cfg.train_dataloader.dataset.target
    # every run's folder is its own: config names are unique
    configs = [e.config for e in leaderboard.LEADERBOARD] + [
        e.warmup for e in leaderboard.LEADERBOARD if e.warmup]
    assert len({os.path.basename(c) for c in configs}) == len(configs)


def test_the_section_goes_between_the_markers_and_other_text_stays(tmp_path):
    doc = tmp_path / 'doc.md'
    doc.write_text(f'# title\n{leaderboard.BEGIN}\nold\n{leaderboard.END}\nafter\n')
    leaderboard.replace_section(doc, 'new table')
    assert doc.read_text() == f'# title\n{leaderboard.BEGIN}\nnew table\n{leaderboard.END}\nafter\n'
    doc.write_text('# no markers\n')
    with pytest.raises(SystemExit, match='doc.md: expected one line'):
        leaderboard.replace_section(doc, 'new table')
    assert doc.read_text() == '# no markers\n'
    assert not list(tmp_path.glob('.*.tmp'))


def test_only_refuses_an_unknown_run_and_adds_the_baselines():
    assert [e.name for e in leaderboard.select([JITTER])] == [BASE, JITTER]
    with pytest.raises(SystemExit, match="unknown run"):
        leaderboard.select(['FADA'])


def command(tmp_path, *extra):
    return [sys.executable, SCRIPT, '--only', JITTER, '--seeds', '0', '1',
            '--work-dir', str(tmp_path / 'work'), '--data-root', str(tmp_path / 'data'),
            '--docs', str(tmp_path / 'doc.md'), '--cfg-options', *TINY, *extra]


def leaderboard_run(tmp_path, *extra):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    done = subprocess.run(command(tmp_path, *extra), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_two_seeds_of_two_tiny_runs_dry_run_and_resume(tmp_path):
    doc = tmp_path / 'doc.md'
    doc.write_text(f'# toy\n{leaderboard.BEGIN}\n{leaderboard.END}\nafter\n')
    out = leaderboard_run(tmp_path, '--dry-run')
    assert out.count('tools/train.py') == 4 and out.count('(to train)') == 4
    assert not (tmp_path / 'work').exists() and not (tmp_path / 'data').exists()

    out = leaderboard_run(tmp_path)
    runs = sorted((tmp_path / 'work').glob('*/seed*'))
    # a folder per config and seed; the tiny options add their hash
    assert [(r.parent.name.split('_')[0], r.name.split('-')[0]) for r in runs] == [
        ('source-only-jitter', 'seed0'), ('source-only-jitter', 'seed1'),
        ('source-only', 'seed0'), ('source-only', 'seed1')]
    assert all((r / 'iter_2.pth').is_file() for r in runs)
    result = json.loads((tmp_path / 'work/leaderboard.json').read_text())
    assert result['seeds'] == [0, 1] and list(result['runs']) == [BASE, JITTER]
    (comparison,) = result['comparisons']
    base, jitter = result['runs'][BASE]['per_seed'], result['runs'][JITTER]['per_seed']
    assert comparison['deltas'] == pytest.approx([j - b for j, b in zip(jitter, base)])
    text = doc.read_text()
    assert text.startswith(f'# toy\n{leaderboard.BEGIN}\nCommand (run ') and 'after\n' in text
    assert '--seeds 0 1' in text and f'| {JITTER} | {BASE} |' in text
    assert f'{result["runs"][JITTER]["mean"]:.2f}' in text

    # resuming: finished runs are read, not retrained, and the table is rebuilt from them
    out = leaderboard_run(tmp_path)
    assert out.count('not retraining') == 4 and 'tools/train.py' not in out
    assert json.loads((tmp_path / 'work/leaderboard.json').read_text())['runs'] == result['runs']
    # an interrupted sweep: a run without its final checkpoint is the only one to train
    (runs[3] / 'iter_2.pth').unlink()
    out = leaderboard_run(tmp_path, '--dry-run')
    assert out.count('(done)') == 3 and out.count('(to train)') == 1
    assert f'--work-dir {runs[3]}' in out.split('(to train)')[1].splitlines()[1]
    assert not list(tmp_path.rglob('.*.tmp'))


@pytest.mark.parametrize('warmup', ['fada', 'mada'])
def test_the_jittered_single_level_baseline_is_the_warm_up_recipe_run_to_600(warmup):
    """FADA's and the multi-adversarial method's toy stages continue a 200-iteration warm-up;
    their same-budget baseline is that warm-up's recipe (model, data, jitter, optimiser, poly
    over 600) run for all 600 iterations."""
    from mmengine.config import Config
    base = Config.fromfile(str(REPO / leaderboard.SO_SL_J))
    entry = next(e for e in leaderboard.LEADERBOARD if e.warmup and warmup in e.warmup)
    warm = Config.fromfile(str(REPO / entry.warmup))
    for key in ('model', 'train_dataloader', 'val_dataloader', 'optim_wrapper',
                'param_scheduler'):
        assert base[key] == warm[key], key
    assert (base.train_cfg.max_iters, warm.train_cfg.max_iters) == (600, 200)
