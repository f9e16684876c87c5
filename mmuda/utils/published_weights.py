"""The pretrained weights files the shipped configs initialise from, and where each comes from.

Every real-data config points at one of these under ``checkpoints/`` (set in
``configs/_base_/models/*.py``; LDR's VGG19 in ``configs/_base_/uda/ldr.py`` and the
reconstruction pre-training config). The entries feed the error that ``tools/train.py`` gives
when a file is absent; ``docs/get_started.md#pretrained-weights`` is the table for people, and a
test keeps the two in agreement. The hexadecimal suffix of the torchvision, AdaptSegNet and
OpenMMLab file names is the first 8 digits of the file's SHA-256 (torch.hub's convention, which
``torch.hub.load_state_dict_from_url(check_hash=True)`` verifies).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional

DOC = 'docs/get_started.md#pretrained-weights'


@dataclass(frozen=True)
class PublishedWeights:
    """One published weights file.

    Attributes:
        what: What the weights are (network, data it was trained on).
        url: Where the paper's or the backbone's own repository publishes it.
        layout: The layout ``PublishedPretrained`` recognises it as.
        sha256_prefix: The SHA-256 prefix in the file name, if it has one.
    """

    what: str
    url: str
    layout: str
    sha256_prefix: Optional[str] = None


PUBLISHED_WEIGHTS: Dict[str, PublishedWeights] = {
    'DeepLab_resnet_pretrained_init-f81d91e8.pth': PublishedWeights(
        what='the DeepLab-v2 ResNet-101 initialisation that AdaptSegNet\'s code loads '
             '(RESTORE_FROM): Caffe weights trained on ImageNet and MS-COCO',
        url='http://vllab.ucmerced.edu/ytsai/CVPR18/DeepLab_resnet_pretrained_init-f81d91e8.pth',
        layout='deeplabv2_caffe', sha256_prefix='f81d91e8'),
    'DeepLab_resnet_pretrained_imagenet.pth': PublishedWeights(
        what='the DeepLab-v2 ResNet-101 ImageNet initialisation that ADVENT\'s code loads '
             '(TRAIN.RESTORE_FROM of advent/scripts/configs/advent.yml)',
        url='https://github.com/valeoai/ADVENT/releases/download/v0.1/'
            'DeepLab_resnet_pretrained_imagenet.pth',
        layout='deeplabv2_caffe'),
    'resnet101-5d3b4d8f.pth': PublishedWeights(
        what='torchvision\'s ImageNet-1k ResNet-101 that FADA\'s code loads in every stage',
        url='https://download.pytorch.org/models/resnet101-5d3b4d8f.pth',
        layout='torchvision_resnet', sha256_prefix='5d3b4d8f'),
    'resnet101_v1c-e67eebb6.pth': PublishedWeights(
        what='OpenMMLab\'s ImageNet-1k ResNet-101-V1c (deep stem), the '
             'open-mmlab://resnet101_v1c of mmseg\'s DeepLabV3+ configs',
        url='https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth',
        layout='mmseg', sha256_prefix='e67eebb6'),
    'mit_b5_20220624-658746d9.pth': PublishedWeights(
        what='the ImageNet-1k SegFormer MiT-B5 encoder in mmseg\'s names, as mmseg\'s '
             'segformer_mit-b5 configs load it',
        url='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/'
            'mit_b5_20220624-658746d9.pth',
        layout='mmseg', sha256_prefix='658746d9'),
    'vgg19-dcbb9e9d.pth': PublishedWeights(
        what='torchvision\'s ImageNet-1k VGG19, the loss network of LDR\'s perceptual term',
        url='https://download.pytorch.org/models/vgg19-dcbb9e9d.pth',
        layout='torchvision_vgg19', sha256_prefix='dcbb9e9d'),
}


def published_weights_of(path: str) -> Optional[PublishedWeights]:
    """The catalogue entry of ``path``'s file name, if it is one of the published files."""
    return PUBLISHED_WEIGHTS.get(osp.basename(path))
