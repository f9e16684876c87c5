# Source-only baseline on the embedded toy domains (trained on source labels, evaluated on target).
_base_ = [
    '../_base_/models/deeplabv2_r18-toy_multilevel.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/uda/source_only.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
