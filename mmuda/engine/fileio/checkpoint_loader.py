"""Checkpoint loading errors that name the file and say what is wrong with it.

torch's own messages do not carry the path: a truncated checkpoint fails with
``PytorchStreamReader failed reading zip archive``, a text file with ``KeyError: 101``, an empty
file with a bare ``EOFError``, a pickle with a foreign global with a page of ``weights_only``
advice. With ``load_from``, ``--resume``, ``tools/test.py``, ``init_cfg=Pretrained`` and
``mmseg.apis.init_model`` all loading through mmengine's local-path scheme, this module
re-registers that scheme with the same loading (``torch.load`` with torch's default
``weights_only``) and a message naming the file.
"""
import os.path as osp
import pickle
import re
from typing import Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader


class CheckpointLoadError(RuntimeError):
    """A checkpoint file exists but cannot be loaded."""


class RefusedCheckpointError(CheckpointLoadError, pickle.UnpicklingError):
    """``weights_only`` loading refused a global pickled in the checkpoint."""


def _reason(err: BaseException) -> str:
    text = str(err)
    refused = re.search(r'Unsupported global: GLOBAL (\S+)', text)
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


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location: Optional[str] = None):
    """mmengine's local loader, with errors that name the checkpoint file."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    if osp.getsize(filename) == 0:
        raise CheckpointLoadError(f'cannot load checkpoint {filename}: the file is empty')
    try:
        return torch.load(filename, map_location=map_location)
    except Exception as err:  # arbitrary bytes make the unpickler fail in arbitrary ways
        error = RefusedCheckpointError if 'Unsupported global' in str(err) else CheckpointLoadError
        raise error(f'cannot load checkpoint {filename}: {_reason(err)}') from err
