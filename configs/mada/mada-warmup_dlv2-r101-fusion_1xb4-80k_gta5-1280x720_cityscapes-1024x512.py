# Source-only first stage, GTA5 -> Cityscapes (paper 004, section 3.2; Table 1/3 source-only:
# 38.1): the FusionDecoder DeepLab-v2 trained on GTA5 only, batch 4, SGD lr 4e-3 (momentum 0.9,
# weight decay 5e-4), poly 0.9 over 80k iterations. Same data as the multi-adversarial stage,
# which loads its last checkpoint. Set the backbone's ImageNet init_cfg (see
# configs/_base_/models/deeplabv2_r101-torchvision.py).
_base_ = ['./mada_dlv2-r101-fusion_1xb4-10k_gta5-1280x720_cityscapes-1024x512.py']
model = dict(_delete_=True, type='UDASegmentor', segmentor=_base_.segmentor)
optim_wrapper = dict(segmentor=dict(optimizer=dict(lr=4e-3)))
poly = dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80000, by_epoch=False)
param_scheduler = dict(segmentor=[poly], discriminators=[poly])
train_cfg = dict(max_iters=80000, val_interval=5000)
default_hooks = dict(checkpoint=dict(interval=5000))
load_from = None
