#!/usr/bin/env bash
# FastCorrect vs an AR corrector on speechocean762's ASR hypotheses (egs/speechocean762/asr1 first:
# its models decode the training set here, and its dev decode dirs are corrected and scored).
#   ./run.sh --stage 1 --stop_stage 3     # text-only: LJSpeech sentences with synthetic ASR errors, no ASR needed
#   ./run.sh                              # all stages (needs ../asr1's data, dump and exp/maskctc)
#   ./run.sh --asr_ckpts "checkpoints/step00001000.pt checkpoints/step00002000.pt best"   # early checkpoints err more
# The CPU run reported in issue 10 (no ASR models yet; in-domain text: speechocean762's training
# transcripts noised 8 times, its dev transcripts noised once as the synthetic evaluation set):
#   mkdir -p data/local; cut -d' ' -f2- ../asr1/data/train/text_asr > data/local/so_train.txt
#   cut -d' ' -f2- ../asr1/data/dev/text_asr > data/local/so_dev.txt
#   ./run.sh --stage 1 --stop_stage 3 --pretrain_text data/local/so_train.txt --heldout_text data/local/so_dev.txt --noise_copies 8
# All options go to recipes/correct.sh (see its header).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
exec ../../../recipes/correct.sh --pretrain_text ../../../../shared/data/ljspeech_text/metadata.csv \
  --asr_dir ../asr1 --asr_exp exp/maskctc --eval_sets dev --score_by spk2age "$@"
