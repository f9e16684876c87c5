"""Map the parameter names of reference DeepLab-v2 / ResNet checkpoints to mmuda's.

The reference codes name their modules almost as mmseg does: a ResNet whose stem is ``conv1`` /
``bn1`` and whose bottlenecks are ``layerN.i.{conv,bn}{1,2,3}`` with a ``downsample.{0,1}``
shortcut, which is exactly mmseg's ``ResNet`` (and so :class:`DeepLabV2ResNet`). What differs is
the wrapping and the classifiers:

* the Caffe DeepLab-v2 init puts everything under ``Scale.`` and carries a ``layer5`` classifier
  trained for another label set (the reference code drops it for 19 classes);
* trained AdaptSegNet / ADVENT checkpoints have no ``Scale.`` and one or two classifiers,
  ``layer5`` / ``layer6``, each a ``conv2d_list`` of dilated 3x3 convs (our
  :class:`DeepLabV2Head` ``branches``). Which one is the main prediction is not in the name:
  AdaptSegNet's multi-level model has ``layer5`` on layer3 and ``layer6`` on layer4, its
  single-level model ``layer5`` on layer4, ADVENT's single-level model ``layer6`` on layer4. We
  therefore read the classifier's input channels and match them to the output channels of the
  backbone stages: layer4 -> ``decode_head``, layer3 -> ``auxiliary_head``;
* torchvision's ImageNet ResNet adds the ``fc`` classifier, which a segmentor does not use;
* torchvision's VGG19 (LDR's perceptual loss) is ``features.<i>.{weight,bias}`` plus the
  ``classifier``, which the loss does not use.

:func:`detect_layout` tells these layouts apart by their keys and :func:`convert_layout` converts
any of them, so that a config can point at a file exactly as it was published
(:class:`mmuda.models.weight_init.PublishedPretrained` loads through them).

Every converter returns names of an mmseg ``EncoderDecoder`` (``backbone.``, ``decode_head.``,
``auxiliary_head.``); the caller adds the prefix of whatever consumes the file (e.g.
``segmentor.`` for a UDA wrapper). Keys that are not converted are returned with the reason, so
that a tool can report them instead of silently losing weights.

Old Caffe-converted files predate ``BatchNorm2d.num_batches_tracked``; the converters add it
(value 0, what a fresh BN holds) so that a strict load succeeds. The counter only matters for a
BN with ``momentum=None``, which neither mmseg nor the reference code uses.
"""
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch

Tensor = torch.Tensor
StateDict = Dict[str, Tensor]

_BN = r'(?:weight|bias|running_mean|running_var|num_batches_tracked)'
RESNET_KEY = re.compile(
    rf'^(?:conv1\.weight|bn1\.{_BN}'
    rf'|layer[1-4]\.\d+\.(?:conv[123]\.weight|bn[123]\.{_BN}'
    rf'|downsample\.0\.weight|downsample\.1\.{_BN}))$')
CLASSIFIER_KEY = re.compile(r'^(layer[56])\.conv2d_list\.(\d+)\.(weight|bias)$')
VGG_KEY = re.compile(r'^features\.(\d+)\.(weight|bias)$')
# The classifier of the backbone stage it reads from; the stage is found by shapes.
HEAD_OF_STAGE = {'layer4': 'decode_head', 'layer3': 'auxiliary_head'}
# First key components that name a module of ours or of a wrapper, never the Caffe init's
# single wrapper (``Scale``).
NOT_A_CAFFE_WRAPPER = {'module', 'backbone', 'segmentor', 'features', 'classifier', 'conv1',
                       'bn1', 'fc', 'layer1', 'layer2', 'layer3', 'layer4', 'layer5', 'layer6'}


class ConversionError(ValueError):
    """A checkpoint that does not have the layout the converter expects."""


@dataclass
class Conversion:
    """The converted state dict and what happened to the keys that did not make it.

    Attributes:
        state_dict: mmseg ``EncoderDecoder`` names (``backbone.``/``decode_head.``/...).
        dropped: Source key -> why it was not converted.
        filled: Output keys that the source lacked and the converter added.
        notes: Decisions worth reporting (e.g. which classifier became which head).
    """

    state_dict: StateDict = field(default_factory=dict)
    dropped: Dict[str, str] = field(default_factory=dict)
    filled: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def strip_data_parallel(state: Mapping[str, Tensor]) -> Tuple[StateDict, bool]:
    """Remove the ``module.`` that ``nn.DataParallel`` puts on every key, if all keys have it."""
    if state and all(k.startswith('module.') for k in state):
        return {k[len('module.'):]: v for k, v in state.items()}, True
    return dict(state), False


def split_resnet(state: Mapping[str, Tensor]) -> Tuple[StateDict, StateDict]:
    """Split reference keys into ResNet keys (renamed to ``backbone.``) and the rest."""
    backbone, rest = {}, {}
    for key, value in state.items():
        if RESNET_KEY.match(key):
            backbone[f'backbone.{key}'] = value
        else:
            rest[key] = value
    return backbone, rest


def split_classifiers(state: Mapping[str, Tensor]) -> Tuple[Dict[str, StateDict], StateDict]:
    """Group ``layer5``/``layer6`` classifier keys by layer (as ``branches.i.weight``)."""
    classifiers: Dict[str, StateDict] = {}
    rest = {}
    for key, value in state.items():
        match = CLASSIFIER_KEY.match(key)
        if match:
            layer, index, kind = match.groups()
            classifiers.setdefault(layer, {})[f'branches.{index}.{kind}'] = value
        else:
            rest[key] = value
    return classifiers, rest


def stage_out_channels(backbone: Mapping[str, Tensor], stage: str) -> int:
    """Output channels of a bottleneck stage, read from its first block's last conv."""
    weight = backbone.get(f'backbone.{stage}.0.conv3.weight')
    if weight is None:
        raise ConversionError(f'expected bottleneck key {stage}.0.conv3.weight (to tell the '
                              'classifiers apart by their input channels); it is missing')
    return int(weight.shape[0])


def classifier_in_channels(layer: str, branches: Mapping[str, Tensor]) -> int:
    """The input channels shared by every branch of one classifier."""
    widths = {int(v.shape[1]) for k, v in branches.items() if k.endswith('.weight')}
    if len(widths) != 1:
        raise ConversionError(f'expected the branches of {layer} to share one input width, '
                              f'found {sorted(widths)}')
    return widths.pop()


def assign_heads(classifiers: Mapping[str, StateDict],
                 backbone: Mapping[str, Tensor]) -> Dict[str, str]:
    """Classifier layer name -> head name, decided by which stage's output each one reads."""
    stages = {stage_out_channels(backbone, s): s for s in HEAD_OF_STAGE}
    if len(stages) != len(HEAD_OF_STAGE):
        raise ConversionError('layer3 and layer4 have the same output width, so the classifiers '
                              'cannot be told apart by shape')
    heads = {}
    for layer, branches in sorted(classifiers.items()):
        width = classifier_in_channels(layer, branches)
        if width not in stages:
            raise ConversionError(
                f'{layer} reads {width} channels, but layer3 gives '
                f'{stage_out_channels(backbone, "layer3")} and layer4 '
                f'{stage_out_channels(backbone, "layer4")}')
        heads[layer] = HEAD_OF_STAGE[stages[width]]
    if len(set(heads.values())) != len(heads):
        raise ConversionError(f'two classifiers read the same backbone stage: {heads}')
    return heads


def fill_num_batches_tracked(state: StateDict) -> List[str]:
    """Add the ``num_batches_tracked`` counter (0) to every BN that lacks it; return the keys."""
    filled = []
    for key in [k for k in state if k.endswith('.running_mean')]:
        counter = key[:-len('running_mean')] + 'num_batches_tracked'
        if counter not in state:
            state[counter] = torch.tensor(0, dtype=torch.long)
            filled.append(counter)
    return filled


def _require_backbone(backbone: StateDict, layout: str, example: str) -> None:
    if not backbone:
        raise ConversionError(f'no ResNet key of the {layout} layout found (expected keys like '
                              f'{example!r})')


def caffe_wrapper(state: Mapping[str, Tensor]) -> Optional[str]:
    """The name every key of a Caffe DeepLab-v2 init is wrapped in (``Scale``), or None.

    AdaptSegNet's and ADVENT's loaders drop the first name component of every key
    (``'.'.join(key.split('.')[1:])``) whatever it is; the published files use ``Scale``. Any key
    under ``Scale.`` marks the layout; otherwise one first component shared by every key, with
    ResNet keys below it, does.
    """
    if any(k.startswith('Scale.') for k in state):
        return 'Scale'
    heads = {k.split('.', 1)[0] for k in state}
    if len(heads) != 1 or not all('.' in k for k in state):
        return None
    head = heads.pop()
    if head in NOT_A_CAFFE_WRAPPER:
        return None
    inner = [k[len(head) + 1:] for k in state]
    return head if any(RESNET_KEY.match(k) for k in inner) else None


def convert_caffe_init(state: Mapping[str, Tensor], keep_classifier: bool = False) -> Conversion:
    """The Caffe DeepLab-v2 init (``Scale.conv1.weight``, ``Scale.layer5.conv2d_list.0.*``, ...).

    Its ``layer5`` classifier belongs to the init's own label set; the reference code discards it
    for 19 classes, and so do we unless ``keep_classifier`` maps it to ``decode_head``.
    """
    wrapper = caffe_wrapper(state)
    if wrapper is None:
        raise ConversionError(
            "expected the Caffe DeepLab-v2 init layout (keys under 'Scale.', e.g. "
            f"'Scale.conv1.weight'), found e.g. {next(iter(state), None)!r}; trained AdaptSegNet/"
            'ADVENT checkpoints go through adaptsegnet.py, torchvision weights through '
            'torchvision_resnet.py')
    out = Conversion()
    if wrapper != 'Scale':
        out.notes.append(f"keys under '{wrapper}.' (the Caffe init's wrapper, dropped)")
    start = len(wrapper) + 1
    inner = {}
    for key, value in state.items():
        if key.startswith(f'{wrapper}.'):
            inner[key[start:]] = value
        else:
            out.dropped[key] = f"outside '{wrapper}.'"
    backbone, rest = split_resnet(inner)
    _require_backbone(backbone, 'Caffe DeepLab-v2 init', 'Scale.conv1.weight')
    classifiers, rest = split_classifiers(rest)
    out.state_dict.update(backbone)
    for layer, branches in classifiers.items():
        if keep_classifier and layer == 'layer5':
            out.state_dict.update({f'decode_head.{k}': v for k, v in branches.items()})
            out.notes.append(f'{wrapper}.layer5 -> decode_head (--keep-classifier)')
        else:
            reason = ('classifier of the init checkpoint\'s own label set (kept only with '
                      '--keep-classifier)' if layer == 'layer5' else 'unexpected classifier')
            out.dropped.update({f'{wrapper}.{layer}.conv2d_list.{k[len("branches."):]}': reason
                                for k in branches})
    out.dropped.update({f'{wrapper}.{k}': 'not a key of the DeepLab-v2 layout' for k in rest})
    out.filled = fill_num_batches_tracked(out.state_dict)
    return out


def convert_adaptsegnet(state: Mapping[str, Tensor]) -> Conversion:
    """A trained AdaptSegNet / ADVENT DeepLab-v2 (backbone plus ``layer5``/``layer6``).

    The head each classifier becomes is decided by the backbone stage whose width it reads
    (see the module docstring), never by its name alone.
    """
    out = Conversion()
    state, stripped = strip_data_parallel(state)
    if stripped:
        out.notes.append("stripped the 'module.' prefix of nn.DataParallel")
    if any(k.startswith('Scale.') for k in state):
        raise ConversionError("keys under 'Scale.' are the Caffe init layout; convert that file "
                              'with deeplabv2_caffe.py')
    backbone, rest = split_resnet(state)
    _require_backbone(backbone, 'AdaptSegNet/ADVENT', 'conv1.weight')
    classifiers, rest = split_classifiers(rest)
    if not classifiers:
        raise ConversionError('expected at least one classifier (layer5/layer6.conv2d_list.*); '
                              'for a backbone-only ImageNet file use torchvision_resnet.py')
    out.state_dict.update(backbone)
    for layer, head in assign_heads(classifiers, backbone).items():
        branches = classifiers[layer]
        out.state_dict.update({f'{head}.{k}': v for k, v in branches.items()})
        width = classifier_in_channels(layer, branches)
        out.notes.append(f'{layer} ({width} input channels, '
                         f'{len(branches) // 2} branches) -> {head}')
    out.dropped.update({k: 'not a key of the DeepLab-v2 layout' for k in rest})
    out.filled = fill_num_batches_tracked(out.state_dict)
    return out


def convert_torchvision_resnet(state: Mapping[str, Tensor]) -> Conversion:
    """torchvision's ImageNet ResNet (``conv1``, ``layerN``, ``fc``): the backbone, ``fc`` dropped.

    The names are already mmseg's; what makes the weights fit is the model: torchvision strides
    in the 3x3 conv and, as FADA builds it, contracts the first dilation of layer3/layer4, i.e.
    ``DeepLabV2ResNet(style='pytorch', contract_dilation=True, ceil_mode_pool=False)``.
    """
    out = Conversion()
    state, stripped = strip_data_parallel(state)
    if stripped:
        out.notes.append("stripped the 'module.' prefix of nn.DataParallel")
    backbone, rest = split_resnet(state)
    _require_backbone(backbone, 'torchvision ResNet', 'layer1.0.conv1.weight')
    out.state_dict.update(backbone)
    for key in rest:
        out.dropped[key] = ('ImageNet classifier, unused by a segmentor' if key.startswith('fc.')
                            else 'not a key of the torchvision ResNet layout')
    out.filled = fill_num_batches_tracked(out.state_dict)
    return out


def convert_torchvision_vgg19(state: Mapping[str, Tensor]) -> Conversion:
    """torchvision's VGG19 (``features.<i>.*`` and ``classifier.*``, e.g. ``vgg19-dcbb9e9d.pth``).

    Returns the ``features`` stack's own names (``'0.weight'``, ...), what
    :class:`mmuda.models.losses.VGGPerceptualLoss` holds; the ImageNet ``classifier`` is dropped. A
    state dict of ``vgg19().features`` alone (keys ``'0.weight'``, ...) passes through.
    """
    out = Conversion()
    state, stripped = strip_data_parallel(state)
    if stripped:
        out.notes.append("stripped the 'module.' prefix of nn.DataParallel")
    if not any(k.startswith('features.') for k in state):
        if not all(re.match(r'^\d+\.(weight|bias)$', k) for k in state):
            raise ConversionError("expected torchvision's VGG19 layout (keys like "
                                  f"'features.0.weight'), found e.g. {next(iter(state), None)!r}")
        out.notes.append('a state dict of vgg19().features alone')
        out.state_dict.update(state)
        return out
    for key, value in state.items():
        match = VGG_KEY.match(key)
        if match:
            out.state_dict[f'{match.group(1)}.{match.group(2)}'] = value
        elif key.startswith('classifier.'):
            out.dropped[key] = 'ImageNet classifier, unused by the perceptual loss'
        else:
            out.dropped[key] = "not a key of torchvision's VGG layout"
    return out


def convert_mmseg(state: Mapping[str, Tensor]) -> Conversion:
    """Weights already named as mmseg/mmuda modules are (a converter's output, an OpenMMLab
    release such as ``mit_b5_*.pth``, an mmseg or mmuda checkpoint): kept as they are."""
    out = Conversion()
    state, stripped = strip_data_parallel(state)
    if stripped:
        out.notes.append("stripped the 'module.' prefix of nn.DataParallel")
    out.state_dict.update(state)
    return out


# Layout name -> converter. The names are what ``layout=`` of PublishedPretrained accepts.
LAYOUTS: Dict[str, Callable[[Mapping[str, Tensor]], Conversion]] = {
    'deeplabv2_caffe': convert_caffe_init,
    'adaptsegnet': convert_adaptsegnet,
    'torchvision_resnet': convert_torchvision_resnet,
    'torchvision_vgg19': convert_torchvision_vgg19,
    'mmseg': convert_mmseg,
}


def detect_layout(state: Mapping[str, Tensor]) -> str:
    """Which of :data:`LAYOUTS` a state dict is in, from its keys alone.

    In order: keys under one wrapper such as ``Scale.`` (the Caffe DeepLab-v2 init); ResNet keys
    with ``layer5``/``layer6`` classifiers (a trained AdaptSegNet / ADVENT model); ResNet keys
    with a ``conv1`` stem and nothing but ``fc`` besides (torchvision ResNet: an OpenMMLab
    ResNet-V1c has a ``stem`` instead); ``features.<i>`` keys (torchvision VGG); anything else is
    taken to be named as our modules are (``mmseg``).
    """
    if caffe_wrapper(state) is not None:
        return 'deeplabv2_caffe'
    state, _ = strip_data_parallel(state)
    resnet, rest = split_resnet(state)
    classifiers, rest = split_classifiers(rest)
    if resnet and classifiers:
        return 'adaptsegnet'
    if 'backbone.conv1.weight' in resnet and all(k.startswith('fc.') for k in rest):
        return 'torchvision_resnet'
    if any(VGG_KEY.match(k) for k in state) and \
            all(k.startswith(('features.', 'classifier.')) for k in state):
        return 'torchvision_vgg19'
    return 'mmseg'


def convert_layout(state: Mapping[str, Tensor], layout: str = 'auto') -> Tuple[Conversion, str]:
    """Convert ``state`` from ``layout`` (``'auto'``: :func:`detect_layout`); return the
    conversion and the layout used."""
    if layout == 'auto':
        layout = detect_layout(state)
    if layout not in LAYOUTS:
        raise ConversionError(f"unknown layout {layout!r}; expected 'auto' or one of "
                              f'{sorted(LAYOUTS)}')
    return LAYOUTS[layout](state), layout
