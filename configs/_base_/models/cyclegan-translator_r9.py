# LDR's target-to-source image translator (paper 001, section 3.2): a CycleGAN between the source
# and target domains. The paper leaves its networks and objective to CycleGAN (details "in the
# Supplementary", not available), so they are CycleGAN's own: ResNet generators (64 channels,
# two stride-2 stages, 9 residual blocks, instance norm, tanh), 70x70 PatchGAN discriminators,
# least-squares GAN loss, cycle consistency lambda = 10, identity 0.5 * lambda, discriminator
# loss halved, a history pool of 50 generated images. Images enter in RGB scaled to [-1, 1].
# direction='t2s' (LDR) translates with the target -> source generator; 's2t' is the paper's
# source-to-target ablation (Tables 3-4).
# No pretrained weights: CycleGAN trains its generators and discriminators from scratch.
model = dict(
    type='CycleGANTranslator',
    direction='t2s',
    data_preprocessor=dict(
        type='UDADataPreprocessor',
        common=dict(mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True)),
    generator=dict(type='ResnetGenerator', in_channels=3, out_channels=3, base_channels=64,
                   num_downsamples=2, num_blocks=9, norm='IN'),
    discriminator=dict(type='PatchGANDiscriminator', in_channels=3, base_channels=64,
                       num_layers=3, norm='IN'),
    gan_loss=dict(type='GANLoss', gan_type='lsgan'),
    gan_weight=1.0,
    cycle_weight=10.0,
    identity_weight=5.0,
    disc_weight=0.5,
    pool_size=50)
