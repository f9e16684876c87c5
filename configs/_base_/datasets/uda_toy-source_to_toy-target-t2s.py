# The embedded toy domains with the target images translated to the source style (LDR, paper
# 001, section 3.2): the target branch and the evaluation read the copies that
# tools/translate_dataset.py wrote with the toy LDR translator; the evaluation labels stay the
# toy target's own. The LDR stage that trains on pseudo labels sets target_labels='pseudo' and
# points the target's seg_map_path at pseudo_label_dir. tools/analysis_tools/toy_seeds.py runs
# the whole pipeline (configs/ldr/README.md).
_base_ = ['./uda_toy-source_to_toy-target.py']
ldr_dir = 'work_dirs/ldr-toy'
translated_train = ldr_dir + '/translated/train'
translated_val = ldr_dir + '/translated/val'
pseudo_label_dir = ldr_dir + '/pseudo_labels'
train_dataloader = dict(dataset=dict(target=dict(
    data_root='', data_prefix=dict(img_path=translated_train, seg_map_path=''))))
val_dataloader = dict(dataset=dict(
    data_root='', data_prefix=dict(img_path=translated_val,
                                   seg_map_path=_base_.data_root + '/target/gtFine/val')))
test_dataloader = val_dataloader
