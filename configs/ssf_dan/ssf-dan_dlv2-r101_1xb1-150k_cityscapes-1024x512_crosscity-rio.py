# SSF-DAN Cityscapes -> Cross-City Rio, 13 classes (paper 003, Table 3: 52.7 mIoU); delta = 0.0005.
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_cityscapes-1024x512_to_crosscity-rio.py',
    '../_base_/uda/ssf_dan.py',
    '../_base_/schedules/ssf_dan_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
# epsilon of eq. 7 (the "total iteration step" rho grows over): the 150k iterations trained,
# so rho reaches rho_upper = 0.8 at 120k (recipes.yaml gives the reason).
model = dict(segmentor=_base_.segmentor, adv_weights=dict(ssd=0.0005),
             rho_total_iters=150000)
