# LDR on the embedded toy domains, stage 1 of 2: the full objective (eq. 6) with class-median
# (BDL "SSL") pseudo labels of the translated toy target, from the stage-0 checkpoint:
#   python tools/generate_pseudo_labels.py \
#     configs/ldr/ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py \
#     work_dirs/ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s/iter_300.pth \
#     --policy class_median --out-dir work_dirs/ldr-toy/pseudo_labels
_base_ = ['./ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py']
model = dict(use_pseudo_labels=True, reconstructor=dict(init_cfg=None),
             recon_discriminator=dict(init_cfg=None))
pseudo_target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(
    target_labels='pseudo',
    target=dict(data_prefix=dict(seg_map_path=_base_.pseudo_label_dir),
                pipeline=pseudo_target_pipeline)))
load_from = 'work_dirs/ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s/iter_300.pth'
