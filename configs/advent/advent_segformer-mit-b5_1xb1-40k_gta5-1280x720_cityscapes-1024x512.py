# ADVENT (AdvEnt, single-level) on SegFormer MiT-B5: the AdaptSegNet SegFormer config with the
# discriminator fed the self-information map instead of the softmax. Same arguments, so only
# the model type changes.
_base_ = [
    '../adaptsegnet/adaptsegnet_segformer-mit-b5_1xb1-40k_gta5-1280x720_cityscapes-1024x512.py'
]
model = dict(type='ADVENT')
