# The multi-adversarial stage of paper 004 (section 3.2): 10k iterations at a constant learning
# rate of 1e-4 for both the segmentor's SGD (momentum 0.9, weight decay 5e-4, the source-only
# stage's settings) and the discriminators' Adam (betas not given: AdaptSegNet's (0.9, 0.99)).
# No 10x learning rate for the new layers (decoder, classifier): the paper mentions none.
# It starts from the source-only stage (load_from); the warm-up configs override the lr and the
# schedulers (SGD 4e-3, poly 0.9 over 80k).
optim_wrapper = dict(
    constructor='UDAOptimWrapperConstructor',
    segmentor=dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, weight_decay=5e-4)),
    discriminators=dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99))))
constant = dict(type='ConstantLR', factor=1.0, begin=0, end=10000, by_epoch=False)
param_scheduler = dict(segmentor=[constant], discriminators=[constant])
train_cfg = dict(type='IterBasedTrainLoop', max_iters=10000, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=1000,
                    max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
