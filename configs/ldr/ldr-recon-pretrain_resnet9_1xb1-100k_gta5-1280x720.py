# Pre-training of LDR's reconstruction network M on GTA5 (paper 001, section 4.3): M learns to
# reconstruct source images from their one-hot labels, against the 3-scale conditional PatchGAN
# D_k, with the VGG19 perceptual and D_k feature-matching terms of eq. 5 (GAN weight 1,
# reconstruction weight beta = 10; see configs/ldr/reconstruction.md). The LDR configs load the
# result: init_cfg=dict(type='Pretrained', checkpoint=<this work dir>/iter_100000.pth,
# prefix='reconstructor.') and prefix='recon_discriminator.'. M and the D_k must stay those of
# configs/_base_/uda/ldr.py. Images are normalised as the DeepLab-v2 R101 segmentor does (Caffe
# BGR mean) and turned back into RGB [-1, 1] by the model, as LDR does.
# VGG19: torchvision's ImageNet weights, https://download.pytorch.org/models/vgg19-dcbb9e9d.pth,
# saved as checkpoints/vgg19-dcbb9e9d.pth.
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/gta5.py',
    '../_base_/schedules/ldr-recon-pretrain_adam-linear-100k.py',
    '../_base_/default_runtime.py',
]
num_classes = 19
model = dict(
    type='LabelReconstructionPretrainer',
    num_classes=num_classes,
    data_preprocessor=_base_.segmentor.data_preprocessor,
    reconstructor=dict(type='ResnetGenerator', in_channels=num_classes, out_channels=3,
                       base_channels=64, num_downsamples=2, num_blocks=9),
    recon_discriminator=dict(
        type='MultiScaleDiscriminator', num_scales=3,
        discriminator=dict(type='PatchGANDiscriminator', in_channels=num_classes + 3,
                           base_channels=64, num_layers=3)),
    perceptual=dict(type='VGGPerceptualLoss', pretrained='checkpoints/vgg19-dcbb9e9d.pth'),
    gan_loss=dict(type='GANLoss', gan_type='vanilla'),
    feature_matching=dict(type='FeatureMatchingLoss'),
    adv_weight=1.0,
    rec_weight=10.0)
