# Toy ablation: CA-R off (every kept cell weighs 1; Table 4's "SS-D" row).
_base_ = ['./ssf-dan_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py']
model = dict(class_reweighting=False)
