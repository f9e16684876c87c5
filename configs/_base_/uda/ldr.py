# LDR (paper 001): AdaptSegNet's output-space discriminator (lambda 0.001, eq. 1) on source and
# *translated* target images, cross-entropy on the target's SSL pseudo labels, and label-driven
# reconstruction (eqs. 3-6): Boltzmann softmax (tau 0.001) -> M (Johnson/CycleGAN ResNet
# generator, 9 residual blocks) -> image, 3-scale conditional PatchGAN D_k on (label map, image),
# VGG19 perceptual + D_k feature matching; alpha 0.001, beta 10. in_channels: 19 classes
# (+ 3 image channels for the D_k).
model = dict(
    type='LDR',
    discriminators=dict(main=dict(type='FCDiscriminator', in_channels=19)),
    adv_weights=dict(main=0.001),
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla'),
    adv_input='output',
    upsample_to_input=True,
    reconstructor=dict(type='ResnetGenerator', in_channels=19, out_channels=3,
                       base_channels=64, num_downsamples=2, num_blocks=9),
    recon_discriminator=dict(
        type='MultiScaleDiscriminator', num_scales=3,
        discriminator=dict(type='PatchGANDiscriminator', in_channels=22,
                           base_channels=64, num_layers=3)),
    # torchvision's ImageNet VGG19 state dict (vgg19-dcbb9e9d.pth); see configs/ldr/README.md
    perceptual=dict(type='VGGPerceptualLoss', pretrained='checkpoints/vgg19-dcbb9e9d.pth'),
    recon_gan_loss=dict(type='GANLoss', gan_type='vanilla'),
    feature_matching=dict(type='FeatureMatchingLoss'),
    tau=0.001,
    recon_adv_weight=0.001,
    recon_weight=10.0,
    use_pseudo_labels=True)
