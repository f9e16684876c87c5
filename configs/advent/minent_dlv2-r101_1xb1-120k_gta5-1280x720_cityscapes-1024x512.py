# ADVENT's MinEnt (multi-level) GTA5 -> Cityscapes with the reference schedule (valeoai/ADVENT):
# SGD as AdaptSegNet, poly(0.9) over 250k iterations, stopped early at 120k. There is no
# discriminator, so the schedule's discriminator entries are skipped.
_base_ = [
    '../_base_/models/deeplabv2_r101_multilevel_advent-init.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/uda/advent_minent.py',
    '../_base_/schedules/adaptsegnet_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
train_cfg = dict(max_iters=120000)
