# SSF-DAN (paper 003): a semantic-wise separable discriminator (SS-D) on the layer4 feature
# (2048 channels), one class module each (kernels 1,3,3,3,3; widths 1024-512-256-128-1;
# LeakyReLU 0.2), fed the feature masked by the mode-downsampled one-hot prediction; the
# progressive confidence strategy (rho = min(iter / rho_total_iters, 0.8); the real-data configs
# set rho_total_iters=150000) and CA-R weights (eq. 9);
# delta = 0.001 (GTA5, SYNTHIA; Cross-City configs set 0.0005). No global alignment: the paper's
# full method has none (Table 4 adds it only as an ablation, the `global_feature` discriminator).
# Choices where the paper is vague are options below; configs/ssf_dan/README.md explains each.
model = dict(
    type='SSFDAN',
    discriminators=dict(
        ssd=dict(
            type='SemanticSeparableDiscriminator',
            in_channels=2048,
            num_classes=19,
            channels=(1024, 512, 256, 128),
            kernel_sizes=(1, 3, 3, 3, 3),
            strides=(1, 1, 1, 1, 1),
            negative_slope=0.2,
            mask_outputs=True,
            # each class module only where it reaches the result (same numbers as the dense
            # grouped convolutions, several times faster on CPU; see the class docstring)
            sparse=True)),
    adv_weights=dict(ssd=0.001),
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla'),
    adv_input='feature',
    adv_reduction='mean',
    rho_schedule='progressive',
    rho_upper=0.8,
    rho_total_iters=None,  # None = train_cfg.max_iters
    class_reweighting=True,
    absent_class_weight=1.0,
    source_mask='prediction',
    upsample_to_input=True)
