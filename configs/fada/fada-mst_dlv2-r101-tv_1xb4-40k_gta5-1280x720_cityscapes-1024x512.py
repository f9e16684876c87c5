# FADA-MST (paper 002, Table 3: 50.1 with self-distillation): multi-scale testing as the
# reference test.py does it: the image resized by 0.7, 1.0 and 1.3, each also flipped, the six
# softmax maps averaged. Run it with mmseg's TTA:
#   python tools/test.py configs/fada/fada-mst_...py CHECKPOINT --tta
# (any FADA or self-distillation checkpoint of a 1024x512 Cityscapes model).
_base_ = ['./fada_dlv2-r101-tv_1xb4-40k_gta5-1280x720_cityscapes-1024x512.py']
# The Cityscapes base's TTA (configs/_base_/datasets/cityscapes.py) is exactly this recipe:
# Resize to (1024, 512) x 0.7 / 1.0 / 1.3, each with and without a horizontal flip, probabilities
# averaged by SegTTAModel. This config names the FADA-MST row; a test checks the recipe.
