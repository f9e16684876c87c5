# FADA's source-only first stage for Cityscapes -> Cross-City Rome (see the GTA5 warm-up config):
# batch 8 source images, no ColorJitter, SGD 5e-4, poly over 31,250 stopped at 20k.
_base_ = ['./fada_dlv2-r101-tv_1xb4-40k_cityscapes-1024x512_crosscity-rome.py']
model = dict(_delete_=True, type='UDASegmentor', segmentor=_base_.segmentor)
train_dataloader = dict(batch_size=8, dataset=dict(source=dict(pipeline=_base_.source_pipeline)))
optim_wrapper = dict(segmentor=dict(optimizer=dict(lr=5e-4)))
poly = dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=31250, by_epoch=False)
param_scheduler = dict(segmentor=[poly], discriminators=[poly])
train_cfg = dict(max_iters=20000)
load_from = None
