"""Refuse to start training when pretrained weights are absent or a frozen backbone is random.

A DeepLab-v2 backbone keeps its batch norm frozen (``requires_grad=False``, ``norm_eval=True``):
it only works with the statistics and scales of its pretrained weights. Started from random
weights it does not fail, it trains badly; with mmseg's ``zero_init_residual=True`` the last BN
scale of every residual block starts at 0 and, frozen, stays 0, so every residual branch outputs
zero for the whole run. ``tools/train.py`` therefore calls :func:`require_pretrained_init` on the
config before mmengine's ``Runner`` exists (nothing is written to the work dir), which refuses:

1. a weights file the model config names (an ``init_cfg`` ``checkpoint``, a ``pretrained`` path)
   that does not exist: the message says where the file is published;
2. a backbone with frozen normalisation whose initialisation is not pretrained (no
   ``Pretrained``/``PublishedPretrained`` ``init_cfg`` on it or a module above it, and no
   ``load_from``/``resume``), unless the config sets ``allow_random_init=True``.

Each problem is one paragraph naming the config key; ``docs/get_started.md#pretrained-weights``
lists the files.
"""
import logging
import os
import os.path as osp
from typing import Iterator, List, Mapping, Tuple

import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import print_log
from torch.nn.modules.batchnorm import _BatchNorm

from .published_weights import DOC, published_weights_of

PRETRAINED_TYPES = ('Pretrained', 'PublishedPretrained')
SWITCH = 'allow_random_init'


class PretrainedInitError(ValueError):
    """The config would train without the pretrained weights it needs."""


# ---------------------------------------------------------------- 1. the files a config names
def weights_files(node, key: str = 'model') -> Iterator[Tuple[str, str]]:
    """(config key, path) of every weights file under ``node``: ``init_cfg`` checkpoints and
    string ``pretrained`` values, e.g. ``('model.segmentor.backbone.init_cfg.checkpoint', ...)``."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            child = f'{key}.{name}'
            if name == 'init_cfg':
                entries = value if isinstance(value, (list, tuple)) else [value]
                for i, entry in enumerate(entries):
                    if isinstance(entry, Mapping) and isinstance(entry.get('checkpoint'), str):
                        where = child if isinstance(value, Mapping) else f'{child}[{i}]'
                        yield f'{where}.checkpoint', entry['checkpoint']
            elif name == 'pretrained' and isinstance(value, str):
                yield child, value
            else:
                yield from weights_files(value, child)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from weights_files(value, f'{key}[{i}]')


def missing_file_message(key: str, path: str) -> str:
    """One paragraph: the key, the file, where it comes from, the doc, how to do without it."""
    where = f' (relative to the working directory {os.getcwd()})' if not osp.isabs(path) else ''
    text = f'{key} is {path!r}, which does not exist{where}.'
    entry = published_weights_of(path)
    if entry is None:
        return (f'{text} It is not one of the published files mmuda knows (listed in {DOC}): '
                'it is the output of an earlier stage (run that stage first; the method\'s '
                'README lists them) or a file you set.')
    hashed = (f' (the {entry.sha256_prefix} in its name is the start of its SHA-256)'
              if entry.sha256_prefix else '')
    init = key[:-len('.checkpoint')] if key.endswith('.checkpoint') else key
    return (f'{text} It is {entry.what}, published at {entry.url}{hashed}: download it to that '
            f'path as it is; its layout is converted when it is loaded. See {DOC}. To train '
            f'without it on purpose, set {init}=None (for a backbone with frozen normalisation '
            f'also {SWITCH}=True), e.g. --cfg-options {init}=None {SWITCH}=True.')


def missing_files(model_cfg: Mapping) -> List[str]:
    """A message for every local weights file the model config names that does not exist."""
    return [missing_file_message(key, path) for key, path in weights_files(model_cfg)
            if '://' not in path and not osp.isfile(osp.expanduser(path))]


# ---------------------------------------------------------------- 2. frozen backbones
def frozen_normalisation(module: nn.Module) -> List[str]:
    """How ``module``'s normalisation is frozen (empty: it is not)."""
    how = []
    if any(isinstance(m, _BatchNorm) and m.affine and not m.weight.requires_grad
           for m in module.modules()):
        how.append('BatchNorm with requires_grad=False')
    if getattr(module, 'norm_eval', False):
        how.append('norm_eval=True')
    return how


def has_pretrained_init(module: nn.Module) -> bool:
    init_cfg = getattr(module, 'init_cfg', None)
    entries = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(e, Mapping) and getattr(e.get('type'), '__name__', e.get('type'))
               in PRETRAINED_TYPES + ('PretrainedInit',) for e in entries)


def random_frozen_backbones(model: nn.Module) -> List[Tuple[str, nn.Module, List[str]]]:
    """(name, module, how frozen) of every module named ``backbone`` with frozen normalisation
    that neither it nor a module above it initialises from pretrained weights."""
    found = []
    for name, module in model.named_modules():
        if name.split('.')[-1] != 'backbone':
            continue
        how = frozen_normalisation(module)
        parts = name.split('.')
        chain = [model] + [model.get_submodule('.'.join(parts[:i + 1])) for i in range(len(parts))]
        if how and not any(has_pretrained_init(m) for m in chain):
            found.append((name, module, how))
    return found


def random_backbone_message(name: str, module: nn.Module, how: List[str]) -> str:
    key = f'model.{name}'
    zero = ''
    if getattr(module, 'zero_init_residual', False):
        zero = (": with mmseg's zero_init_residual=True the last BN scale of every residual "
                'block starts at 0 and, frozen, stays 0, so the residual branches output zero '
                'for the whole run')
    return (f'{key} ({type(module).__name__}) has frozen normalisation ({", ".join(how)}) and '
            f'no pretrained initialisation, so training would start it from random '
            f'weights{zero}. Set {key}.init_cfg=dict(type=\'PublishedPretrained\', '
            f'checkpoint=...) to the file its paper uses (the base model configs in '
            f'configs/_base_/models/ do; see {DOC}) or load_from a trained checkpoint. To train '
            f'from random weights on purpose, set {SWITCH}=True (e.g. --cfg-options '
            f'{SWITCH}=True).')


def build_model(cfg: Config) -> nn.Module:
    """The config's model, built as the Runner will build it (no weights are loaded)."""
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    from mmseg.registry import MODELS
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return MODELS.build(cfg.model)


# ---------------------------------------------------------------- the check
def check_pretrained_init(cfg: Config) -> None:
    """Raise :class:`PretrainedInitError` (one paragraph per problem) if training ``cfg`` would
    miss a weights file or start a frozen backbone from random weights (see the module doc)."""
    problems = missing_files(cfg.model)
    if problems:
        raise PretrainedInitError('\n\n'.join(problems))
    if cfg.get('load_from') or cfg.get('resume'):
        return  # the whole model is loaded after initialisation
    model = build_model(cfg)
    random = random_frozen_backbones(model)
    del model
    if not random:
        return
    messages = [random_backbone_message(*found) for found in random]
    if not cfg.get(SWITCH, False):
        raise PretrainedInitError('\n\n'.join(messages))
    print_log(f'{SWITCH}=True: training anyway. ' + ' '.join(messages), 'current',
              logging.WARNING)


def require_pretrained_init(cfg: Config) -> None:
    """:func:`check_pretrained_init` for command-line tools: exit with the message (status 1)."""
    try:
        check_pretrained_init(cfg)
    except PretrainedInitError as err:
        raise SystemExit(f'error: {err}') from None
