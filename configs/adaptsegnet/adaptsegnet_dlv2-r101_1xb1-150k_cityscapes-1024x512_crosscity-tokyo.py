# AdaptSegNet (multi-level) Cityscapes -> Cross-City Tokyo (paper 000, Table 6: 49.9 mIoU over 13
# classes): the Rome config with another city (adversarial weights 0.0005, section 6.3).
_base_ = [
    '../_base_/models/deeplabv2_r101_multilevel.py',
    '../_base_/datasets/uda_cityscapes-1024x512_to_crosscity-tokyo.py',
    '../_base_/uda/adaptsegnet_multilevel.py',
    '../_base_/schedules/adaptsegnet_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor, adv_weights=dict(main=0.0005, aux=0.0005))
