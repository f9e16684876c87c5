# Table 4 "SS-D-dagger + global" (42.6): SS-D-dagger plus a global feature discriminator,
# AdaptSegNet's feature-level FCDiscriminator on the same layer4 feature (Table 4's "global"
# row, 39.3, is AdaptSegNet's feature-level result), with the same delta.
_base_ = ['./ssf-dan_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512.py']
model = dict(
    rho_schedule='off',
    class_reweighting=False,
    discriminators=dict(global_feature=dict(type='FCDiscriminator', in_channels=2048)),
    adv_weights=dict(global_feature=0.001))
