# ADVENT's MinEnt (multi-level) on the embedded toy domains: same toy model, data and schedule
# as the source-only and AdaptSegNet toy configs; no discriminator.
_base_ = [
    '../_base_/models/deeplabv2_r18-toy_multilevel.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/uda/advent_minent.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
