# DeepLab-v2 ResNet-101 as the AdaptSegNet lineage builds it (reference-facts section 4):
# Caffe-style backbone, ceil-mode max-pool, fully frozen BN, output stride 8, and a classifier
# summing four dilated 3x3 convs (6/12/18/24). Caffe inputs: BGR, mean subtracted, no std.
# `segmentor` is the plain mmseg part; a UDA config wraps it: model = dict(segmentor=...).
# Weights: the DeepLab-v2 init that AdaptSegNet's code loads (Caffe ResNet-101 trained on ImageNet
# and MS-COCO), used as published: PublishedPretrained recognises its `Scale.` layout, drops the
# init's own `layer5` classifier and loads the backbone. The AdaptSegNet lineage (AdaptSegNet,
# SSF-DAN, LDR, source-only) starts from it; tools/train.py refuses to start without it (a frozen
# BN backbone cannot train from random weights). Source, checksum, the other files:
# docs/get_started.md#pretrained-weights.
norm_cfg = dict(type='BN', requires_grad=False)
segmentor = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[104.00698793, 116.66876762, 122.67891434],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='DeepLabV2ResNet',
        depth=101,
        out_indices=(2, 3),
        norm_cfg=norm_cfg,
        norm_eval=True,
        init_cfg=dict(type='PublishedPretrained',
                      checkpoint='checkpoints/DeepLab_resnet_pretrained_init-f81d91e8.pth')),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=1,
        dilations=(6, 12, 18, 24),
        num_classes=19,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
