# AdaptSegNet's reference schedule (reference-facts section 5): segmentor SGD lr 2.5e-4,
# momentum 0.9, weight decay 5e-4, heads at 10x lr; discriminators Adam lr 1e-4 betas
# (0.9, 0.99); both poly(0.9) over 250k iterations, stopped early at 150k. Source-only configs
# use it too: the discriminator entries are skipped when a model has no discriminators.
# The segmentor's SGD is RepeatedParamSGD: the reference code (AdaptSegNet, ADVENT, BDL) lists
# each backbone parameter once per module on its path below the stage (bottleneck convs 3x,
# downsample convs 4x) and PyTorch 0.4's SGD updates it that many times per step
# (docs/reference_optimizer.md). The stated-lr SGD:
#   --cfg-options optim_wrapper.segmentor.optimizer.type=SGD
# Schedules deriving from this one for other recipes (FADA, SSF-DAN, toy) set type='SGD'.
optim_wrapper = dict(
    constructor='UDAOptimWrapperConstructor',
    segmentor=dict(
        type='OptimWrapper',
        optimizer=dict(type='RepeatedParamSGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
        paramwise_cfg=dict(custom_keys=dict(
            decode_head=dict(lr_mult=10.0), auxiliary_head=dict(lr_mult=10.0)))),
    discriminators=dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99))))
param_scheduler = dict(
    segmentor=[dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=250000, by_epoch=False)],
    discriminators=[
        dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=250000, by_epoch=False)])
train_cfg = dict(type='IterBasedTrainLoop', max_iters=150000, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook with atomic writes (mmuda/engine/fileio): a crash while saving
    # never leaves a partial .pth, and the previous checkpoint stays until the new one is saved
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
