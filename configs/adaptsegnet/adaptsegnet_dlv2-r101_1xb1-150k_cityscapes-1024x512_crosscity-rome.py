# AdaptSegNet (multi-level) Cityscapes -> Cross-City Rome (paper 000, Table 6 "Ours (output
# space)": 53.8 mIoU over the 13 annotated classes). Section 6.3: the adversarial weights are
# lowered to lambda^i_adv = 0.0005 for both levels i (smaller domain gap); the segmentation
# weights stay (main 1, aux 0.1). Schedule and discriminators as on GTA5.
_base_ = [
    '../_base_/models/deeplabv2_r101_multilevel.py',
    '../_base_/datasets/uda_cityscapes-1024x512_to_crosscity-rome.py',
    '../_base_/uda/adaptsegnet_multilevel.py',
    '../_base_/schedules/adaptsegnet_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor, adv_weights=dict(main=0.0005, aux=0.0005))
