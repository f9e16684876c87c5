# SegFormer MiT-B5 with mmseg's own settings (mmseg configs/_base_/models/segformer_mit-b0.py at
# the B5 widths and depths of segformer_mit-b5_8xb1-160k_cityscapes-1024x1024.py), 19 classes,
# ImageNet-pretrained MiT-B5 from OpenMMLab (the file mmseg's segformer configs download, read
# here from checkpoints/: docs/get_started.md#pretrained-weights). LayerNorm in the encoder; the
# head's one fusion conv has BN. No auxiliary head, so adversarial methods are single-level on it.
# CE averages over labelled pixels (avg_non_ignore), as mmuda's DeepLab-v2 configs do.
# `segmentor` is the plain mmseg part; a UDA config wraps it: model = dict(segmentor=...).
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
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=64,
        num_stages=4,
        num_layers=[3, 6, 40, 3],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=dict(type='PublishedPretrained',
                      checkpoint='checkpoints/mit_b5_20220624-658746d9.pth')),
    decode_head=dict(
        type='SegformerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
