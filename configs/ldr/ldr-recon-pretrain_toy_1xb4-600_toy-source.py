# Pre-training of LDR's reconstruction network M on the embedded toy source domain (CPU): the
# GTA5 recipe scaled down. M and the D_k are the narrow ones of the toy LDR configs (M: 16
# channels, 3 residual blocks; D_k: 16 channels, 2 stride-2 layers, 3 scales), the VGG19 layout
# at 1/8 width with random weights (no ImageNet weights are downloaded here), and images at half
# resolution (64x128), the resolution toy LDR reconstructs at (model.recon_scale=0.5). Images are
# normalised as the toy segmentor does (ImageNet mean/std, RGB). 600 iterations of batch 4
# (8 epochs of the 300 source images); timing and reconstructions: configs/ldr/reconstruction.md.
_base_ = [
    '../_base_/models/deeplabv2_r18-toy.py',
    '../_base_/schedules/ldr-recon-pretrain_adam-linear-100k.py',
    '../_base_/default_runtime.py',
]
max_iters = 600
num_classes = 7
model = dict(
    type='LabelReconstructionPretrainer',
    num_classes=num_classes,
    data_preprocessor=_base_.segmentor.data_preprocessor,
    reconstructor=dict(type='ResnetGenerator', in_channels=num_classes, out_channels=3,
                       base_channels=16, num_downsamples=2, num_blocks=3),
    recon_discriminator=dict(
        type='MultiScaleDiscriminator', num_scales=3,
        discriminator=dict(type='PatchGANDiscriminator', in_channels=num_classes + 3,
                           base_channels=16, num_layers=2)),
    perceptual=dict(type='VGGPerceptualLoss', pretrained=None, width_divisor=8),
    gan_loss=dict(type='GANLoss', gan_type='vanilla'),
    feature_matching=dict(type='FeatureMatchingLoss'),
    adv_weight=1.0,
    rec_weight=10.0)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='Resize', scale=(128, 64), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='ToyStreetDataset',
        data_root='data/toy_domains/source',
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=train_pipeline))
linear = dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=0, end=max_iters + 1,
              by_epoch=False)
param_scheduler = dict(reconstructor=[linear], recon_discriminator=[linear])
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=max_iters))
randomness = dict(seed=0)
