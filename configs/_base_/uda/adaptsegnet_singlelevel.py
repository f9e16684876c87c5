# AdaptSegNet single-level: one output-space discriminator on the main prediction (lambda 0.001); in_channels = number of classes.
model = dict(
    type='AdaptSegNet',
    discriminators=dict(main=dict(type='FCDiscriminator', in_channels=19)),
    adv_weights=dict(main=0.001),
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla'),
    adv_input='output',
    upsample_to_input=True)
