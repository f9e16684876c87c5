# LDR's translator schedule (paper 001, section 4.3): Adam, lr 1e-4, betas (0.5, 0.999), weight
# decay 1e-4, the learning rate halved every 100k iterations, 1000k iterations, batch 1, for
# the generators and the discriminators alike. A translator has no validation (it makes no
# segmentation): the leaf configs set val_*/test_* to None, which a base cannot do here because
# the dataset base defines them. The visualization hook stays (tools/analysis_tools/toy_seeds.py
# sets its options); it only acts in val/test loops, so it does nothing.
optim_wrapper = dict(
    constructor='UDAOptimWrapperConstructor',
    generators=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4)),
    discriminators=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4)))
param_scheduler = dict(
    generators=[dict(type='StepLR', step_size=100000, gamma=0.5, begin=0, end=1000000,
                     by_epoch=False)],
    discriminators=[dict(type='StepLR', step_size=100000, gamma=0.5, begin=0, end=1000000,
                         by_epoch=False)])
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000000)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=10000,
                    max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
