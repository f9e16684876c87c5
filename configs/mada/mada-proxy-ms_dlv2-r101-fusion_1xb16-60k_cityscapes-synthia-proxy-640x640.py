# Table 2's SYNTHIA numbers with multi-scale inference (see the GTA5 -ms config):
#   python tools/test.py configs/mada/mada-proxy-ms_dlv2-r101-fusion_1xb16-60k_cityscapes-synthia-proxy-640x640.py \
#     work_dirs/mada-proxy_dlv2-r101-fusion_1xb16-60k_cityscapes-synthia-proxy-640x640/iter_60000.pth --tta
_base_ = ['./mada-proxy_dlv2-r101-fusion_1xb16-60k_cityscapes-synthia-proxy-640x640.py']
tta_model = dict(type='SegTTAModel')
