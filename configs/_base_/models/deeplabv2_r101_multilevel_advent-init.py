# The multi-level DeepLab-v2 ResNet-101 with ADVENT's own initialisation: its code loads
# DeepLab_resnet_pretrained_imagenet.pth (TRAIN.RESTORE_FROM in advent/scripts/configs/
# advent.yml), an ImageNet DeepLab-v2 init in the same Caffe layout (`Scale.` keys, a `layer5`
# it drops), not AdaptSegNet's ImageNet+COCO file. docs/get_started.md#pretrained-weights.
_base_ = ['./deeplabv2_r101_multilevel.py']
segmentor = dict(
    backbone=dict(init_cfg=dict(checkpoint='checkpoints/DeepLab_resnet_pretrained_imagenet.pth')))
