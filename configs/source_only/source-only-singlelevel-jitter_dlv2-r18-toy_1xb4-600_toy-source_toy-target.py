# Source-only baseline of the single-level toy model with the source ColorJitter: the
# same-budget baseline of the FADA and multi-adversarial toy pipelines, whose 200-iteration
# warm-ups are the first 200 iterations of this run's recipe (lr 0.01, poly 0.9 over 600).
_base_ = [
    '../_base_/models/deeplabv2_r18-toy.py',
    '../_base_/datasets/uda_toy-source-jitter_to_toy-target.py',
    '../_base_/uda/source_only.py',
    '../_base_/schedules/toy_sgd-poly.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
