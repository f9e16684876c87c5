# FADA on mmseg's DeepLabV3+ ResNet-101, GTA5 -> Cityscapes, with FADA's adaptation schedule.
# The discriminator sees layer4 (feature_index=-1, 2048 channels); the source loss divides the
# decode head's logits by T (the FCN auxiliary head keeps its plain loss). Two images per domain
# and iteration: the ASPP image-pool BN needs more than one sample.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/uda/fada.py',
    '../_base_/schedules/fada_poly-62500_stop-40k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
train_dataloader = dict(batch_size=2)
