# FADA (paper 002): a fine-grained discriminator (3x3 convs 256, 128, then 2K outputs) on the
# layer4 features; soft domain encodings softmax(z / 1.8) clipped at 0.9; lambda_adv 0.001; the
# source segmentation loss on logits / T as the reference code computes it. Table 5's other
# rows: domain_encoding='hard' (same D) or 'binary' (D with num_classes=1).
model = dict(
    type='FADA',
    discriminators=dict(
        fine=dict(type='FineGrainedDiscriminator', in_channels=2048, num_classes=19,
                  channels=(256, 128))),
    domain_encoding='soft',
    temperature=1.8,
    confidence=0.9,
    adv_weight=0.001,
    source_temperature=True,
    feature_index=-1,
    upsample_to_input=True,
    adv_loss=dict(type='SoftLabelCrossEntropyLoss'))
# The reference's source augmentation: ColorJitter on source images only, no flip.
fada_source_jitter = dict(type='ColorJitter', brightness=0.5, contrast=0.5, saturation=0.5,
                          hue=0.2)
