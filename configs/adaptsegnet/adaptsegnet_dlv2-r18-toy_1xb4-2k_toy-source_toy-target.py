# AdaptSegNet multi-level on the embedded toy domains (the `make demo` job).
_base_ = [
    '../_base_/models/deeplabv2_r18-toy_multilevel.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/uda/adaptsegnet_multilevel.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
model = dict(
    segmentor=_base_.segmentor,
    discriminators=dict(
        main=dict(in_channels=num_classes), aux=dict(in_channels=num_classes)))
