# Table 4 "SS-D" (44.0): SS-D with progressive confidence, CA-R off (every kept cell weighs 1).
_base_ = ['./ssf-dan_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512.py']
model = dict(class_reweighting=False)
