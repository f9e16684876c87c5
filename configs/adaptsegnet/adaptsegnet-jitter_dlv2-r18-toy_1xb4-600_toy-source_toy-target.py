# AdaptSegNet multi-level on the embedded toy domains with the source ColorJitter of the toy
# recipes. Its baseline is
# ../source_only/source-only-jitter_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py (same
# model, data, jitter and schedule), so the difference is what adaptation adds beyond the
# augmentation. Only the dataset base differs from adaptsegnet_dlv2-r18-toy_*.
_base_ = [
    '../_base_/models/deeplabv2_r18-toy_multilevel.py',
    '../_base_/datasets/uda_toy-source-jitter_to_toy-target.py',
    '../_base_/uda/adaptsegnet_multilevel.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
# narrowed with the toy segmentor, as in adaptsegnet_dlv2-r18-toy_*
disc = dict(in_channels=num_classes, channels=(16, 32, 64, 128))
model = dict(segmentor=_base_.segmentor, discriminators=dict(main=disc, aux=disc))
