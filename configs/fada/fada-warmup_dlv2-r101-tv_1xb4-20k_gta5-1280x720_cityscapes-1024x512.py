# FADA's first stage: source-only training (reference configs/deeplabv2_r101_src.yaml): SGD
# lr 5e-4 (classifier 10x), poly over 31,250 iterations stopped at 20k, the adaptation stage's
# data and augmentation. The adaptation config loads its last checkpoint.
_base_ = ['./fada_dlv2-r101-tv_1xb4-40k_gta5-1280x720_cityscapes-1024x512.py']
model = dict(_delete_=True, type='UDASegmentor', segmentor=_base_.segmentor)
optim_wrapper = dict(segmentor=dict(optimizer=dict(lr=5e-4)))
poly = dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=31250, by_epoch=False)
param_scheduler = dict(segmentor=[poly], discriminators=[poly])
train_cfg = dict(max_iters=20000)
load_from = None
