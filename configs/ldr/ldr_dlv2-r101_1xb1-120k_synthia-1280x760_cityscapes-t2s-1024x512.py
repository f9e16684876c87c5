# LDR SYNTHIA -> Cityscapes (paper 001, Table 2): the full objective (eq. 6) with the SSL pseudo
# labels of the translated Cityscapes train set. As BDL (the paper's ref. [26] for these labels)
# trains its SSL round, the model starts again from the initial weights (the segmentor's
# ImageNet init, M and the D_k from their pre-training, a fresh output-space D) and trains for
# 120k iterations of the 250k poly schedule (liyunsheng13/BDL README.md: --init-weights,
# --num-steps-stop 120000); stage 0 only gives the pseudo labels:
#   python tools/generate_pseudo_labels.py \
#     configs/ldr/ldr-stage0_dlv2-r101_1xb1-80k_synthia-1280x760_cityscapes-t2s-1024x512.py \
#     work_dirs/ldr-stage0_dlv2-r101_1xb1-80k_synthia-1280x760_cityscapes-t2s-1024x512/iter_80000.pth \
#     --policy class_median --out-dir work_dirs/ldr_synthia-cityscapes/pseudo_labels
_base_ = ['./ldr-stage0_dlv2-r101_1xb1-80k_synthia-1280x760_cityscapes-t2s-1024x512.py']
model = dict(use_pseudo_labels=True)
pseudo_target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(
    target_labels='pseudo',
    target=dict(data_prefix=dict(seg_map_path=_base_.pseudo_label_dir),
                pipeline=pseudo_target_pipeline)))
# BDL's SSL round: from the initial weights (no load_from), poly over 250k, stopped at 120k.
train_cfg = dict(max_iters=120000)
load_from = None
