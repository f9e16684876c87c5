"""Strict loading of a checkpoint's segmentor weights: every weight present, nothing foreign.

mmengine loads checkpoints non-strictly (``load_from``, ``tools/test.py``,
``mmseg.apis.init_model``): a checkpoint of another architecture, or one whose keys lack the
``segmentor.`` prefix of a UDA model, only prints size-mismatch and missing-key warnings, and
inference then runs with a randomly initialised head. Here the segmentor's part must match
exactly; the other children (discriminators, a reconstructor) are not needed for inference and
may be absent from the checkpoint, or belong to another method.
"""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint_to_model
from mmseg.models.segmentors import BaseSegmentor

MAX_LISTED = 5


class SegmentorWeightsError(RuntimeError):
    """A checkpoint's segmentor weights do not fit the model built from the config."""


def segmentor_prefix(model: nn.Module) -> Optional[str]:
    """The state-dict prefix of the segmentor's weights: ``'segmentor.'`` for a UDA model,
    ``''`` for a plain mmseg segmentor, ``None`` for a model without a segmentor (a translator)."""
    if is_model_wrapper(model):
        model = model.module
    if isinstance(getattr(model, 'segmentor', None), nn.Module):
        return 'segmentor.'
    return '' if isinstance(model, BaseSegmentor) else None


def _listed(keys: List[str]) -> str:
    shown = ', '.join(keys[:MAX_LISTED])
    return shown + (f' and {len(keys) - MAX_LISTED} more' if len(keys) > MAX_LISTED else '')


def segmentor_weight_mismatch(model: nn.Module, state_dict: Dict[str, torch.Tensor]
                              ) -> Optional[str]:
    """What is wrong with ``state_dict`` for ``model``'s segmentor, or ``None`` if it fits."""
    prefix = segmentor_prefix(model)
    if prefix is None:
        return None
    if is_model_wrapper(model):
        model = model.module
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    expected = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    given = {k: v for k, v in state_dict.items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = [f'{k} (checkpoint {tuple(given[k].shape)}, model {tuple(expected[k].shape)})'
              for k in sorted(set(expected) & set(given))
              if hasattr(given[k], 'shape') and given[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys ({_listed(missing)})')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected keys ({_listed(unexpected)})')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches ({_listed(shapes)})')
    if not problems:
        return None
    hint = ''
    if prefix and not given and any(f'{prefix}{k}' in expected for k in state_dict):
        hint = (f'; its keys lack the "{prefix}" prefix of a UDA model: convert it with '
                f'tools/model_converters/ (--prefix {prefix})')
    return f'its segmentor weights do not fit the config\'s model: {"; ".join(problems)}{hint}'


def check_segmentor_weights(model: nn.Module, checkpoint: dict, name: str) -> None:
    """Raise :class:`SegmentorWeightsError` naming ``name`` if ``checkpoint`` does not fit."""
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict):
        raise SegmentorWeightsError(f'checkpoint {name} holds no state dict')
    problem = segmentor_weight_mismatch(model, state_dict)
    if problem:
        raise SegmentorWeightsError(f'checkpoint {name}: {problem}')


def load_segmentor_weights(model: nn.Module, filename: str, map_location: str = 'cpu') -> dict:
    """Load ``filename`` into ``model`` after :func:`check_segmentor_weights`; returns the
    checkpoint (its ``meta`` carries ``dataset_meta``). Nothing is loaded if it does not fit."""
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    check_segmentor_weights(model, checkpoint, filename)
    target = model.module if is_model_wrapper(model) else model
    _load_checkpoint_to_model(target, checkpoint, strict=False)
    return checkpoint
