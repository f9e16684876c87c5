# AdaptSegNet (multi-level) SYNTHIA -> Cityscapes (paper 000, Table 4: 46.7 mIoU over 13
# classes = mIoU of SubsetIoUMetric(subsets='synthia')). Section 6.2: "For the weight in (1) and
# (5), we use the same ones as in the case of GTA5 dataset", so the GTA5 config's weights and
# schedule. SYNTHIA-RAND-CITYSCAPES at its stored 1280x760 (the reference repository has no
# SYNTHIA script); the model keeps Cityscapes' 19 trainIds (terrain, truck and train never occur
# in SYNTHIA) and both discriminators see 19-channel softmax maps.
_base_ = [
    '../_base_/models/deeplabv2_r101_multilevel.py',
    '../_base_/datasets/uda_synthia-1280x760_to_cityscapes-1024x512.py',
    '../_base_/uda/adaptsegnet_multilevel.py',
    '../_base_/schedules/adaptsegnet_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
