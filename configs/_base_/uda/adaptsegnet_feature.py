# The paper's feature-level ablation: one discriminator on the layer4 feature (2048 channels)
# that the main classifier consumes, instead of on the softmax output.
model = dict(
    type='AdaptSegNet',
    discriminators=dict(main=dict(type='FCDiscriminator', in_channels=2048)),
    adv_weights=dict(main=0.001),
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla'),
    adv_input='feature',
    upsample_to_input=False)
