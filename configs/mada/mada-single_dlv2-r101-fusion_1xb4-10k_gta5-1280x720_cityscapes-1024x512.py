# Table 3's "Adv" row (41.5): the multi-adversarial stage with D1 only (on the decoder output F),
# no mid-level discriminator; the adversarial confidence is then D1's alone.
_base_ = ['./mada_dlv2-r101-fusion_1xb4-10k_gta5-1280x720_cityscapes-1024x512.py']
model = dict(
    discriminators=dict(_delete_=True, high=_base_.model.discriminators.high),
    adv_features=dict(_delete_=True, high=-1),
    adv_weights=dict(_delete_=True, high=0.001))
