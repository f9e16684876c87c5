"""Segmentor inputs back to the image space of the reconstruction network."""
import torch
import torch.nn as nn

Tensor = torch.Tensor


def _channel_conversion(preprocessor: nn.Module) -> bool:
    """Whether the preprocessor flipped the channels (mmseg and mmengine spell it differently)."""
    for name in ('channel_conversion', '_channel_conversion'):
        if hasattr(preprocessor, name):
            return bool(getattr(preprocessor, name))
    branches = getattr(preprocessor, 'branches', None)
    hint = (f" (a UDA preprocessor: pass one branch, e.g. data_preprocessor.{next(iter(branches))})"
            if branches else '')
    raise TypeError(f'to_unit_rgb needs the SegDataPreProcessor that normalised the batch, got '
                    f'{type(preprocessor).__name__}{hint}')


def to_unit_rgb(inputs: Tensor, preprocessor: nn.Module, clamp: bool = True) -> Tensor:
    """A batch normalised by ``preprocessor`` as RGB in [-1, 1], the range M's ``tanh`` outputs.

    Undoes the preprocessor's ``(x - mean) / std`` with its own ``mean`` and ``std`` buffers
    (nothing when it does not normalise), which gives the 0-255 image in the channel order the
    network saw. mmcv's ``LoadImageFromFile`` loads BGR, so that order is RGB when the
    preprocessor converted it (``bgr_to_rgb=True``, the ImageNet/torchvision configs) and BGR
    otherwise (the Caffe-lineage DeepLab-v2 configs: BGR mean, no std), which is flipped here.
    The reconstruction and the VGG perceptual loss work on RGB whatever the segmentor wants.

    Args:
        inputs: (N, 3, H, W) output of ``preprocessor``.
        preprocessor: mmseg ``SegDataPreProcessor`` (or mmengine ``ImgDataPreprocessor``);
            for a UDA model, the branch of the domain (``data_preprocessor.source``).
        clamp: Clip to [-1, 1]: padding and photometric augmentation may leave the 0-255
            range, where no ``tanh`` output could follow (the discriminator would tell them
            apart by that alone).
    """
    if inputs.dim() != 4 or inputs.shape[1] != 3:
        raise ValueError(f'to_unit_rgb expects an (N, 3, H, W) image batch, got '
                         f'{tuple(inputs.shape)}')
    converted = _channel_conversion(preprocessor)
    x = inputs
    if getattr(preprocessor, '_enable_normalize', False):
        x = x * preprocessor.std.to(x) + preprocessor.mean.to(x)
    if not converted:
        x = x.flip(1)  # BGR -> RGB
    x = x / 127.5 - 1.0
    return x.clamp(-1.0, 1.0) if clamp else x
