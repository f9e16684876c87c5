# ADVENT, direct variant (MinEnt): no discriminator; the segmentor step adds, per level, the
# mean normalised entropy of the target prediction (logits upsampled to the input size), with
# lambda_ent main 0.001, aux 0.0002 (valeoai/ADVENT configs/minent.yml).
model = dict(
    type='MinEnt',
    ent_weights=dict(main=0.001, aux=0.0002),
    upsample_to_input=True)
