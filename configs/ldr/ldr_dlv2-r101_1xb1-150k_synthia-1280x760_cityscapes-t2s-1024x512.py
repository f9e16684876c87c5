# LDR SYNTHIA -> Cityscapes (paper 001, Table 2): the full objective (eq. 6) with the SSL pseudo
# labels of the translated Cityscapes train set, starting from stage 0. Pseudo labels:
#   python tools/generate_pseudo_labels.py \
#     configs/ldr/ldr-stage0_dlv2-r101_1xb1-150k_synthia-1280x760_cityscapes-t2s-1024x512.py \
#     work_dirs/ldr-stage0_dlv2-r101_1xb1-150k_synthia-1280x760_cityscapes-t2s-1024x512/iter_150000.pth \
#     --policy class_median --out-dir work_dirs/ldr_synthia-cityscapes/pseudo_labels
_base_ = ['./ldr-stage0_dlv2-r101_1xb1-150k_synthia-1280x760_cityscapes-t2s-1024x512.py']
model = dict(use_pseudo_labels=True, reconstructor=dict(init_cfg=None),
             recon_discriminator=dict(init_cfg=None))
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
load_from = ('work_dirs/ldr-stage0_dlv2-r101_1xb1-150k_synthia-1280x760_cityscapes-t2s-1024x512/'
             'iter_150000.pth')
