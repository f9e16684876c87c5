"""Initialise a module from pretrained weights in the layout their authors published them.

The reference codes load files whose keys are not mmseg's: the Caffe DeepLab-v2 init wraps
everything in ``Scale.``, torchvision's ResNet carries its ImageNet ``fc``, a trained AdaptSegNet
model names its classifiers ``layer5``/``layer6``. ``PublishedPretrained`` recognises the layout
(:func:`mmuda.utils.weight_conversion.detect_layout`), converts it with the same functions as the
offline converters in ``tools/model_converters/``, and loads the part that belongs to the module
(``prefix``, ``'backbone.'`` by default). So a config points at the downloaded file itself.

Unlike mmengine's ``Pretrained`` (non-strict, missing keys are a log line), a module key that the
file does not fill, or fills with another shape, is an error naming the keys: a backbone that is
silently half random trains, and with frozen batch norm never recovers. Keys of the file that the
module does not have (``fc``, the other heads) are counted in the log line and ignored.
"""
import logging
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model.weight_init import update_init_info
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.registry import WEIGHT_INITIALIZERS

from mmuda.utils.weight_conversion import Conversion, ConversionError, StateDict, convert_layout

MAX_LISTED = 10
# The bottleneck style each ResNet layout's weights were trained with: torchvision strides in
# the 3x3 conv, the Caffe models in the 1x1. Same keys and shapes, other function.
LAYOUT_STYLE = {'deeplabv2_caffe': 'caffe', 'adaptsegnet': 'caffe',
                'torchvision_resnet': 'pytorch'}


class PretrainedWeightsError(RuntimeError):
    """A pretrained weights file that cannot initialise the module it is configured for."""


def _listing(keys: Sequence[str]) -> str:
    shown = ', '.join(keys[:MAX_LISTED])
    return shown + (f' and {len(keys) - MAX_LISTED} more' if len(keys) > MAX_LISTED else '')


def read_state_dict(path: str, map_location: str = 'cpu') -> StateDict:
    """``{name: tensor}`` of a weights file: a plain state dict or an mmengine checkpoint.

    Local files load through mmuda's checkpoint loader (torch's ``weights_only`` loading; errors
    name the file); the weights may sit under ``state_dict`` or ``model``.
    """
    obj = CheckpointLoader.load_checkpoint(path, map_location=map_location)
    for wrapper in ('state_dict', 'model'):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not obj:
        raise PretrainedWeightsError(f'{path}: expected a non-empty dict of tensors (or an '
                                     f"mmengine checkpoint with one), got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise PretrainedWeightsError(f'{path}: expected a dict of name -> tensor; '
                                     f'{_listing([str(k) for k in bad])} are not tensors')
    return dict(obj)


def select_prefix(state: StateDict, prefix: Optional[str], layout: str) -> Tuple[StateDict, str]:
    """The keys under ``prefix`` (stripped), and how they were chosen.

    The converted layouts name an mmseg ``EncoderDecoder`` (``backbone.``, ``decode_head.``), so
    ``prefix`` must match there. A file in the ``mmseg`` layout may instead be named as the module
    itself (OpenMMLab's ImageNet backbones, e.g. ``mit_b5_*.pth``): without keys under
    ``prefix`` it is used as it is.
    """
    if prefix:
        under = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if under:
            return under, f'the keys under {prefix!r}'
        if layout != 'mmseg':
            raise PretrainedWeightsError(
                f'the {layout} layout converts to keys under '
                f"{_listing(sorted({k.split('.', 1)[0] + '.' for k in state}))}, none under "
                f'prefix={prefix!r}')
    return state, 'the keys as they are'


def fill_counters(state: StateDict, own: Mapping[str, torch.Tensor]) -> List[str]:
    """Add ``num_batches_tracked`` (0, what a fresh BN holds) where the module has the counter
    and the file has that BN's statistics but predates the counter."""
    filled = []
    for key in own:
        stem = key[:-len('num_batches_tracked')]
        if key.endswith('num_batches_tracked') and key not in state \
                and f'{stem}running_mean' in state:
            state[key] = torch.zeros_like(own[key])
            filled.append(key)
    return filled


@WEIGHT_INITIALIZERS.register_module()
class PublishedPretrained:
    """``init_cfg`` that loads a weights file as published, converting its layout on load.

    Args:
        checkpoint: Path of the file (anything mmengine's ``CheckpointLoader`` reads).
        layout: ``'auto'`` (recognised from the keys), or one of
            :data:`mmuda.utils.weight_conversion.LAYOUTS`: ``deeplabv2_caffe``,
            ``adaptsegnet``, ``torchvision_resnet``, ``torchvision_vgg19``, ``mmseg`` (already
            named as our modules).
        prefix: The part of the converted weights this module takes (stripped from the names):
            ``'backbone.'`` for a backbone, ``'decode_head.'`` for a head from a trained
            AdaptSegNet file, ``'segmentor.backbone.'`` for the backbone of an mmuda checkpoint.
            ``None``: all keys as they are.
        map_location: Where the tensors are loaded.

    As mmengine does for its ``Pretrained``, the module's children are initialised first, so
    that their own ``init_cfg`` cannot overwrite the loaded weights afterwards.
    """

    def __init__(self, checkpoint: str, layout: str = 'auto', prefix: Optional[str] = 'backbone.',
                 map_location: str = 'cpu') -> None:
        self.checkpoint = checkpoint
        self.layout = layout
        self.prefix = prefix
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        self._init_children_first(module)
        name = type(module).__name__
        try:
            conversion, layout = convert_layout(read_state_dict(self.checkpoint,
                                                                self.map_location), self.layout)
            state, how = select_prefix(conversion.state_dict, self.prefix, layout)
        except (ConversionError, PretrainedWeightsError) as err:
            raise PretrainedWeightsError(f'{name}: cannot initialise from {self.checkpoint}: '
                                         f'{err}') from err
        self._check_style(module, layout)
        own = module.state_dict()
        filled = fill_counters(state, own)
        self._check_fit(name, state, own, layout)
        module.load_state_dict({k: state[k] for k in own}, strict=True)
        unexpected = sorted(set(state) - set(own))
        print_log(self._summary(name, layout, how, len(own), unexpected, conversion, filled),
                  logger='current', level=logging.INFO)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'PublishedPretrained: {self.checkpoint}')

    @staticmethod
    def _init_children_first(module: nn.Module) -> None:
        for child in module.children():
            if hasattr(child, 'init_weights') and not getattr(child, 'is_init', False):
                child.init_weights()

    def _check_style(self, module: nn.Module, layout: str) -> None:
        style = getattr(module, 'style', None)
        expected = LAYOUT_STYLE.get(layout)
        if expected and style in ('caffe', 'pytorch') and style != expected:
            raise PretrainedWeightsError(
                f"{type(module).__name__} has style={style!r}, but {self.checkpoint} is in the "
                f'{layout} layout, trained with style={expected!r} bottlenecks (the stride in the '
                f"{'1x1' if expected == 'caffe' else '3x3'} conv): the weights would load and "
                'compute something else. Use the file of this backbone '
                '(docs/get_started.md#pretrained-weights) or set its style')

    def _check_fit(self, name: str, state: StateDict, own: Mapping[str, torch.Tensor],
                   layout: str) -> None:
        missing = [k for k in own if k not in state]
        mismatched = [f'{k} {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model'
                      for k, v in own.items() if k in state and state[k].shape != v.shape]
        if not missing and not mismatched:
            return
        problems = []
        if missing:
            problems.append(f'{len(missing)} of its {len(own)} keys are not in the file: '
                            f'{_listing(missing)}')
        if mismatched:
            verb = 'has' if len(mismatched) == 1 else 'have'
            problems.append(f'{len(mismatched)} of its keys {verb} another shape: '
                            f'{_listing(mismatched)}')
        raise PretrainedWeightsError(
            f'{name}: {self.checkpoint} ({layout} layout, prefix={self.prefix!r}) does not fit: '
            f"{'; '.join(problems)}. Is it the file this config expects "
            '(docs/get_started.md#pretrained-weights)?')

    def _summary(self, name: str, layout: str, how: str, loaded: int, unexpected: List[str],
                 conversion: Conversion, filled: List[str]) -> str:
        detected = ', recognised' if self.layout == 'auto' else ''
        lines = [f'{name} <- {self.checkpoint} ({layout} layout{detected}; {how}): {loaded} '
                 f'keys loaded, 0 missing, {len(unexpected)} unexpected (ignored)']
        if unexpected:
            lines.append(f'  unexpected: {_listing(unexpected)}')
        reasons: Dict[str, List[str]] = {}
        for key, why in conversion.dropped.items():
            reasons.setdefault(why, []).append(key)
        lines += [f'  dropped by the conversion ({why}): {_listing(keys)}'
                  for why, keys in reasons.items()]
        counters = len(filled) + sum(1 for k in conversion.filled
                                     if not self.prefix or k.startswith(self.prefix))
        if counters:
            lines.append(f'  added {counters} num_batches_tracked counters (0) the file predates')
        lines += [f'  {note}' for note in conversion.notes]
        return '\n'.join(lines)
