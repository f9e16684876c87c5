# Multi-adversarial training on SegFormer MiT-B5, GTA5 -> Cityscapes: AdaptSegNet's SegFormer
# config (mmseg's AdamW recipe, 40k iterations, from ImageNet MiT weights; no separate warm-up)
# with this method's model part. The taps are MiT stages, named by `adv_features`: D1 (`high`)
# the last stage (index -1: 512 channels at 1/32, no pooling to reach 1/32), D2 (`mid`) stage 3
# (index 2: 320 channels at 1/16, one pooling). Proxy generation and retraining as for the
# DeepLab-v2 configs (configs/mada/README.md). No paper number.
_base_ = [
    '../adaptsegnet/adaptsegnet_segformer-mit-b5_1xb1-40k_gta5-1280x720_cityscapes-1024x512.py']
# The method settings of ../_base_/uda/mada.py (not inherited: mmengine refuses a second
# `model` among the bases)
disc = dict(type='PatchDiscriminator', channels=(64, 128, 256, 512), kernel_size=3,
            negative_slope=0.2)
model = dict(
    _delete_=True,
    type='MultiAdversarial',
    segmentor=_base_.segmentor,
    discriminators=dict(high=dict(disc, in_channels=512, num_downsamples=0),
                        mid=dict(disc, in_channels=320, num_downsamples=1)),
    adv_features=dict(high=-1, mid=2),
    adv_weights=dict(high=0.001, mid=0.0002),
    lambda_seg=1.0,
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla', source_label=1.0,
                  target_label=0.0),
    confidence_norm='per_image_minmax',
    confidence_input='probability',
    disc_output_stride=32)
