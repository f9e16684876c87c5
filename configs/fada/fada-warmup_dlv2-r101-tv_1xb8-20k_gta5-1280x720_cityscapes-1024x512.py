# FADA's first stage: source-only training as the reference runs it
# (configs/deeplabv2_r101_src.yaml + train_src.py): batch 8 source images, class-balanced as in
# the adaptation stage, no ColorJitter (the yaml sets none; jitter is the adaptation stage's),
# no flip; SGD lr 5e-4 (classifier 10x), poly over 31,250 iterations stopped at 20k. The
# adaptation config loads its last checkpoint. The UDA data loader still pairs every source
# image with a target image, which this source-only model never uses (8 loaded per iteration).
# On N GPUs set train_dataloader.batch_size=8/N (gradients are averaged over ranks).
_base_ = ['./fada_dlv2-r101-tv_1xb4-40k_gta5-1280x720_cityscapes-1024x512.py']
model = dict(_delete_=True, type='UDASegmentor', segmentor=_base_.segmentor)
train_dataloader = dict(batch_size=8, dataset=dict(source=dict(pipeline=_base_.source_pipeline)))
optim_wrapper = dict(segmentor=dict(optimizer=dict(lr=5e-4)))
poly = dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=31250, by_epoch=False)
param_scheduler = dict(segmentor=[poly], discriminators=[poly])
train_cfg = dict(max_iters=20000)
load_from = None
