# Multi-adversarial training on mmseg's DeepLabV3+ ResNet-101, GTA5 -> Cityscapes: AdaptSegNet's
# DeepLabV3+ config (SGD 2.5e-4, poly, two images per domain for the ASPP image-pool BN) with
# this method's model part. D1 (`high`) sees layer4 (index -1: 2048 channels at 1/8, two
# poolings to 1/32), D2 (`mid`) layer3 (index 2: 1024 channels at 1/8). No paper number.
_base_ = [
    '../adaptsegnet/adaptsegnet_deeplabv3plus-r101-d8_1xb2-150k_gta5-1280x720_cityscapes-1024x512.py']
disc = dict(type='PatchDiscriminator', channels=(64, 128, 256, 512), kernel_size=3,
            negative_slope=0.2, num_downsamples=2)
model = dict(
    _delete_=True,
    type='MultiAdversarial',
    segmentor=_base_.segmentor,
    discriminators=dict(high=dict(disc, in_channels=2048), mid=dict(disc, in_channels=1024)),
    adv_features=dict(high=-1, mid=2),
    adv_weights=dict(high=0.001, mid=0.0002),
    lambda_seg=1.0,
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla', source_label=1.0,
                  target_label=0.0),
    confidence_norm='per_image_minmax',
    confidence_input='probability',
    disc_output_stride=32)
