# FADA-MST (paper 002, Table 3: 50.1 with self-distillation): multi-scale testing as the
# reference test.py does it: the image resized by 0.7, 1.0 and 1.3, each also flipped, the six
# softmax maps averaged. Run it with mmseg's TTA:
#   python tools/test.py configs/fada/fada-mst_...py CHECKPOINT --tta
# (any FADA or self-distillation checkpoint of a 1024x512 Cityscapes model).
_base_ = ['./fada_dlv2-r101-tv_1xb4-40k_gta5-1280x720_cityscapes-1024x512.py']
tta_model = dict(type='SegTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(int(1024 * r), int(512 * r)), keep_ratio=False)
         for r in (0.7, 1.0, 1.3)],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')],
    ]),
]
