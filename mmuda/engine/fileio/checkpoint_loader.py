"""mmengine's checkpoint schemes, re-registered to load with ``weights_only=True`` and errors that
name the file.

``load_from``, ``--resume``, ``tools/test.py``, ``init_cfg=Pretrained`` and
``mmseg.apis.init_model`` all load through mmengine's ``CheckpointLoader``, which picks a
loader by the path's prefix. mmengine 0.10.7's loaders call ``torch.load`` without
``weights_only`` (safe only where torch's default is, i.e. torch >= 2.6 without
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), and its ``http(s)://`` loader, which ``torchvision://``,
``open-mmlab://`` and ``mmcls://`` resolve to, goes through ``torch.hub.load_state_dict_from_url``,
whose own default is ``weights_only=False`` on every torch version. Every scheme is therefore
registered again here, loading through :func:`mmuda.utils.checkpoint.safe_torch_load`
(``weights_only=True`` passed explicitly, mmengine's own checkpoint contents allow-listed).

torch's messages do not carry the path: a truncated checkpoint fails with
``PytorchStreamReader failed reading zip archive``, a text file with ``KeyError: 101``, an empty
file with a bare ``EOFError``, a pickle with a foreign global with a page of ``weights_only``
advice. Each loader here names the file (or URL) and says what is wrong with it.
"""
import io
import os.path as osp
import pickle
import re
from typing import Any, Callable, Optional

import torch
from mmengine.dist import get_dist_info
from mmengine.fileio import get_file_backend
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from mmuda.utils.checkpoint import safe_torch_load


class CheckpointLoadError(RuntimeError):
    """A checkpoint file exists but cannot be loaded."""


class RefusedCheckpointError(CheckpointLoadError, pickle.UnpicklingError):
    """``weights_only`` loading refused a global pickled in the checkpoint."""


def _reason(err: BaseException) -> str:
    text = str(err)
    refused = re.search(r'Unsupported global: GLOBAL (\S+)', text) or \
        re.search(r'Trying to load unsupported GLOBAL (\S+)', text)
    if refused:
        return (f'it pickles the global {refused.group(1)}, which torch\'s weights_only loading '
                'refuses (mmuda allow-lists only what mmengine\'s CheckpointHook writes). If you '
                'trust the file, re-save its tensors with torch.save or convert it with '
                'tools/model_converters/')
    if 'Weights only load failed' in text:
        why = re.search(r'WeightsUnpickler error:\s*(.+)', text)
        return ('weights_only loading cannot read it (a plain pickle rather than a torch.save '
                f"file?{' torch says: ' + why.group(1).strip() if why else ''})")
    if isinstance(err, OSError):
        return f'it cannot be read ({type(err).__name__}: {err.strerror or err})'
    if isinstance(err, EOFError):
        return 'the file ends early (truncated)'
    if 'zip archive' in text or 'central directory' in text:
        return 'the file is truncated or corrupt (not a complete torch.save archive)'
    detail = f': {text.splitlines()[0]}' if text else ''
    return f'it is not a file written by torch.save ({type(err).__name__}{detail})'


def _load_named(name: str, load: Callable[[], Any]) -> Any:
    """``load()``, its errors re-raised naming the checkpoint ``name`` (a path or a URL)."""
    try:
        return load()
    except Exception as err:  # arbitrary bytes make the unpickler fail in arbitrary ways
        refused = 'Unsupported global' in str(err) or 'unsupported GLOBAL' in str(err)
        error = RefusedCheckpointError if refused else CheckpointLoadError
        raise error(f'cannot load checkpoint {name}: {_reason(err)}') from err


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location: Optional[str] = None) -> Any:
    """A local file, loaded with ``weights_only=True``."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    if osp.getsize(filename) == 0:
        raise CheckpointLoadError(f'cannot load checkpoint {filename}: the file is empty')
    return _load_named(filename, lambda: safe_torch_load(filename, map_location))


@CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), force=True)
def load_from_http(filename: str, map_location: Optional[str] = None,
                   model_dir: Optional[str] = None) -> Any:
    """A URL, downloaded once into torch's hub cache (rank 0 first, the other ranks after a
    barrier, as mmengine does) and loaded with ``weights_only=True``."""
    def load() -> Any:
        return _load_named(filename, lambda: torch.hub.load_state_dict_from_url(
            filename, model_dir=model_dir, map_location=map_location, weights_only=True))
    rank, world_size = get_dist_info()
    checkpoint = load() if rank == 0 else None
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = load()
    return checkpoint


@CheckpointLoader.register_scheme(prefixes=('modelzoo://', 'torchvision://'), force=True)
def load_from_torchvision(filename: str, map_location: Optional[str] = None) -> Any:
    """``torchvision://NAME``: torchvision's URL of model NAME, through :func:`load_from_http`."""
    name = filename.split('://', 1)[1]
    return load_from_http(mm_checkpoint.get_torchvision_models()[name], map_location)


@CheckpointLoader.register_scheme(prefixes=('open-mmlab://', 'openmmlab://'), force=True)
def load_from_openmmlab(filename: str, map_location: Optional[str] = None) -> Any:
    """``open-mmlab://NAME``: OpenMMLab's URL (or file under mmengine's home) for NAME."""
    name = filename.split('://', 1)[1]
    name = mm_checkpoint.get_deprecated_model_names().get(name, name)
    target = mm_checkpoint.get_external_models()[name]
    if target.startswith(('http://', 'https://')):
        return load_from_http(target, map_location)
    return load_from_local(osp.join(mm_checkpoint._get_mmengine_home(), target), map_location)


@CheckpointLoader.register_scheme(prefixes='mmcls://', force=True)
def load_from_mmcls(filename: str, map_location: Optional[str] = None) -> Any:
    """``mmcls://NAME``: an mmcls model zoo URL, keys converted as mmengine does."""
    url = mm_checkpoint.get_mmcls_models()[filename[len('mmcls://'):]]
    return mm_checkpoint._process_mmcls_checkpoint(load_from_http(url, map_location))


@CheckpointLoader.register_scheme(prefixes=[r'(\S+\:)?s3://', r'(\S+\:)?petrel://'], force=True)
def load_from_ceph(filename: str, map_location: Optional[str] = None,
                   backend: str = 'petrel') -> Any:
    """An object-store path (mmengine's petrel backend), read into memory and loaded with
    ``weights_only=True``."""
    data = get_file_backend(filename, backend_args=dict(backend=backend)).get(filename)
    return _load_named(filename, lambda: safe_torch_load(io.BytesIO(data), map_location))


@CheckpointLoader.register_scheme(prefixes='pavi://', force=True)
def load_from_pavi(filename: str, map_location: Optional[str] = None) -> Any:
    """A pavi model-cloud path, downloaded to a temporary folder and loaded with
    ``weights_only=True``."""
    from tempfile import TemporaryDirectory
    try:
        from pavi import modelcloud
    except ImportError as err:
        raise ImportError('pavi is needed to load checkpoints from pavi://') from err
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        local = osp.join(tmp_dir, model.name)
        model.download(local)
        return _load_named(filename, lambda: safe_torch_load(local, map_location))
