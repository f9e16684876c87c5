# No adaptation: the UDA wrapper trains the segmentor on source labels only (target images are
# loaded but never used), so source-only and adapted runs share data, schedule and evaluation.
model = dict(type='UDASegmentor')
