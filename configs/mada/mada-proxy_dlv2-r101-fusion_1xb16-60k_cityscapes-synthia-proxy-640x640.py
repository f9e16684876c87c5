# Proxy-label stage, SYNTHIA -> Cityscapes (paper 004, Table 2: 45.0 mIoU16, 52.3 mIoU13 with
# multi-scale inference; see configs/mada/README.md): the GTA5 proxy stage with the SYNTHIA
# model's proxy labels and SYNTHIA's class subsets in the evaluation.
# 1. python tools/generate_pseudo_labels.py \
#      configs/mada/mada_dlv2-r101-fusion_1xb4-10k_synthia-1280x760_cityscapes-1024x512.py \
#      work_dirs/mada_dlv2-r101-fusion_1xb4-10k_synthia-1280x760_cityscapes-1024x512/iter_10000.pth \
#      --policy adversarial_proxy --p1 0.6 --p2 0.8 --out-dir work_dirs/mada-synthia_proxy_labels
# 2. python tools/train.py configs/mada/mada-proxy_dlv2-r101-fusion_1xb16-60k_cityscapes-synthia-proxy-640x640.py
_base_ = ['./mada-proxy_dlv2-r101-fusion_1xb16-60k_cityscapes-gta5-proxy-640x640.py']
pseudo_label_dir = 'work_dirs/mada-synthia_proxy_labels'
train_dataloader = dict(dataset=dict(data_prefix=dict(seg_map_path=pseudo_label_dir)))
val_evaluator = dict(type='SubsetIoUMetric', subsets='synthia')
test_evaluator = val_evaluator
