# Table 3's last row (50.4): the proxy-stage model with multi-scale inference, run with mmseg's
# TTA: the image at 0.7, 1.0 and 1.3 of `proxy_scale`, each also flipped, softmax averaged (the
# paper does not give its scales; FADA's are used). Any proxy-stage checkpoint:
#   python tools/test.py configs/mada/mada-proxy-ms_dlv2-r101-fusion_1xb16-60k_cityscapes-gta5-proxy-640x640.py \
#     work_dirs/mada-proxy_dlv2-r101-fusion_1xb16-60k_cityscapes-gta5-proxy-640x640/iter_60000.pth --tta
_base_ = ['./mada-proxy_dlv2-r101-fusion_1xb16-60k_cityscapes-gta5-proxy-640x640.py']
tta_model = dict(type='SegTTAModel')
