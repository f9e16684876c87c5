#!/usr/bin/env bash
# LDR's whole pipeline on the embedded toy domains, once per seed (configs/ldr/README.md):
# translator -> translated target train/val -> M pre-training -> source-only model -> stage 0
# (from it) -> class-median pseudo labels -> LDR. Every folder is per seed under WORK_DIR; an
# interrupted sweep resumes.
#   bash tools/analysis_tools/ldr_toy_seeds.sh [WORK_DIR] [SEED ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-work_dirs/toy_ldr}
shift || true
SEEDS=${*:-0 1 2}
PY=${PYTHON:-python}
C=configs/ldr
TR=$C/ldr-translator_cyclegan-toy_1xb4-400_toy-source_toy-target.py
PRE=$C/ldr-recon-pretrain_toy_1xb4-600_toy-source.py
SO=configs/source_only/source-only-singlelevel_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py
S0=$C/ldr-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py
S1=$C/ldr_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py
D='{work_dir}/data/seed{seed}'
TRAIN_IMG="train_dataloader.dataset.target.data_prefix.img_path=$D/translated/train"
VAL_IMG="val_dataloader.dataset.data_prefix.img_path=$D/translated/val"
CKPT='{work_dir}/pretrain/seed{seed}/iter_600.pth'
$PY tools/analysis_tools/toy_seeds.py --work-dir "$W" --seeds $SEEDS \
  --run translator=$TR \
  --exec translate="$PY tools/translate_dataset.py $TR {work_dir}/translator/seed{seed}/iter_400.pth --out-dir $D/translated/train" \
  --exec translate_val="$PY tools/translate_dataset.py $TR {work_dir}/translator/seed{seed}/iter_400.pth --split-key translate_datasets.target_val --out-dir $D/translated/val" \
  --run pretrain=$PRE \
  --run source_only=$SO \
  --run stage0=$S0 \
  --options 'stage0=load_from={work_dir}/source_only/seed{seed}/iter_600.pth' \
  --options "stage0=model.reconstructor.init_cfg.checkpoint=$CKPT" \
  --options "stage0=model.recon_discriminator.init_cfg.checkpoint=$CKPT" \
  --options "stage0=$TRAIN_IMG" --options "stage0=$VAL_IMG" \
  --exec pseudo="$PY tools/generate_pseudo_labels.py $S0 {work_dir}/stage0/seed{seed}/iter_300.pth --policy class_median --out-dir $D/pseudo_labels --cfg-options $TRAIN_IMG" \
  --run ldr=$S1 \
  --options 'ldr=load_from={work_dir}/stage0/seed{seed}/iter_300.pth' \
  --options "ldr=$TRAIN_IMG" --options "ldr=$VAL_IMG" \
  --options "ldr=train_dataloader.dataset.target.data_prefix.seg_map_path=$D/pseudo_labels"
