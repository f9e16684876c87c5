# LDR's image translator on the embedded toy domains, sized for 2 CPU cores: the paper's recipe
# (CycleGAN objective, Adam with betas (0.5, 0.999) and weight decay 1e-4, step decay) with
# narrow networks (generator 16 base channels and 3 residual blocks, PatchGAN 16 base channels),
# batch 4 of random 128x128 crops (the images are 128x256; crops at the stored resolution, as the
# tool translates whole images at that scale), lr 2e-4 (CycleGAN's) halved every quarter of the
# run. Measured on the toy shift: configs/ldr/README.md.
_base_ = [
    '../_base_/models/cyclegan-translator_r9.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/schedules/ldr-translator_adam-step-100k_1000k.py',
    '../_base_/default_runtime.py',
]
max_iters = 400
crop_size = (128, 128)
model = dict(
    generator=dict(base_channels=16, num_blocks=3),
    discriminator=dict(base_channels=16))
# UDADataset requires the source labels; the translator does not use them
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(source=dict(pipeline=source_pipeline), target=dict(pipeline=target_pipeline)))
optim_wrapper = dict(generators=dict(optimizer=dict(lr=2e-4)),
                     discriminators=dict(optimizer=dict(lr=2e-4)))
param_scheduler = dict(
    generators=[dict(type='StepLR', step_size=max_iters // 4, gamma=0.5, begin=0,
                     end=max_iters, by_epoch=False)],
    discriminators=[dict(type='StepLR', step_size=max_iters // 4, gamma=0.5, begin=0,
                         end=max_iters, by_epoch=False)])
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
# What tools/translate_dataset.py --split-key can name besides the training branches
# (translate_datasets.target_val: the toy target val images).
translate_datasets = dict(target_val=_base_.val_dataloader.dataset)
# A translator makes no segmentation: no validation or test loop.
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
