# LDR on the embedded toy domains, stage 0 of 2: eq. 6 without the pseudo-label term, on the
# toy source and the toy target translated to the source style. The toy recipe scales the paper
# to CPU: the single-level toy segmentor of the FADA/SSF-DAN baselines, started from its
# source-only checkpoint (600 iterations, the toy's stand-in for a pre-trained DeepLab), narrow
# M / D_k, a VGG19 layout at 1/8 width with random weights (no ImageNet weights can be
# downloaded here), the reconstruction at half the image resolution; 300 + 300 iterations. The
# whole pipeline (translator, translation, M pre-training, source-only, this stage, pseudo
# labels, ldr_*) runs with tools/analysis_tools/ldr_toy_seeds.sh, see configs/ldr/README.md.
_base_ = [
    '../_base_/models/deeplabv2_r18-toy.py',
    '../_base_/datasets/uda_toy-source_to_toy-target-t2s.py',
    '../_base_/uda/ldr.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
max_iters = 300
recon_pretrain = 'work_dirs/ldr-recon-pretrain_toy_1xb4-600_toy-source/iter_600.pth'
toy_reconstructor = dict(in_channels=num_classes, base_channels=16, num_blocks=3)
toy_recon_discriminator = dict(discriminator=dict(in_channels=num_classes + 3, base_channels=16,
                                                  num_layers=2))
model = dict(
    segmentor=_base_.segmentor,
    discriminators=dict(main=dict(in_channels=num_classes, channels=(16, 32, 64, 128))),
    reconstructor=dict(**toy_reconstructor, init_cfg=dict(
        type='Pretrained', checkpoint=recon_pretrain, prefix='reconstructor.')),
    recon_discriminator=dict(**toy_recon_discriminator, init_cfg=dict(
        type='Pretrained', checkpoint=recon_pretrain, prefix='recon_discriminator.')),
    perceptual=dict(pretrained=None, width_divisor=8),
    recon_scale=0.5,
    # the paper's alpha and beta (configs/ldr/README.md, "Reconstruction weights")
    recon_adv_weight=0.001,
    recon_weight=10.0,
    use_pseudo_labels=False)
adam_gan = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))
# our choice (configs/ldr/README.md, "Reconstruction weights"): with the paper's alpha and beta
# the segmentation stages start from the toy source-only model and train at the paper's
# learning rate, 2.5e-4 (classifier 10x), not the toy's 0.01
optim_wrapper = dict(segmentor=dict(optimizer=dict(lr=2.5e-4)), reconstructor=adam_gan,
                     recon_discriminator=adam_gan)
load_from = ('work_dirs/source-only-singlelevel_dlv2-r18-toy_1xb4-600_toy-source_toy-target/'
             'iter_600.pth')
poly = dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters, by_epoch=False)
param_scheduler = dict(segmentor=[poly], discriminators=[poly], reconstructor=[poly],
                       recon_discriminator=[poly])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
# gradient norm of every term of the segmentor/M step at iteration 1 and every 25 (9 extra
# backward passes on those iterations, docs/visualization.md)
custom_hooks = [dict(type='TermGradientNormHook', interval=25, depths=(1, 2))]
