# AdaptSegNet multi-level (paper 000): output-space discriminators on the main (layer4) and
# auxiliary (layer3) predictions, adversarial weights 0.001 and 0.0002, BCE-with-logits,
# source label 0 / target label 1, predictions upsampled to the input size before the softmax.
model = dict(
    type='AdaptSegNet',
    discriminators=dict(
        main=dict(type='FCDiscriminator', in_channels=19),
        aux=dict(type='FCDiscriminator', in_channels=19)),
    adv_weights=dict(main=0.001, aux=0.0002),
    adv_loss=dict(type='AdversarialLoss', gan_type='vanilla'),
    adv_input='output',
    upsample_to_input=True)
