# AdaptSegNet (singlelevel) GTA5 -> Cityscapes with the reference schedule (paper 000, Table 1).
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/uda/adaptsegnet_singlelevel.py',
    '../_base_/schedules/adaptsegnet_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
