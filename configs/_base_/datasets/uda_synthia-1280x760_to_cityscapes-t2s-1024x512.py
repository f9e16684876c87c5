# SYNTHIA -> Cityscapes with the Cityscapes images translated to the SYNTHIA style (LDR, paper
# 001, section 3.2): the target branch and the evaluation read the copies that
# tools/translate_dataset.py wrote with the LDR translator (same file names, full resolution),
# the evaluation labels stay Cityscapes' own. The LDR stage that trains on pseudo labels sets
# target_labels='pseudo' and points the target's seg_map_path at pseudo_label_dir.
_base_ = ['./uda_synthia-1280x760_to_cityscapes-1024x512.py']
ldr_dir = 'work_dirs/ldr_synthia-cityscapes'
translated_train = ldr_dir + '/translated/train'
translated_val = ldr_dir + '/translated/val'
pseudo_label_dir = ldr_dir + '/pseudo_labels'
train_dataloader = dict(dataset=dict(target=dict(
    data_root='', data_prefix=dict(img_path=translated_train, seg_map_path=''))))
val_dataloader = dict(dataset=dict(
    data_root='', data_prefix=dict(img_path=translated_val,
                                   seg_map_path=_base_.data_root + '/gtFine/val')))
test_dataloader = val_dataloader
