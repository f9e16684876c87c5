# Multi-adversarial training (paper 004, section 2.2) on the FusionDecoder model
# (../models/deeplabv2_r101_fusion.py): D1 (`high`) judges the decoder output F at 1/4 (3
# poolings), D2 (`mid`) the layer3 feature F_l at 1/8 (2 poolings), both down to 1/32 of the
# image. Patch discriminators: 3x3 convs 64-128-256-512 with LeakyReLU 0.2 and stride-2 average
# pooling, one logit per cell. BCE with the paper's labels source 1, target 0. The lambdas are
# not given in the paper: AdaptSegNet's 0.001 (high) and 0.0002 (mid), lambda_seg 1.
# Choices where the paper is vague are options below; configs/mada/README.md explains each.
model = dict(
    type='MultiAdversarial',
    discriminators=dict(
        high=dict(type='PatchDiscriminator', in_channels=128, num_downsamples=3,
                  channels=(64, 128, 256, 512), kernel_size=3, negative_slope=0.2),
        mid=dict(type='PatchDiscriminator', in_channels=1024, num_downsamples=2,
                 channels=(64, 128, 256, 512), kernel_size=3, negative_slope=0.2)),
    adv_features=dict(high=-1, mid=0),
    adv_weights=dict(high=0.001, mid=0.0002),
    lambda_seg=1.0,
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla', source_label=1.0,
                  target_label=0.0),
    confidence_norm='per_image_minmax',  # our choice: configs/mada/recipes.yaml
    confidence_input='probability',
    disc_output_stride=32)
