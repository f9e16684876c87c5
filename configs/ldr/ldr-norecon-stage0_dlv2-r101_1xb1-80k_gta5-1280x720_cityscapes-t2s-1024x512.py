# LDR ablation (paper 001, Table 3 row "T -> S" without reconstruction), stage 0: ldr-stage0_*
# without the label-driven reconstruction (no M, no D_k, no perceptual loss). Its class-median
# pseudo labels (work_dirs/ldr_gta5-cityscapes/pseudo_labels_norecon) train
# ldr-norecon_dlv2-r101_1xb1-120k_gta5-1280x720_cityscapes-t2s-1024x512.py, so that the ablation's
# pseudo labels, like the full method's, come from a model trained the same way.
# `python tools/reproduce.py ldr-norecon gta5` runs the row.
_base_ = ['./ldr-stage0_dlv2-r101_1xb1-80k_gta5-1280x720_cityscapes-t2s-1024x512.py']
model = dict(reconstructor=None, recon_discriminator=None, perceptual=None)
