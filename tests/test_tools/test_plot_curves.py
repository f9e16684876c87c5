"""tools/analysis_tools/plot_curves.py on the scalars.json of a real short run."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.runner import Runner
from PIL import Image

from conftest import REPO, TOY_ADAPTSEGNET, load_script, toy_cfg

TOOL = REPO / 'tools/analysis_tools/plot_curves.py'
PANEL_PX = 260  # figsize height per panel (2.6 in) at 100 dpi
TAB_BLUE, TAB_ORANGE = (31, 119, 180), (255, 127, 14)  # matplotlib's first two line colours


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=REPO, capture_output=True,
                          text=True)


@pytest.fixture(scope='module')
def run_dir(toy_root, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp('curves')
    cfg = toy_cfg(TOY_ADAPTSEGNET, toy_root, work, iters=4)
    # mmengine reuses a visualiser of the same name, and with it the save_dir of an earlier
    # in-process run: a name of its own sends this run's scalars.json to this work dir
    cfg.visualizer.name = f'visualizer_{work.name}'
    cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                        dict(type='TermGradientNormHook', interval=2, depths=(1, 2, 3))]
    Runner.from_cfg(cfg).train()
    return work


def records(work: Path) -> list:
    (scalars,) = work.glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in scalars.read_text().splitlines()]


def test_discriminator_accuracy_is_logged_every_iteration(run_dir):
    train = [r for r in records(run_dir) if 'iter' in r and 'loss' in r]  # LoggerHook's
    assert [r['iter'] for r in train] == [1, 2, 3, 4]
    for rec in train:
        for level in ('main', 'aux'):
            assert 0.0 <= rec[f'disc.{level}.acc'] <= 1.0


def test_term_gradient_norms_are_logged_at_the_first_and_every_interval(run_dir):
    """TermGradientNormHook(interval=2): iterations 1, 2 and 4, every generator term per
    child and per backbone stage, into scalars.json, its own file and the text log."""
    norms = [r for r in records(run_dir) if any(k.startswith('grad_norm/') for k in r)]
    assert [r['iter'] for r in norms] == [1, 2, 4]
    terms = ('src.decode.loss_ce', 'src.aux.loss_ce', 'adv.main.loss_gen', 'adv.aux.loss_gen',
             'loss')
    for rec in norms:
        for group in ('segmentor', 'segmentor.backbone.layer4', 'segmentor.decode_head'):
            for term in terms:
                assert rec[f'grad_norm/{group}/{term}'] >= 0, (group, term)
        assert rec['grad_norm/segmentor/src.decode.loss_ce'] > 0
        # the main head's classifier gets nothing from the auxiliary head's loss
        assert rec['grad_norm/segmentor.decode_head/src.aux.loss_ce'] == 0
    (own,) = run_dir.glob('*/vis_data/term_grad_norms.json')
    assert len(own.read_text().splitlines()) == 3
    (log,) = run_dir.glob('*/*.log')
    assert 'Iter(train) [2] grad_norm segmentor: src.decode.loss_ce' in log.read_text()


def test_plot_has_one_panel_per_kind(run_dir, tmp_path):
    out = tmp_path / 'sub' / 'curves.png'
    proc = run(str(run_dir), '--out', str(out), '--keys', '*.*loss*', 'disc.*.acc', 'mIoU*',
               'grad_norm/segmentor/*')
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ('segmentation loss', 'adversarial loss', 'discriminator loss',
                 'discriminator accuracy', 'gradient norm w.r.t. segmentor (log)',
                 'validation'):
        assert name in proc.stdout
    image = np.asarray(Image.open(out).convert('RGB'))
    assert image.shape == (6 * PANEL_PX, 800, 3)
    colors = {tuple(c) for c in image.reshape(-1, 3)}
    assert TAB_BLUE in colors and TAB_ORANGE in colors  # curves drawn, not just axes
    assert not list(out.parent.glob('.*.tmp'))  # atomic write left no temporary file


def test_keys_select_the_curves(run_dir, tmp_path):
    out = tmp_path / 'acc.png'
    (scalars,) = run_dir.glob('*/vis_data/scalars.json')
    proc = run(str(scalars), '--out', str(out), '--keys', 'disc.*.acc')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '2 curves in 1 panel(s)' in proc.stdout
    assert Image.open(out).size == (800, PANEL_PX)


def test_errors_name_the_path_and_the_option(run_dir, tmp_path):
    proc = run(str(tmp_path / 'missing'), '--out', str(tmp_path / 'x.png'))
    assert proc.returncode != 0 and 'missing does not exist' in proc.stderr
    proc = run(str(tmp_path), '--out', str(tmp_path / 'x.png'))
    assert proc.returncode != 0 and 'no vis_data/scalars.json' in proc.stderr
    proc = run(str(run_dir), '--out', str(tmp_path / 'x.png'), '--keys', 'nope*')
    assert proc.returncode != 0 and '--keys nope*' in proc.stderr
    assert 'disc.main.acc' in proc.stderr  # lists what is available
    assert not (tmp_path / 'x.png').exists()


def test_resumed_runs_are_merged_in_order_and_smoothing(tmp_path):
    tool = load_script(TOOL)
    for stamp, rows in (('20240101_000000', [(1, 1.0), (2, 2.0), (3, 9.0)]),
                        ('20240102_000000', [(3, 3.0), (4, 4.0)])):
        path = tmp_path / stamp / 'vis_data' / 'scalars.json'
        path.parent.mkdir(parents=True)
        path.write_text('\n'.join(json.dumps({'src.loss': v, 'iter': i, 'step': i})
                                  for i, v in rows) + '\n{"mIoU": 50.0, "step": 4}\n')
    train, val = tool.read_records(tool.scalar_files(tmp_path))
    assert train == {'src.loss': {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}}  # the resumed run wins
    assert val == {'mIoU': {4: 50.0}}
    np.testing.assert_allclose(tool.smooth(np.array([1.0, 2.0, 3.0, 4.0]), 2),
                               [1.0, 1.5, 2.5, 3.5])
    assert list(tool.group(train, val)) == ['segmentation loss (src.*)', 'validation']
    logged = {k: {1: 1.0} for k in ('loss', 'lr', 'ent.main.loss_ent', 'disc.aux.acc',
                                     'disc.aux.loss_src', 'adv.main.loss_gen', 'src.x.loss_ce',
                                     'grad_norm/segmentor/src.x.loss_ce',
                                     'grad_norm/segmentor/loss')}
    panels = tool.group(tool.select(logged, tool.DEFAULT_KEYS), {'mIoU16': {1: 1.0}})
    assert {k: sorted(v) for k, v in panels.items()} == {  # method prefixes get their own panel
        'segmentation loss (src.*)': ['src.x.loss_ce'],
        'adversarial loss (adv.*)': ['adv.main.loss_gen'],
        'discriminator loss (disc.*)': ['disc.aux.loss_src'],
        'discriminator accuracy (disc.*.acc)': ['disc.aux.acc'],
        'ent.*': ['ent.main.loss_ent'],
        'gradient norm w.r.t. segmentor (log)': ['grad_norm/segmentor/loss',
                                                 'grad_norm/segmentor/src.x.loss_ce'],
        'validation': ['mIoU16']}
    assert list(panels)[-1] == 'validation'
    bad = tmp_path / 'bad.json'
    bad.write_text('{"iter": 1}\nnot json\n')
    with pytest.raises(ValueError, match='bad.json:2'):
        tool.read_records([bad])
