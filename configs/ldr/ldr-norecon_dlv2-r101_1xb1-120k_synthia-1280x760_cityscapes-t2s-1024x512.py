# LDR ablation (paper 001, Table 4 row "T -> S" without reconstruction): translation, pseudo
# labels and the output-space discriminator, no label-driven reconstruction; like ldr_*, from the
# initial weights for 120k iterations. Its pseudo labels come from its own stage 0 without
# reconstruction (80k), in their own folder (below):
#   python tools/train.py configs/ldr/ldr-stage0_dlv2-r101_1xb1-80k_synthia-1280x760_cityscapes-t2s-1024x512.py \
#     --cfg-options model.reconstructor=None model.recon_discriminator=None model.perceptual=None \
#     --work-dir work_dirs/ldr-norecon-stage0_dlv2-r101_1xb1-80k_synthia-1280x760_cityscapes-t2s-1024x512
#   python tools/generate_pseudo_labels.py <that stage-0 config and options> \
#     work_dirs/ldr-norecon-stage0_dlv2-r101_1xb1-80k_synthia-1280x760_cityscapes-t2s-1024x512/iter_80000.pth \
#     --policy class_median --out-dir work_dirs/ldr_synthia-cityscapes/pseudo_labels_norecon
_base_ = ['./ldr_dlv2-r101_1xb1-120k_synthia-1280x760_cityscapes-t2s-1024x512.py']
model = dict(reconstructor=None, recon_discriminator=None, perceptual=None)
train_dataloader = dict(dataset=dict(target=dict(
    data_prefix=dict(seg_map_path=_base_.ldr_dir + '/pseudo_labels_norecon'))))
