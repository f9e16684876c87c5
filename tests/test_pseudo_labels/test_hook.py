"""PseudoLabelHook in a tiny Runner run: regenerated at the interval, checkpointed, resumed."""
import hashlib
import json
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from conftest import TOY_SOURCE_ONLY, toy_cfg
from mmuda.pseudo_labels import PseudoLabelGenerator, resolve_dataset_cfg


def label_digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((out / 'toy').glob('*.png')):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def json_iteration(out: Path):
    path = out / 'pseudo_labels.json'
    return json.loads(path.read_text())['iteration'] if path.exists() else None


@HOOKS.register_module()
class PseudoLabelRecorder(Hook):
    """Test-only: after the PseudoLabelHook (priority NORMAL), record what is on disk."""
    priority = 'LOW'
    records: list = []

    def __init__(self, out_dir: str) -> None:
        self.out = Path(out_dir)

    def before_train(self, runner) -> None:
        self.records.append(('start', runner.iter, json_iteration(self.out),
                             label_digest(self.out) if self.out.exists() else None))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.records.append(('iter', runner.iter + 1, json_iteration(self.out),
                             label_digest(self.out) if self.out.exists() else None))


def hook_cfg(toy_root: Path, work: Path, out: Path, iters: int = 4):
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, work, iters=iters)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.train_cfg.val_interval = 100
    cfg.custom_hooks = [
        dict(type='PseudoLabelHook', interval=2, out_dir=str(out),
             policy=dict(type='class_median', cap=0.9, bins=256)),
        dict(type='PseudoLabelRecorder', out_dir=str(out))]
    return cfg


@pytest.fixture(scope='module')
def full_run(toy_root, tmp_path_factory):
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    work = tmp_path_factory.mktemp('hook')
    out = work / 'pseudo'
    PseudoLabelRecorder.records = []
    runner = Runner.from_cfg(hook_cfg(toy_root, work, out))
    runner.train()
    return work, out, runner, list(PseudoLabelRecorder.records)


def test_labels_are_regenerated_at_the_interval_with_the_current_model(full_run):
    work, out, runner, records = full_run
    iters = [(r[1], r[2]) for r in records if r[0] == 'iter']
    assert iters == [(1, None), (2, 2), (3, 2), (4, 4)]
    digests = {r[1]: r[3] for r in records if r[0] == 'iter'}
    assert digests[2] == digests[3] != digests[4]  # rewritten at 4 only
    # the files at iteration 4 are what the final model labels
    fresh = work / 'fresh'
    PseudoLabelGenerator(resolve_dataset_cfg(runner.cfg),
                         dict(type='class_median', cap=0.9, bins=256), str(fresh),
                         progress=False).run(runner.model)
    assert label_digest(fresh) == digests[4]
    summary = json.loads((out / 'pseudo_labels.json').read_text())
    assert summary['thresholds'] == json.loads((fresh / 'pseudo_labels.json').read_text())[
        'thresholds']
    log = next(work.glob('*/*.log')).read_text()
    assert 'pseudo labels regenerated at iteration 2 (class_median' in log
    assert 'thresholds: {"class_thresholds": {"road"' in log


def test_checkpoint_holds_the_state_of_its_iteration(full_run):
    work, out, _, _ = full_run
    ckpt = torch.load(work / 'iter_4.pth', weights_only=True)
    state = ckpt['pseudo_labels']
    assert state['summary'] == json.loads((out / 'pseudo_labels.json').read_text())
    assert state['labeler']['type'] == 'ClassMedianPseudoLabeler'
    assert state['labeler']['hist']['counts'].sum() == 8 * 32 * 64
    assert torch.load(work / 'iter_2.pth', weights_only=True)['pseudo_labels']['summary'][
        'iteration'] == 2


def test_resume_rewrites_the_labels_of_the_checkpoint(full_run, toy_root, tmp_path):
    """Files on disk are from iteration 4; resuming from iteration 2 must train iteration 3 on
    iteration 2's labels, rewritten from the restored thresholds."""
    work, out, _, records = full_run
    at_2 = next(r[3] for r in records if r[:2] == ('iter', 2))
    resumed_work = tmp_path / 'resumed'
    resumed_work.mkdir()
    for name in ('iter_2.pth',):
        (resumed_work / name).write_bytes((work / name).read_bytes())
    (resumed_work / 'last_checkpoint').write_text(str(resumed_work / 'iter_2.pth'))
    PseudoLabelRecorder.records = []
    cfg = hook_cfg(toy_root, resumed_work, out)
    cfg.resume = True
    Runner.from_cfg(cfg).train()
    records = PseudoLabelRecorder.records
    assert records[0][:3] == ('start', 2, 2) and records[0][3] == at_2
    assert [(r[1], r[2]) for r in records[1:]] == [(3, 2), (4, 4)]


class StubGenerator:
    """Stands in for PseudoLabelGenerator: records runs, holds a JSON file and a policy."""

    def __init__(self, out: Path) -> None:
        from mmuda.pseudo_labels import ArgmaxPseudoLabeler
        self.out_dir, self.summary_path = str(out), str(out / 'pseudo_labels.json')
        self.labeler = ArgmaxPseudoLabeler(3)
        self.runs = []

    def run(self, model, extra, reuse_statistics=False):
        self.runs.append((extra['iteration'], reuse_statistics))
        return dict(extra, policy='argmax', thresholds={}, kept_pixels={'a': 1},
                    total_pixels=2, num_images=1)


class StubRunner:
    def __init__(self, iteration: int) -> None:
        from unittest import mock
        self.iter, self.model, self.logger = iteration, None, mock.MagicMock()


def stub_hook(tmp_path: Path, **kwargs):
    from mmuda.engine.hooks import PseudoLabelHook
    hook = PseudoLabelHook(interval=2, **kwargs)
    hook.generator = StubGenerator(tmp_path)
    return hook


def saved_state(hook, iteration: int) -> dict:
    summary = dict(iteration=iteration, policy='argmax', thresholds={}, kept_pixels={'a': 1},
                   total_pixels=2, num_images=1)
    return dict(pseudo_labels=dict(labeler=hook.generator.labeler.state_dict(),
                                   summary=summary))


@pytest.mark.parametrize('on_disk, ckpt_iter, gen_iter, expected_runs, warns', [
    ('same', 4, 4, [], False),            # files match the checkpoint: nothing to do
    ('later', 4, 4, [(4, True)], False),  # rewrite from the restored thresholds
    ('later', 5, 4, [(5, False)], True),  # generating weights not saved: regenerate + warn
    (None, 4, 4, [(4, True)], False),     # interrupted/missing JSON: rewrite
])
def test_resume_decisions(tmp_path, on_disk, ckpt_iter, gen_iter, expected_runs, warns):
    hook = stub_hook(tmp_path)
    state = saved_state(hook, gen_iter)
    if on_disk is not None:
        disk = dict(state['pseudo_labels']['summary'])
        if on_disk == 'later':
            disk['iteration'] = gen_iter + 2
        (tmp_path / 'pseudo_labels.json').write_text(json.dumps(disk))
    runner = StubRunner(ckpt_iter)
    hook.after_load_checkpoint(runner, state)
    hook.before_train(runner)
    assert hook.generator.runs == expected_runs
    assert runner.logger.warning.called == warns


def test_generate_at_start_only_for_a_fresh_run(tmp_path):
    hook = stub_hook(tmp_path, generate_at_start=True)
    hook.before_train(StubRunner(0))
    assert hook.generator.runs == [(0, False)]
    loaded = stub_hook(tmp_path, generate_at_start=False)
    loaded.after_load_checkpoint(StubRunner(0), saved_state(loaded, 7))  # load_from, iter 0
    loaded.before_train(StubRunner(0))
    assert loaded.generator.runs == []


def test_interval_must_be_positive():
    from mmuda.engine.hooks import PseudoLabelHook
    with pytest.raises(ValueError, match='interval must be >= 1'):
        PseudoLabelHook(interval=0)
