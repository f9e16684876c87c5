# ADVENT (AdvEnt, multi-level) on mmseg's DeepLabV3+ ResNet-101: the AdaptSegNet DeepLabV3+
# config with the discriminators fed self-information maps, stopped at 120k as ADVENT's
# reference schedule is.
_base_ = [
    '../adaptsegnet/'
    'adaptsegnet_deeplabv3plus-r101-d8_1xb2-150k_gta5-1280x720_cityscapes-1024x512.py'
]
model = dict(type='ADVENT')
train_cfg = dict(max_iters=120000)
