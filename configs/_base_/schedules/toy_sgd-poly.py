# Toy-domain schedule: the AdaptSegNet optimisers (SGD + Adam, poly 0.9, heads at 10x) with a
# learning rate for a randomly initialised network and a CPU-sized number of iterations.
_base_ = ['./adaptsegnet_poly-250k_stop-150k.py']
max_iters = 600
# Plain SGD: the toy recipes are mmuda's own, not a replay of the reference code, so they use
# the stated update rather than the reference's repeated backbone updates (RepeatedParamSGD).
optim_wrapper = dict(segmentor=dict(optimizer=dict(type='SGD', lr=0.01)))
param_scheduler = dict(
    segmentor=[dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters,
                    by_epoch=False)],
    discriminators=[dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters,
                         by_epoch=False)])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
