# The single-level toy model: the toy backbone of deeplabv2_r18-toy_multilevel.py with only the
# layer4 classifier, for methods whose paper uses single-classifier DeepLab-v2 (FADA, SSF-DAN).
_base_ = ['./deeplabv2_r101.py']
num_classes = 7
segmentor = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(
        depth=18, base_channels=32, stem_channels=32,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True), norm_eval=False,
        init_cfg=None),
    decode_head=dict(in_channels=256, num_classes=num_classes, dilations=(1, 2, 4)))
