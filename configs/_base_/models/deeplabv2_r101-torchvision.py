# DeepLab-v2 ResNet-101 as FADA builds it (reference-facts section 6): torchvision's ImageNet
# ResNet-101 (stride on the 3x3 conv, first dilation of layer3/layer4 contracted, no ceil-mode
# pool) with fully frozen BN, RGB input normalised with the ImageNet mean and std, and the same
# summed dilated classifier (6/12/18/24) on layer4.
# Weights: torchvision's ImageNet ResNet-101 file that FADA's code loads in every stage (the
# source-only warm-up, the adaptation, and the fresh self-distillation student), used as
# published: PublishedPretrained recognises the torchvision layout and drops `fc`.
# docs/get_started.md#pretrained-weights.
_base_ = ['./deeplabv2_r101.py']
segmentor = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(style='pytorch', contract_dilation=True, ceil_mode_pool=False,
                  init_cfg=dict(type='PublishedPretrained',
                                checkpoint='checkpoints/resnet101-5d3b4d8f.pth')))
