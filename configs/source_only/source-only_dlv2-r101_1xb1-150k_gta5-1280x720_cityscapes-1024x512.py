# Source-only baseline (multi-level DeepLab-v2, no adaptation) for GTA5 -> Cityscapes.
_base_ = [
    '../_base_/models/deeplabv2_r101_multilevel.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/uda/source_only.py',
    '../_base_/schedules/adaptsegnet_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
