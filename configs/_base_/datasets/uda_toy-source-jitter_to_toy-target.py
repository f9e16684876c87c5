# The embedded toy domains with the photometric augmentation of the methods' toy recipes on
# source images: FADA's ColorJitter (configs/_base_/uda/fada.py, `fada_source_jitter`), which
# the FADA and multi-adversarial toy configs also put after loading. The toy target differs from
# the source mostly in colour and lighting (docs/toy_domains.md), so this one line is a strong
# baseline of its own: adapted runs are compared with source-only runs that have it too.
_base_ = ['./uda_toy-source_to_toy-target.py']
source_jitter = dict(type='ColorJitter', brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2)
source_pipeline = [*_base_.source_pipeline[:3], source_jitter, *_base_.source_pipeline[3:]]
train_dataloader = dict(dataset=dict(source=dict(pipeline=source_pipeline)))
