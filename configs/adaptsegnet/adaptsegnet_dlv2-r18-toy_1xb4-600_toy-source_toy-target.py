# AdaptSegNet multi-level on the embedded toy domains (the `make demo` job).
_base_ = [
    '../_base_/models/deeplabv2_r18-toy_multilevel.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/uda/adaptsegnet_multilevel.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
num_classes = 7
# The discriminators are narrowed with the segmentor (ResNet-18 at half width instead of
# ResNet-101): at the reference widths (64-512) they would cost 5.5x a source-only step on the
# toy model, at (16-128) the adversarial step costs 2.1x, as it does on ResNet-101.
disc = dict(in_channels=num_classes, channels=(16, 32, 64, 128))
model = dict(segmentor=_base_.segmentor, discriminators=dict(main=disc, aux=disc))
