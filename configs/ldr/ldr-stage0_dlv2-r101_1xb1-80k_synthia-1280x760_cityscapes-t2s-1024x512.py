# LDR SYNTHIA -> Cityscapes, stage 0 of 2 (paper 001): eq. 6 without the pseudo-label term, on the
# source and the translated Cityscapes images. The paper takes its SSL pseudo labels from BDL
# (ref. [26]), which first trains a model without them and stops it at 80k iterations of its
# 250k poly schedule (liyunsheng13/BDL README.md, --num-steps-stop 80000); this stage is that
# model, on the same schedule. Before it: train the translator and translate Cityscapes
# train/val (ldr-translator_*), pre-train M (ldr-recon-pretrain_*). After it:
# tools/generate_pseudo_labels.py --policy class_median on its checkpoint, then ldr_*
# (configs/ldr/README.md has every command).
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_synthia-1280x760_to_cityscapes-t2s-1024x512.py',
    '../_base_/uda/ldr.py',
    '../_base_/schedules/ldr_poly-250k_stop-150k.py',
    '../_base_/default_runtime.py',
]
recon_pretrain = ('work_dirs/ldr-recon-pretrain_resnet9_1xb1-100k_synthia-1280x760/'
                  'iter_100000.pth')
model = dict(
    segmentor=_base_.segmentor,
    use_pseudo_labels=False,
    reconstructor=dict(init_cfg=dict(type='Pretrained', checkpoint=recon_pretrain,
                                     prefix='reconstructor.')),
    recon_discriminator=dict(init_cfg=dict(type='Pretrained', checkpoint=recon_pretrain,
                                           prefix='recon_discriminator.')))
# BDL's first round: poly over 250k iterations (the schedule base), stopped at 80k.
train_cfg = dict(max_iters=80000)
