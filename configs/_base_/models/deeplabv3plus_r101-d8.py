# DeepLabV3+ ResNet-101 (V1c, output stride 8) with mmseg's own settings (mmseg
# configs/_base_/models/deeplabv3plus_r50-d8.py at depth 101, ImageNet weights
# open-mmlab://resnet101_v1c), 19 classes: depthwise-separable ASPP decode head on layer4 with
# the layer1 skip, and mmseg's FCNHead auxiliary head on layer3 (loss weight 0.4), which
# AdaptSegNet-style methods use as their second ("aux") prediction level.
# BN is mmseg's (trainable SyncBN, plain BN on one process). The ASPP image-pool branch
# normalises a 1x1 map, so training needs at least 2 images per domain per GPU; and since the
# source and target batches go through the network separately, the running statistics used at
# test time mix both domains. Set norm_eval=True on the backbone to keep ImageNet statistics.
# CE averages over labelled pixels (avg_non_ignore), as mmuda's DeepLab-v2 configs do.
# Weights: the file behind open-mmlab://resnet101_v1c, read from checkpoints/ (no download at
# train time; docs/get_started.md#pretrained-weights).
norm_cfg = dict(type='SyncBN', requires_grad=True)
segmentor = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    pretrained=None,
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        init_cfg=dict(type='PublishedPretrained',
                      checkpoint='checkpoints/resnet101_v1c-e67eebb6.pth')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        dilations=(1, 12, 24, 36),
        c1_in_channels=256,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=1024,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
