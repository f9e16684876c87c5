# The multi-adversarial proxies paper's network (paper 004, section 2.4) on DeepLab-v2: ImageNet
# ResNet-101 (torchvision weights, frozen BN, output stride 8) as the encoder; the light
# FusionDecoder neck as the rest of the feature backbone F: layer4 (Res5c) and layer3 (its last
# block, Res4b22) reduced to 128 channels by 1x1 convs, summed, upsampled x2 to reach the
# paper's 1/4 resolution (both taps are at 1/8 with output stride 8), then a 3x3 conv with
# dilation 2; the classifier C sums dilated 3x3 convs with rates 1, 2, 4, 8 on the fused map.
# The neck keeps the backbone outputs, so the features are (layer3, layer4, F): index -1 is F,
# index 0 the mid-level feature F_l. Alternative way to 1/4 (an option, not the default): also
# fuse layer1 with backbone out_indices=(0, 2, 3), neck in_channels=(256, 1024, 2048),
# fuse_indices=(2, 1, 0), upsample_factor=1 (then F_l = index 1).
# Weights: torchvision's ImageNet ResNet-101 (inherited). The paper's encoder is "a classification
# network, e.g. VGG16 or Resnet101, pretrained on ImageNet" (section 2.4), and the proxy stage
# starts again "directly from the ImageNet pretrained one" (section 3.2): ImageNet-only weights,
# not the ImageNet+COCO DeepLab init of the AdaptSegNet lineage. The paper's own (MXNet) weights
# are not published; torchvision's are the standard PyTorch ImageNet ResNet-101.
_base_ = ['./deeplabv2_r101-torchvision.py']
segmentor = dict(
    neck=dict(
        type='FusionDecoder',
        in_channels=(1024, 2048),
        fuse_indices=(1, 0),
        channels=128,
        dilation=2,
        upsample_factor=2.0,
        keep_inputs=True),
    decode_head=dict(in_channels=128, in_index=-1, dilations=(1, 2, 4, 8)))
