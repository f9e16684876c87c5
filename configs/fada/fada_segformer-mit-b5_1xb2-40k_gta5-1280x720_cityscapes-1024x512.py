# FADA on SegFormer MiT-B5, GTA5 -> Cityscapes: AdaptSegNet's SegFormer config (mmseg's AdamW
# recipe, 40k iterations) with FADA's model part. The fine-grained discriminator sees the last
# MiT stage (feature_index=-1: 512 channels at 1/32); feature_index=2 would take stage 3
# (320 channels, in_channels=320). Two source + two target images per iteration (MiT-B5 at
# 1280x720 does not fit four of each on one 24 GB card); no warm-up stage (start from a
# source-only SegFormer checkpoint with load_from if you have one).
_base_ = [
    '../adaptsegnet/adaptsegnet_segformer-mit-b5_1xb1-40k_gta5-1280x720_cityscapes-1024x512.py']
# FADA's settings as in ../_base_/uda/fada.py (not inherited: mmengine forbids a second `model`
# among the bases)
model = dict(
    _delete_=True,
    type='FADA',
    segmentor=_base_.segmentor,
    discriminators=dict(fine=dict(type='FineGrainedDiscriminator', in_channels=512,
                                  num_classes=19, channels=(256, 128))),
    domain_encoding='soft', temperature=1.8, confidence=0.9, adv_weight=0.001,
    source_temperature=True, feature_index=-1, upsample_to_input=True)
train_dataloader = dict(batch_size=2)
