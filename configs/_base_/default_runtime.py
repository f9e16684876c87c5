# Loads the mmuda plugin into MMSegmentation; every mmuda config inherits this file.
default_scope = 'mmseg'
custom_imports = dict(imports=['mmuda'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# tools/train.py refuses to start a backbone with frozen normalisation from random weights
# (docs/get_started.md#pretrained-weights); True lets it, for people who mean it.
allow_random_init = False
tta_model = dict(type='SegTTAModel')
# Distributed runs (tools/dist_train.sh, slurm_train.sh): UDA segmentors average gradients
# themselves between backward and step; the wrapper starts all ranks from the same weights.
model_wrapper_cfg = dict(type='UDADataParallel')
# Checks before a run starts: the model's class counts equal the datasets' (and each
# CheckSegLabels gets the class count), and a loaded checkpoint holds every segmentor weight.
# tools/train.py and tools/test.py add them to a config that replaces custom_hooks.
custom_hooks = [dict(type='ClassCountCheckHook'), dict(type='SegmentorWeightsCheckHook')]
