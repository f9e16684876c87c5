# FADA's source-only warm-up on the toy domains: the first 200 iterations of the 600-iteration
# source-only schedule (lr 0.01, poly 0.9 over 600) that the FADA stage continues. Same data and
# source ColorJitter as FADA.
_base_ = ['./fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py']
max_iters = 200
model = dict(_delete_=True, type='UDASegmentor', segmentor=_base_.segmentor)
poly = dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=600, by_epoch=False)
param_scheduler = dict(segmentor=[poly], discriminators=[poly])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
custom_hooks = []
load_from = None
