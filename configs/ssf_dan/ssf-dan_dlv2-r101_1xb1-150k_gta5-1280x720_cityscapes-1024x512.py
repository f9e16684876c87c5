# SSF-DAN (SS-D + CA-R) GTA5 -> Cityscapes, 19 classes (paper 003, Table 1: 45.4 mIoU).
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/uda/ssf_dan.py',
    '../_base_/schedules/ssf_dan_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
