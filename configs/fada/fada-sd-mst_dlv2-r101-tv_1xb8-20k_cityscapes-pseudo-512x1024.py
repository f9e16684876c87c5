# FADA-MST (paper 002, Table 3 "FADA-MST" and Table 4 last row: 50.1, self-distillation and
# multi-scale testing): the self-distilled model (fada-sd_*) tested at its own scale, as the
# reference test.py tests it: the 2048x1024 image resized by 0.7, 1.0 and 1.3, each also
# flipped, the six softmax maps averaged (its multi_scale_inference). Run it with mmseg's TTA on
# the self-distillation checkpoint:
#   python tools/test.py configs/fada/fada-sd-mst_dlv2-r101-tv_1xb8-20k_cityscapes-pseudo-512x1024.py \
#     work_dirs/fada-sd_dlv2-r101-tv_1xb8-20k_cityscapes-pseudo-512x1024/iter_20000.pth --tta
# The TTA pipeline is the self-distillation config's own (its `tta_pipeline`); this config names
# the row. Multi-scale testing of the adaptation model (1024x512 base) needs no config of its
# own: tools/test.py <fada config> CHECKPOINT --tta (no paper number).
_base_ = ['./fada-sd_dlv2-r101-tv_1xb8-20k_cityscapes-pseudo-512x1024.py']
