# SSF-DAN SYNTHIA -> Cityscapes (paper 003, Table 2: 50.0 mIoU over 13 classes = mIoU of
# SubsetIoUMetric(subsets='synthia')). The SS-D keeps one module per 19 trainIds; the three
# classes SYNTHIA never labels (terrain, truck, train) are rarely predicted, so their modules
# see few cells.
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_synthia-1280x760_to_cityscapes-1024x512.py',
    '../_base_/uda/ssf_dan.py',
    '../_base_/schedules/ssf_dan_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
# epsilon of eq. 7 (the "total iteration step" rho grows over): the 150k iterations trained,
# so rho reaches rho_upper = 0.8 at 120k (recipes.yaml gives the reason).
model = dict(segmentor=_base_.segmentor, rho_total_iters=150000)
