# DeepLab-v2 ResNet-101 with a second classifier on layer3 (the auxiliary, lower level) as
# AdaptSegNet's multi-level variant uses it; its segmentation loss weighs 0.1.
_base_ = ['./deeplabv2_r101.py']
segmentor = dict(
    auxiliary_head=dict(
        type='DeepLabV2Head',
        in_channels=1024,
        in_index=0,
        dilations=(6, 12, 18, 24),
        num_classes=19,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.1, avg_non_ignore=True)))
