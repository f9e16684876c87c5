# ADVENT, adversarial variant (AdvEnt; Vu et al., CVPR 2019), multi-level as the reference code
# trains it (valeoai/ADVENT, advent/domain_adaptation/config.py + configs/advent.yml):
# AdaptSegNet's FCDiscriminators, BCE-with-logits and alternating steps, but each discriminator
# sees the weighted self-information map -p*log(p)/log(C) of the level's softmax (logits
# upsampled to the input size); lambda_adv main 0.001, aux 0.0002. in_channels = classes.
model = dict(
    type='ADVENT',
    discriminators=dict(
        main=dict(type='FCDiscriminator', in_channels=19),
        aux=dict(type='FCDiscriminator', in_channels=19)),
    adv_weights=dict(main=0.001, aux=0.0002),
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla'),
    adv_input='output',
    upsample_to_input=True)
