#!/usr/bin/env bash
# LDR's parts on the embedded toy domains (the paper's Table 3 idea, configs/ldr/README.md), per
# seed, in the folders of ldr_toy_seeds.sh (run that first: it trains the translator, M and the
# source-only model and the full LDR, and writes the translated images):
#   translation_only   the source-only model on the translated target val images
#   pl                 + class-median pseudo labels: the source-only model's labels of the
#                      translated target, then stage 1 without the adversarial term and
#                      without reconstruction (adv weight 0, model.reconstructor=None)
#   norecon            + the output-space adversarial term: stage 0 and stage 1 without
#                      reconstruction (ldr-norecon_*), pseudo labels from its own stage 0
#   (ldr of ldr_toy_seeds.sh: + reconstruction)
#   stage0_fmdetach, ldr_fmdetach   LDR's stage 0 and stage 1 with the feature-matching term
#                      comparing against the real pair's features as a fixed target
#                      (FeatureMatchingLoss(detach_real=True), pix2pixHD's choice), pseudo
#                      labels from its own stage 0
# Every segmentation run starts from the seed's source-only model and has the same schedule.
#   bash tools/analysis_tools/ldr_toy_ablation.sh [WORK_DIR] [SEED ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=$(realpath -m "${1:-work_dirs/toy_ldr}")
shift || true
SEEDS=${*:-0 1 2}
PY=${PYTHON:-python}
C=configs/ldr
SO=configs/source_only/source-only-singlelevel_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py
S0=$C/ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py
NR=$C/ldr-norecon_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py
D='{work_dir}/data/seed{seed}'
TRAIN_IMG="train_dataloader.dataset.target.data_prefix.img_path=$D/translated/train"
VAL_IMG="val_dataloader.dataset.data_prefix.img_path=$D/translated/val"
SO_CKPT='{work_dir}/source_only/seed{seed}/iter_600.pth'
M_CKPT='{work_dir}/pretrain/seed{seed}/iter_600.pth'
S1=$C/ldr_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py
DETACH='model.feature_matching.detach_real=True'
NO_RECON='model.reconstructor=None model.recon_discriminator=None model.perceptual=None'
NO_RECON_OPTS=()
for o in $NO_RECON; do NO_RECON_OPTS+=(--options "norecon_stage0=$o"); done
for s in $SEEDS; do
  for f in source_only/seed$s/iter_600.pth pretrain/seed$s/iter_600.pth; do
    test -f "$W/$f" || {
      echo "no $W/$f: run tools/analysis_tools/ldr_toy_seeds.sh first" >&2
      exit 1; }
  done
done
$PY tools/analysis_tools/toy_seeds.py --work-dir "$W" --seeds $SEEDS --results ablation.json \
  --exec translation_only="$PY tools/test.py $SO $SO_CKPT --work-dir {work_dir}/translation_only/seed{seed} --cfg-options test_dataloader.dataset.data_prefix.img_path=$D/translated/val" \
  --exec pseudo_pl="$PY tools/generate_pseudo_labels.py $SO $SO_CKPT --policy class_median --out-dir $D/pseudo_labels_source_only --cfg-options train_dataloader.dataset.target.data_prefix.img_path=$D/translated/train" \
  --run pl=$NR \
  --options 'pl=load_from={work_dir}/source_only/seed{seed}/iter_600.pth' \
  --options 'pl=model.adv_weights.main=0.0' \
  --options "pl=$TRAIN_IMG" --options "pl=$VAL_IMG" \
  --options "pl=train_dataloader.dataset.target.data_prefix.seg_map_path=$D/pseudo_labels_source_only" \
  --run norecon_stage0=$S0 \
  --options 'norecon_stage0=load_from={work_dir}/source_only/seed{seed}/iter_600.pth' \
  "${NO_RECON_OPTS[@]}" \
  --options "norecon_stage0=$TRAIN_IMG" --options "norecon_stage0=$VAL_IMG" \
  --exec pseudo_norecon="$PY tools/generate_pseudo_labels.py $S0 {work_dir}/norecon_stage0/seed{seed}/iter_300.pth --policy class_median --out-dir $D/pseudo_labels_norecon --cfg-options $TRAIN_IMG $NO_RECON" \
  --run norecon=$NR \
  --options 'norecon=load_from={work_dir}/norecon_stage0/seed{seed}/iter_300.pth' \
  --options "norecon=$TRAIN_IMG" --options "norecon=$VAL_IMG" \
  --options "norecon=train_dataloader.dataset.target.data_prefix.seg_map_path=$D/pseudo_labels_norecon" \
  --run stage0_fmdetach=$S0 \
  --options 'stage0_fmdetach=load_from={work_dir}/source_only/seed{seed}/iter_600.pth' \
  --options "stage0_fmdetach=model.reconstructor.init_cfg.checkpoint=$M_CKPT" \
  --options "stage0_fmdetach=model.recon_discriminator.init_cfg.checkpoint=$M_CKPT" \
  --options "stage0_fmdetach=$DETACH" \
  --options "stage0_fmdetach=$TRAIN_IMG" --options "stage0_fmdetach=$VAL_IMG" \
  --exec pseudo_fmdetach="$PY tools/generate_pseudo_labels.py $S0 {work_dir}/stage0_fmdetach/seed{seed}/iter_300.pth --policy class_median --out-dir $D/pseudo_labels_fmdetach --cfg-options $TRAIN_IMG" \
  --run ldr_fmdetach=$S1 \
  --options 'ldr_fmdetach=load_from={work_dir}/stage0_fmdetach/seed{seed}/iter_300.pth' \
  --options "ldr_fmdetach=$DETACH" \
  --options "ldr_fmdetach=$TRAIN_IMG" --options "ldr_fmdetach=$VAL_IMG" \
  --options "ldr_fmdetach=train_dataloader.dataset.target.data_prefix.seg_map_path=$D/pseudo_labels_fmdetach"
