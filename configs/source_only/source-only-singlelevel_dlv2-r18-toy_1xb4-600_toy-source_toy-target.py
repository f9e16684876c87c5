# Source-only baseline of the single-level toy model (the baseline of FADA and SSF-DAN, whose
# papers use DeepLab-v2 with one classifier on layer4).
_base_ = [
    '../_base_/models/deeplabv2_r18-toy.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/uda/source_only.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
