# The toy-domain model: the same DeepLab-v2 code path (ceil-mode pool, dilated layer3/4, summed
# dilated classifiers on layer4 and layer3) with a narrow ResNet-18 that trains on a laptop CPU
# from random init (no downloads). Frozen BN only makes sense with pretrained statistics, and a
# trainable BN would let target batches shift its running statistics (a gain that is not the
# method's), so the toy backbone uses GroupNorm: no running statistics, no domain leakage.
# Random init: init_cfg=None replaces the R101 base's pretrained initialisation.
_base_ = ['./deeplabv2_r101_multilevel.py']
num_classes = 7
segmentor = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(
        depth=18, base_channels=32, stem_channels=32,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True), norm_eval=False,
        init_cfg=None),
    decode_head=dict(in_channels=256, num_classes=num_classes, dilations=(1, 2, 4)),
    auxiliary_head=dict(in_channels=128, num_classes=num_classes, dilations=(1, 2, 4)))
