# AdaptSegNet (single-level: SegFormer has one head) on SegFormer MiT-B5, GTA5 -> Cityscapes.
# Only the `segmentor` part and the segmentor's optimiser change: mmseg's SegFormer recipe
# (AdamW 6e-5, betas (0.9, 0.999), weight decay 0.01 except norms and positional blocks, head
# at 10x; linear warm-up over 1500 iterations then poly(1.0)) over 40k iterations, the UDA
# length DAFormer uses for MiT-B5. Discriminator and its Adam/poly(0.9) as AdaptSegNet's.
_base_ = [
    '../_base_/models/segformer_mit-b5.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/uda/adaptsegnet_singlelevel.py',
    '../_base_/schedules/adaptsegnet_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
max_iters = 40000
warmup_iters = 1500
optim_wrapper = dict(
    segmentor=dict(
        _delete_=True,
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
        paramwise_cfg=dict(custom_keys=dict(
            pos_block=dict(decay_mult=0.0), norm=dict(decay_mult=0.0),
            head=dict(lr_mult=10.0)))))
param_scheduler = dict(
    segmentor=[
        dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
        dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=warmup_iters,
             end=max_iters)],
    discriminators=[
        dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters)])
train_cfg = dict(max_iters=max_iters, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
