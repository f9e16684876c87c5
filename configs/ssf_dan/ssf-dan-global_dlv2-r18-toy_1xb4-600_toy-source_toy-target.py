# Toy ablation: global alignment on. The paper's full method has none; Table 4 adds a global
# feature discriminator to SS-D-dagger. Here it is added to the full method, as AdaptSegNet's
# feature-level FCDiscriminator on the same 256-channel feature, narrowed like the toy
# AdaptSegNet discriminators and one stride-2 layer shorter (the toy feature is 17x33: five
# stride-2 convolutions would shrink it below the last kernel), with the same delta as the SS-D.
_base_ = ['./ssf-dan_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py']
model = dict(
    discriminators=dict(global_feature=dict(type='FCDiscriminator', in_channels=256,
                                            channels=(16, 32, 64))),
    adv_weights=dict(global_feature=0.001))
