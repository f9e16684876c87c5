"""Atomic checkpoint writes, and checkpoint load errors that name the file.

Each error test prints the message it checked; ``pytest -rP`` shows them (docs/bad_input.md).
"""
import builtins
import errno
import os
import pickle
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import get_file_backend
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

import mmuda.utils.atomic_write as atomic
from conftest import REPO, TOY_ADAPTSEGNET, TOY_SOURCE_ONLY, toy_cfg
from mmuda.engine.fileio import AtomicLocalBackend, RefusedCheckpointError


@contextmanager
def raises(exc_type, match: str):
    """``pytest.raises`` that also prints the message, for the docs table."""
    with pytest.raises(exc_type, match=match) as info:
        yield info
    print(f'\nMESSAGE {type(info.value).__name__}: {info.value}')


class DiskFull:
    """A file whose write stores half of the bytes, then fails like a full disk."""

    def __init__(self, f) -> None:
        self.f = f

    def write(self, data: bytes) -> int:
        self.f.write(data[:len(data) // 2])
        self.f.flush()
        raise OSError(errno.ENOSPC, 'No space left on device')

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()


def fail_writes_to(monkeypatch, fragment: str) -> None:
    """Make the atomic writer's writes of any path containing ``fragment`` fail half-way."""
    def faulty_open(path, mode='r', *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)
        return DiskFull(f) if fragment in str(path) else f
    monkeypatch.setattr(atomic, 'open', faulty_open, raising=False)


def temp_files(folder: Path) -> list:
    return [name for name in os.listdir(folder) if name.endswith('.tmp')]


# ---------------------------------------------------------------- the backend
def test_atomic_backend_is_selectable_by_backend_args():
    backend = get_file_backend('/some/dir', backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)


@pytest.mark.parametrize('method,old,new', [('put', b'old bytes', b'new bytes' * 1000),
                                            ('put_text', 'old text', 'new text' * 1000)])
def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch,
                                                                      method, old, new):
    path = tmp_path / 'sub' / 'file.pth'
    backend = AtomicLocalBackend()
    getattr(backend, method)(old, path)  # also creates the folder, as LocalBackend does
    fail_writes_to(monkeypatch, 'file.pth')
    with pytest.raises(OSError, match='No space left'):
        getattr(backend, method)(new, path)
    read = path.read_bytes() if method == 'put' else path.read_text()
    assert read == old and temp_files(path.parent) == []
    monkeypatch.undo()
    getattr(backend, method)(new, path)
    assert (path.read_bytes() if method == 'put' else path.read_text()) == new


# ---------------------------------------------------------------- the hook in a toy run
def toy_run(config: Path, toy_root: Path, work: Path, **overrides) -> Runner:
    cfg = toy_cfg(config, toy_root, work, iters=4, **overrides)
    cfg.default_hooks.checkpoint.update(interval=2, max_keep_ckpts=1)
    cfg.visualizer.name = f'vis_{work.name}'  # mmengine visualisers are per-name singletons
    return Runner.from_cfg(cfg)


def test_shipped_schedules_use_the_atomic_hook():
    for config in (TOY_SOURCE_ONLY, TOY_ADAPTSEGNET):
        assert Config.fromfile(str(config)).default_hooks.checkpoint.type == \
            'AtomicCheckpointHook'


def test_crash_while_saving_keeps_previous_checkpoint_and_last_checkpoint(toy_root, tmp_path,
                                                                          monkeypatch):
    """max_keep_ckpts=1: mmengine's hook deletes iter_2.pth before writing iter_4.pth."""
    work = tmp_path / 'work'
    fail_writes_to(monkeypatch, 'iter_4.pth')
    with pytest.raises(OSError, match='No space left'):
        toy_run(TOY_SOURCE_ONLY, toy_root, work).train()
    assert not (work / 'iter_4.pth').exists() and temp_files(work) == []
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    assert _load_checkpoint(str(work / 'iter_2.pth'))['meta']['iter'] == 2
    monkeypatch.undo()
    runner = toy_run(TOY_SOURCE_ONLY, toy_root, work, resume=True)
    runner.train()  # resumes from iter_2.pth, saves iter_4.pth, then drops iter_2.pth
    assert runner.iter == 4
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_4.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_4.pth')
    assert temp_files(work) == []


# ---------------------------------------------------------------- unreadable checkpoints
class Foreign:  # a global nobody allow-listed
    pass


def damaged(kind: str, folder: Path) -> Path:
    """A checkpoint file damaged in one way."""
    path = folder / f'{kind}.pth'
    torch.save({'state_dict': {'w': torch.zeros(256)}}, path)
    data = path.read_bytes()
    if kind == 'truncated':
        path.write_bytes(data[:len(data) // 2])
    elif kind == 'text':
        path.write_text('this is a text file\n')
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'foreign':
        torch.save({'state_dict': {}, 'payload': Foreign()}, path)
    elif kind == 'plain_pickle':
        path.write_bytes(pickle.dumps({'state_dict': {}}))
    return path


REASONS = {
    'truncated': 'the file is truncated or corrupt',
    'text': 'it is not a file written by torch.save',
    'empty': 'the file is empty',
    'foreign': r'it pickles the global .*Foreign, which torch\'s weights_only loading refuses',
    'plain_pickle': 'weights_only loading cannot read it',
}


@pytest.mark.parametrize('kind', sorted(REASONS))
def test_unreadable_checkpoint_names_the_file_and_the_reason(tmp_path, kind):
    path = damaged(kind, tmp_path)
    with raises(RuntimeError, rf'cannot load checkpoint {path}: {REASONS[kind]}'):
        _load_checkpoint(str(path), map_location='cpu')  # what load_from/resume/test.py call


def test_missing_checkpoint_names_it(tmp_path):
    with raises(FileNotFoundError, rf'checkpoint {tmp_path}/missing.pth can not be found'):
        _load_checkpoint(str(tmp_path / 'missing.pth'))


def test_foreign_global_is_still_an_unpickling_error(tmp_path):
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(damaged('foreign', tmp_path)))
    assert issubclass(RefusedCheckpointError, pickle.UnpicklingError)


def test_load_from_a_foreign_checkpoint_names_it(toy_root, tmp_path):
    path = damaged('foreign', tmp_path)
    runner = toy_run(TOY_SOURCE_ONLY, toy_root, tmp_path / 'work', load_from=str(path))
    with raises(RefusedCheckpointError, rf'cannot load checkpoint {path}: it pickles'):
        runner.load_or_resume()


def test_resume_from_a_truncated_last_checkpoint_names_it(toy_root, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    path = damaged('truncated', work)
    (work / 'last_checkpoint').write_text(str(path))
    runner = toy_run(TOY_SOURCE_ONLY, toy_root, work, resume=True)
    with raises(RuntimeError, rf'cannot load checkpoint {path}: the file is truncated'):
        runner.load_or_resume()


def test_test_tool_on_a_text_file_names_it(toy_root, tmp_path):
    path = damaged('text', tmp_path)
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path / 'work')
    cfg.dump(str(tmp_path / 'cfg.py'))
    proc = subprocess.run([sys.executable, str(REPO / 'tools/test.py'), str(tmp_path / 'cfg.py'),
                           str(path)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert f'cannot load checkpoint {path}: it is not a file written by torch.save' in last
    print(f'\nMESSAGE {last}')
