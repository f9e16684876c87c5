"""The VGG19 perceptual loss of LDR's eq. 5 (Johnson et al. 2016, as pix2pixHD weighs it)."""
import logging
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS

Tensor = torch.Tensor

# torchvision's ``vgg19().features``: ints are 3x3 convolutions (each followed by a ReLU),
# 'M' a 2x2 max-pool. The module indices below follow from it (conv1_1 = 0, relu1_1 = 1, ...).
VGG19_LAYOUT = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M',
                512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M')
TAPS = ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')
# pix2pixHD's VGGLoss (models/networks.py): 1/32, 1/16, 1/8, 1/4, 1 on relu1_1 ... relu5_1
PIX2PIXHD_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
INPUT_NORMS = ('imagenet', 'none')
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrozenConv2d(nn.Module):
    """A 3x3, padding-1 convolution whose weights are non-persistent buffers.

    Buffers, not parameters: a loss network has nothing to train, so no optimizer, gradient
    all-reduce or parameter initialiser (e.g. a parent's ``init_cfg`` over ``Conv2d`` layers)
    ever sees it, and non-persistent buffers are neither written to nor expected in a
    ``state_dict``: checkpoints stay small and strict loading works without them. They still
    follow ``.to(device)``. Names (``weight``, ``bias``) are those of ``nn.Conv2d``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        weight = torch.empty(out_channels, in_channels, 3, 3)
        nn.init.kaiming_normal_(weight, mode='fan_out', nonlinearity='relu')
        self.register_buffer('weight', weight, persistent=False)
        self.register_buffer('bias', torch.zeros(out_channels), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=1)

    def extra_repr(self) -> str:
        return f'{self.weight.shape[1]}, {self.weight.shape[0]}, kernel_size=(3, 3), frozen'


def vgg19_features(width_divisor: int = 1, last_tap: str = 'relu5_1'
                   ) -> Tuple[nn.Sequential, Dict[str, int]]:
    """torchvision's VGG19 ``features`` up to ``last_tap``, widths divided by ``width_divisor``.

    Returns the stack and the module index of every ReLU tap (``relu1_1`` -> 1, ...). Later
    layers (conv5_2 onwards) are not built: no tap reads them, and leaving them out saves 7M
    weights that a loaded state dict may still carry (they are ignored).
    """
    layers: List[nn.Module] = []
    taps: Dict[str, int] = {}
    in_c, block, conv = 3, 1, 1
    for item in VGG19_LAYOUT:
        if item == 'M':
            layers.append(nn.MaxPool2d(2, 2))
            block, conv = block + 1, 1
            continue
        out_c, name = item // width_divisor, f'relu{block}_{conv}'
        layers += [FrozenConv2d(in_c, out_c), nn.ReLU()]
        taps[name] = len(layers) - 1
        if name == last_tap:
            break
        in_c, conv = out_c, conv + 1
    return nn.Sequential(*layers), {k: v for k, v in taps.items() if k in TAPS}


def load_vgg19_state(path: str) -> Tuple[Mapping[str, Tensor], Dict[str, str]]:
    """The ``features`` entries of a torchvision-layout VGG19 file, keyed ``'<idx>.weight'``,
    and the file's keys that were dropped (the ImageNet ``classifier``), with the reason.

    Accepts the full model's state dict (``features.*`` and ``classifier.*``, e.g.
    torchvision's ``vgg19-dcbb9e9d.pth``), the state dict of ``vgg19().features`` alone
    (``0.weight``, ...), either possibly under a ``state_dict`` key. Local paths and anything
    mmengine's ``CheckpointLoader`` reads (e.g. an http(s) URL) work; local files load with
    torch's ``weights_only`` loading (:func:`mmuda.models.weight_init.read_state_dict`).
    """
    from mmuda.models.weight_init import read_state_dict
    from mmuda.utils.weight_conversion import convert_torchvision_vgg19
    if '://' not in path and not os.path.isfile(path):
        raise FileNotFoundError(
            f'VGGPerceptualLoss: pretrained={path!r} does not exist; expected torchvision\'s '
            'ImageNet VGG19 state dict (vgg19-dcbb9e9d.pth, from '
            'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth; see '
            'docs/get_started.md#pretrained-weights), or pretrained=None for random weights')
    conversion = convert_torchvision_vgg19(read_state_dict(path))
    return conversion.state_dict, conversion.dropped


@MODELS.register_module()
class VGGPerceptualLoss(BaseModule):
    """Weighted sum over VGG19 layers of the mean L1 distance between two images' features.

    The first term of LDR's eq. 5: ``sum_m w_m * mean |V_m(recon) - V_m(image)|`` with ``V_m``
    the activations after relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 of an ImageNet VGG19
    and ``w_m`` pix2pixHD's weights (1/32, 1/16, 1/8, 1/4, 1) by default. LDR takes beta = 10,
    its layers and "VGG19-based" from pix2pixHD (whose ``lambda_feat`` is 10 and whose
    ``VGGLoss`` computes exactly this); eq. 5 itself prints no weights. The weights matter: the
    early layers have the largest mean distances, and with weight 1 each relu1_1 and relu2_1
    would dominate a loss meant to compare perceptual content. The image's features carry no
    gradient (it is the target); the reconstruction's do, back to whatever produced it.

    Inputs are RGB in [-1, 1] (the reconstruction network's ``tanh`` range; real images go
    through :func:`mmuda.models.reconstruction.to_unit_rgb`). ``input_norm='imagenet'`` maps
    them to the ImageNet mean/std normalisation the VGG was trained with (about 2.2x the [-1, 1]
    values, shifted); pix2pixHD feeds its [-1, 1] images to torchvision's VGG19 as they are
    (``input_norm='none'``).

    The VGG is a fixed loss network: always in eval mode, never trained, and not part of the
    ``state_dict`` (its weights come from ``pretrained`` every time the model is built, see
    :class:`FrozenConv2d`). Checkpoints therefore stay small and load strictly into models with
    or without the loss. ``pretrained`` is read in :meth:`init_weights`, which mmengine's
    runner calls before training, so that building a model (e.g. for inference) does not need
    the file.

    Args:
        pretrained: Path (or URL) of a torchvision-layout VGG19 state dict (the full model or
            ``features`` only). ``None``: random (He-normal) weights, with a warning; only
            meaningful for tests and the CPU toy recipe.
        layer_weights: Weights ``w_m`` of the five layers, or ``'pix2pixhd'`` (the
            default): (1/32, 1/16, 1/8, 1/4, 1). ``(1, 1, 1, 1, 1)`` is eq. 5 read as an
            unweighted sum.
        input_norm: ``'imagenet'`` (default) or ``'none'`` (pix2pixHD), see above.
        width_divisor: Divide every VGG width by this (64 must be a multiple): a narrow random
            VGG for CPU toy runs and tests. Cannot be combined with ``pretrained``.
    """

    def __init__(self, pretrained: Optional[str] = None,
                 layer_weights: Union[Sequence[float], str] = 'pix2pixhd',
                 input_norm: str = 'imagenet', width_divisor: int = 1, init_cfg=None) -> None:
        super().__init__(init_cfg)
        if input_norm not in INPUT_NORMS:
            raise ValueError(f'VGGPerceptualLoss input_norm must be one of {INPUT_NORMS}, got '
                             f'{input_norm!r}')
        self.input_norm = input_norm
        if not isinstance(width_divisor, int) or width_divisor < 1 or 64 % width_divisor:
            raise ValueError(f'VGGPerceptualLoss width_divisor must be a positive int dividing '
                             f'64, got {width_divisor!r}')
        if pretrained is not None and width_divisor != 1:
            raise ValueError(f'VGGPerceptualLoss: width_divisor={width_divisor} builds a narrow '
                             f'VGG that the pretrained weights ({pretrained}) cannot fill; use '
                             'width_divisor=1 with pretrained, or pretrained=None')
        self.pretrained = pretrained
        self.width_divisor = width_divisor
        self.layer_weights = self._check_weights(layer_weights)
        self.features, self.taps = vgg19_features(width_divisor)
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)
        self._loaded = False
        self.train(False)

    @staticmethod
    def _check_weights(layer_weights: Union[Sequence[float], str]) -> Tuple[float, ...]:
        if isinstance(layer_weights, str):
            if layer_weights != 'pix2pixhd':
                raise ValueError(f"VGGPerceptualLoss layer_weights must be 5 numbers or "
                                 f"'pix2pixhd', got {layer_weights!r}")
            return PIX2PIXHD_WEIGHTS
        weights = tuple(float(w) for w in layer_weights)
        if len(weights) != len(TAPS):
            raise ValueError(f'VGGPerceptualLoss layer_weights needs one weight per layer of '
                             f'{TAPS}, got {len(weights)}')
        return weights

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Load ``pretrained`` (or warn that the VGG is random)."""
        super().init_weights()
        if self.pretrained is None:
            print_log('VGGPerceptualLoss: pretrained=None, the VGG19 has random weights: the '
                      'perceptual term is not the paper\'s (fine for tests and toy runs only)',
                      'current', logging.WARNING)
            return
        state, dropped = load_vgg19_state(self.pretrained)
        self.load_vgg19(state, source=self.pretrained)
        unused = sorted(set(state) - {f'{i}.{n}' for i, m in enumerate(self.features)
                                      if isinstance(m, FrozenConv2d) for n in ('weight', 'bias')})
        print_log(f'VGGPerceptualLoss <- {self.pretrained} (torchvision_vgg19 layout): '
                  f'{2 * self.num_convs} keys loaded, 0 missing, {len(unused)} unexpected '
                  f'(ignored: the layers after {TAPS[-1]}, which no term reads), '
                  f'{len(dropped)} dropped (the ImageNet classifier)', 'current')

    def load_vgg19(self, state: Mapping[str, Tensor], source: str = 'the state dict') -> None:
        """Copy torchvision-layout ``features`` weights (keys ``'<idx>.weight'``) in."""
        convs = {i: m for i, m in enumerate(self.features) if isinstance(m, FrozenConv2d)}
        wanted = [f'{i}.{n}' for i in convs for n in ('weight', 'bias')]
        missing = [k for k in wanted if k not in state]
        if missing:
            raise KeyError(f'VGGPerceptualLoss: {source} is not a torchvision VGG19 state dict: '
                           f'missing features.{missing[0]} (and {len(missing) - 1} more)')
        for i, conv in convs.items():
            for name in ('weight', 'bias'):
                value, buf = state[f'{i}.{name}'], getattr(conv, name)
                if value.shape != buf.shape:
                    raise ValueError(f'VGGPerceptualLoss: features.{i}.{name} of {source} has '
                                     f'shape {tuple(value.shape)}, VGG19 needs '
                                     f'{tuple(buf.shape)}')
                buf.copy_(value)
        self._loaded = True

    @property
    def num_convs(self) -> int:
        return sum(isinstance(m, FrozenConv2d) for m in self.features)

    def train(self, mode: bool = True) -> 'VGGPerceptualLoss':
        """Always eval: a fixed loss network (``mode`` is ignored)."""
        return super().train(False)

    # ------------------------------------------------------------------ loss
    def vgg_features(self, x: Tensor) -> List[Tensor]:
        """The five tapped activations of RGB ``x`` in [-1, 1]."""
        if self.input_norm == 'imagenet':
            x = ((x + 1) / 2 - self.mean) / self.std
        out, wanted = [], sorted(self.taps.values())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out.append(x)
                if i == wanted[-1]:
                    break
        return out

    def forward(self, recon: Tensor, image: Tensor) -> Tensor:
        """``sum_m w_m * mean |V_m(recon) - V_m(image)|``; gradients reach ``recon`` only."""
        if self.pretrained is not None and not self._loaded:
            raise RuntimeError('VGGPerceptualLoss: pretrained is set but init_weights() was not '
                               'called, the VGG19 is still random (mmengine\'s runner calls it; '
                               'call model.init_weights() when building the model yourself)')
        if recon.shape != image.shape or recon.dim() != 4 or recon.shape[1] != 3:
            raise ValueError(f'VGGPerceptualLoss compares two RGB batches of one shape '
                             f'(N, 3, H, W), got {tuple(recon.shape)} and {tuple(image.shape)}')
        with torch.no_grad():
            target = self.vgg_features(image)
        loss = recon.new_zeros(())
        for w, f_rec, f_img in zip(self.layer_weights, self.vgg_features(recon), target):
            loss = loss + w * F.l1_loss(f_rec, f_img)
        return loss
