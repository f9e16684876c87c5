# SSF-DAN on the embedded toy domains; baseline:
# ../source_only/source-only-singlelevel_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py
# (the same single-classifier toy model, data, schedule and evaluation).
_base_ = [
    '../_base_/models/deeplabv2_r18-toy.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/uda/ssf_dan.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
# The SS-D is narrowed with the segmentor: the toy layer4 feature has 256 channels instead of
# 2048, and the class modules are cut from 1024-512-256-128 to 64-32-16-8. At the paper's ratio
# to the feature width (128-64-32-16) an SSF-DAN step cost 4.6x a source-only step on the toy
# model; at 64-32-16-8 it costs 1.4-2.1x (tools/analysis_tools/benchmark_train.py, CPU under
# load), in line with the other toy methods.
model = dict(
    segmentor=_base_.segmentor,
    discriminators=dict(
        ssd=dict(in_channels=256, num_classes=num_classes, channels=(64, 32, 16, 8))))
