# Table 4 "SS-D-dagger" (42.8): SS-D without the progressive confidence strategy (every
# predicted pixel kept, rho = 1) and without CA-R.
_base_ = ['./ssf-dan_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512.py']
model = dict(rho_schedule='off', class_reweighting=False)
