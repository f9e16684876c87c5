"""A malicious checkpoint is refused by every loading path of mmuda, whatever torch's default.

torch < 2.6 loads with ``weights_only=False`` unless told otherwise, and so does torch >= 2.6
when ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set (the workaround users set for mmengine's
loading errors). Both are simulated here; mmuda passes ``weights_only=True`` itself, so the
pickle's payload (an ``os.system`` call that creates a marker file) never runs. Each test first
shows that plain ``torch.load`` under the simulation does run it, so the refusal is mmuda's.
"""
import os
import pickle
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.registry import MODELS

from conftest import REPO, TOY_SOURCE_ONLY, tiny_segmentor, toy_cfg
from mmuda.engine.fileio import RefusedCheckpointError, load_segmentor_weights
from mmuda.engine.fileio import checkpoint_loader as mmuda_loader


class Payload:
    """Unpickling it runs ``touch <marker>``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {shlex.quote(str(self.marker))}',)


@pytest.fixture(params=['torch<2.6 default', 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1'])
def unsafe_default(request, monkeypatch):
    """torch.load without ``weights_only`` unpickles anything (the simulated old default)."""
    if request.param.startswith('torch'):
        monkeypatch.setattr(torch.serialization, '_default_to_weights_only', lambda _: False)
    else:
        monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    return request.param


def make_evil(folder: Path) -> Path:
    """A checkpoint-looking file whose unpickling creates ``folder/marker``; the simulation is
    shown to be real: plain ``torch.load`` runs the payload."""
    marker = folder / 'marker'
    path = folder / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': Payload(marker)}, path)
    torch.load(path)
    assert marker.exists(), 'the simulated default should run the payload'
    marker.unlink()
    return path


@pytest.fixture
def evil(tmp_path, unsafe_default) -> Path:
    return make_evil(tmp_path)


def refused(load, evil: Path) -> None:
    with pytest.raises(pickle.UnpicklingError) as info:
        load()
    assert not (evil.parent / 'marker').exists()
    print(f'\nMESSAGE {type(info.value).__name__}: {info.value}')


@pytest.fixture
def fake_downloads(tmp_path, monkeypatch, evil):
    """Every URL "downloads" the malicious file into a private torch hub cache."""
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    monkeypatch.setattr(torch.hub, 'download_url_to_file',
                        lambda url, dst, *args, **kwargs: shutil.copy(evil, dst))


def test_every_checkpoint_scheme_is_mmudas():
    """Each prefix of mmengine's CheckpointLoader loads through mmuda's safe loaders."""
    loaders = {prefix: fn.__module__ for prefix, fn in CheckpointLoader._schemes.items()}
    assert set(loaders) >= {'', 'http://', 'https://', 'torchvision://', 'modelzoo://',
                            'open-mmlab://', 'openmmlab://', 'mmcls://', 'pavi://'}
    assert set(loaders.values()) == {mmuda_loader.__name__}, loaders


def test_local_checkpoint(evil):
    refused(lambda: CheckpointLoader.load_checkpoint(str(evil)), evil)
    with pytest.raises(RefusedCheckpointError, match=r'it pickles the global posix\.system'):
        CheckpointLoader.load_checkpoint(str(evil))


@pytest.mark.parametrize('scheme', ['https://', 'torchvision://', 'open-mmlab://', 'mmcls://'])
def test_downloaded_checkpoint(scheme, evil, fake_downloads, monkeypatch):
    """mmengine's http loader goes through torch.hub.load_state_dict_from_url, whose own
    default is weights_only=False on every torch: unsafe even on torch >= 2.6."""
    url = 'https://example.invalid/models/evil-0123abcd.pth'
    for lookup in ('get_torchvision_models', 'get_external_models', 'get_mmcls_models'):
        monkeypatch.setattr(mm_checkpoint, lookup, lambda: {'evil': url})
    name = url if scheme == 'https://' else f'{scheme}evil'
    refused(lambda: CheckpointLoader.load_checkpoint(name), evil)


def test_open_mmlab_file_in_the_mmengine_home(evil, monkeypatch):
    monkeypatch.setattr(mm_checkpoint, 'get_external_models', lambda: {'evil': 'evil.pth'})
    monkeypatch.setattr(mm_checkpoint, '_get_mmengine_home', lambda: str(evil.parent))
    refused(lambda: CheckpointLoader.load_checkpoint('open-mmlab://evil'), evil)


def test_object_store_checkpoint(evil, monkeypatch):
    class Store:
        def get(self, filename):
            return evil.read_bytes()
    monkeypatch.setattr(mmuda_loader, 'get_file_backend', lambda *args, **kwargs: Store())
    refused(lambda: CheckpointLoader.load_checkpoint('s3://bucket/evil.pth'), evil)


def test_init_cfg_pretrained(evil):
    seg = tiny_segmentor()
    seg['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint=str(evil),
                                       prefix='segmentor.backbone.')
    model = MODELS.build(seg)
    refused(model.init_weights, evil)


def test_inference_apis(evil, toy_root, tmp_path):
    from mmseg.apis import init_model

    from mmuda.apis import init_uda_model
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path / 'work')
    refused(lambda: init_model(cfg, str(evil), device='cpu'), evil)
    refused(lambda: init_uda_model(cfg, str(evil)), evil)
    refused(lambda: load_segmentor_weights(MODELS.build(cfg.model), str(evil)), evil)


def test_test_tool_under_the_unsafe_environment(toy_root, tmp_path, monkeypatch):
    """``tools/test.py`` (Runner.load_checkpoint) in a process that has the unsafe default."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')  # inherited by the tool
    evil = make_evil(tmp_path)
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, tmp_path / 'work')
    cfg.dump(str(tmp_path / 'cfg.py'))
    proc = subprocess.run([sys.executable, str(REPO / 'tools/test.py'), str(tmp_path / 'cfg.py'),
                           str(evil)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    assert not (evil.parent / 'marker').exists()
    assert f'cannot load checkpoint {evil}: it pickles the global posix.system' in proc.stderr


def test_torch_older_than_2_6_is_refused_at_import(monkeypatch):
    """The (object, pickled name) allow-list entries need torch >= 2.6; ``import mmuda`` says
    so instead of loading checkpoints unsafely or failing on the allow-list."""
    from mmuda.utils import version_check
    installed = version_check._installed
    monkeypatch.setattr(version_check, '_installed',
                        lambda package: '2.4.1' if package == 'torch' else installed(package))
    with pytest.raises(ImportError, match=r'torch 2\.4\.1 is unsupported, need >=2\.6\.0 \(mmuda '
                                          r'loads every checkpoint with weights_only=True') as info:
        version_check.check_versions()
    print(f'\nMESSAGE ImportError: {info.value}')
