# ADVENT (AdvEnt, multi-level) on the embedded toy domains, comparable with
# ../adaptsegnet/adaptsegnet_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py: same toy model,
# data, schedule and narrowed discriminators; only the discriminator input differs.
_base_ = [
    '../_base_/models/deeplabv2_r18-toy_multilevel.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/uda/advent.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
# Narrowed with the toy segmentor, as in the AdaptSegNet toy config.
disc = dict(in_channels=num_classes, channels=(16, 32, 64, 128))
model = dict(segmentor=_base_.segmentor, discriminators=dict(main=disc, aux=disc))
