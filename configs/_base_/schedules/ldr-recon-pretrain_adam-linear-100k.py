# Pre-training of LDR's reconstruction network M and its discriminators D_k (paper 001,
# section 4.3): Adam lr 2e-4, betas (0.5, 0.999), the learning rate "linearly decreased to zero",
# batch 1 (the dataset base's). The paper gives no iteration count. 100k iterations: 4 epochs of
# GTA5's 24,966 images (10.6 of SYNTHIA's 9,400). pix2pixHD trains its label-to-image network
# for 200 Cityscapes epochs (~600k iterations), but M is not finished here: eq. 6 keeps training
# it (min over G and M) for the whole LDR stage, so the pre-training only has to bring M past
# the GAN's start-up, to images whose layout and colours follow the labels, which the toy run
# (configs/ldr/reconstruction.md) reaches within a few epochs. One plain OptimWrapper per child
# (UDAOptimWrapperConstructor), no validation loop: M has no metric, and no hook needs one.
max_iters = 100000
adam_gan = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))
optim_wrapper = dict(
    constructor='UDAOptimWrapperConstructor',
    reconstructor=adam_gan,
    recon_discriminator=adam_gan)
# mmengine's LinearLR reaches end_factor at iteration end - 1: with end = max_iters + 1 the
# learning rate of iteration i is 2e-4 * (1 - i / max_iters), zero only after the last one
linear = dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=0, end=max_iters + 1,
              by_epoch=False)
param_scheduler = dict(reconstructor=[linear], recon_discriminator=[linear])
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=10000,
                    max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'))
