# FADA on the embedded toy domains, adaptation stage: the reference recipe scaled to CPU. Like
# the reference (20k warm-up + 40k adaptation, lr halved, poly to 1.5x the stop), 200 source-only
# iterations (fada-warmup_*) then 400 FADA iterations at half the warm-up lr, poly over 625:
# 600 iterations in all, the budget of the toy source-only baseline. The discriminator keeps
# the paper's widths (256, 128): on the toy layer4 (256 channels, 1/8 resolution) it is cheap.
_base_ = [
    '../_base_/models/deeplabv2_r18-toy.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/uda/fada.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
max_iters = 400
model = dict(segmentor=_base_.segmentor,
             discriminators=dict(fine=dict(in_channels=256, num_classes=_base_.num_classes)))
train_dataloader = dict(dataset=dict(source=dict(pipeline=[
    *_base_.source_pipeline[:2], _base_.fada_source_jitter, *_base_.source_pipeline[2:]])))
optim_wrapper = dict(segmentor=dict(optimizer=dict(lr=0.005)))
poly = dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=625, by_epoch=False)
param_scheduler = dict(segmentor=[poly], discriminators=[poly])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = 'work_dirs/fada-warmup_dlv2-r18-toy_1xb4-200_toy-source_toy-target/iter_200.pth'
