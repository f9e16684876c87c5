"""Class probabilities and adversarial confidence of a batch, at each image's own resolution."""
from typing import List, NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import is_model_wrapper

Tensor = torch.Tensor


class Prediction(NamedTuple):
    """One image: ``probs`` (1, C, H, W), ``adv`` (1, H, W) or None, at the original size."""
    probs: Tensor
    adv: Optional[Tensor]
    sample: object


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a distributed wrapper (inference needs no gradient synchronisation)."""
    return model.module if is_model_wrapper(model) else model


def check_adversarial_model(model: nn.Module) -> None:
    """Fail early, naming the model type, when it cannot provide an adversarial confidence."""
    if not callable(getattr(model, 'adversarial_confidence', None)):
        raise TypeError(
            f'the adversarial_proxy policy needs model.adversarial_confidence(inputs) -> '
            f'Tensor[N, 1, H, W] in [0, 1]; {type(model).__name__} has no such method (use a '
            'multi-adversarial model, or another policy)')


@torch.no_grad()
def predict_batch(model: nn.Module, data: dict, with_adv: bool) -> List[Prediction]:
    """Run mmseg's own inference path on a collated batch.

    ``model.data_preprocessor`` then ``forward(mode='predict')``: the segmentor's ``test_cfg``
    (whole or slide) applies, and mmseg resizes the logits back to each image's original size
    (undoing padding and flips). A :class:`UDASegmentor` delegates this to its segmentor. The
    adversarial confidence, computed at input size by the model, is mapped to the original
    size the same way.
    """
    data = model.data_preprocessor(data, False)
    inputs, samples = data['inputs'], data['data_samples']
    samples = model(inputs, samples, mode='predict')
    adv_maps = _adversarial_maps(model, inputs) if with_adv else None
    out = []
    for i, sample in enumerate(samples):
        logits = sample.seg_logits.data
        if logits.shape[0] < 2:
            raise ValueError(f'pseudo labels need at least 2 classes; {type(model).__name__} '
                             f'predicts {logits.shape[0]} channel(s)')
        probs = logits.float().softmax(dim=0).unsqueeze(0)
        adv = None
        if adv_maps is not None:
            adv = _to_original_size(adv_maps[i:i + 1], sample.metainfo, logits.shape[1:])
        out.append(Prediction(probs, adv, sample))
    return out


def _adversarial_maps(model: nn.Module, inputs: Tensor) -> Tensor:
    check_adversarial_model(model)
    adv = model.adversarial_confidence(inputs)
    expected = (inputs.shape[0], 1, *inputs.shape[2:])
    if not isinstance(adv, Tensor) or tuple(adv.shape) != expected:
        got = tuple(adv.shape) if isinstance(adv, Tensor) else type(adv).__name__
        raise ValueError(f'{type(model).__name__}.adversarial_confidence must return a tensor '
                         f'of shape {expected} (N, 1, H, W at input size), got {got}')
    return adv.float()


def _to_original_size(adv: Tensor, meta: dict, size) -> Tensor:
    """Crop the padding, undo a flip and resize to ``size``, as mmseg does for the logits."""
    pad = meta.get('img_padding_size', meta.get('padding_size', [0, 0, 0, 0]))
    left, right, top, bottom = pad
    h, w = adv.shape[2:]
    adv = adv[:, :, top:h - bottom, left:w - right]
    if meta.get('flip'):
        adv = adv.flip(dims=(3,) if meta.get('flip_direction') == 'horizontal' else (2,))
    if tuple(adv.shape[2:]) != tuple(size):
        adv = F.interpolate(adv, size=tuple(size), mode='bilinear', align_corners=False)
    return adv[:, 0]
