#!/usr/bin/env bash
# FastCorrect vs an AR corrector on speechocean762's ASR hypotheses. ../asr1 first: its Mask-CTC
# model decodes the training set here (stage 2) and its dev decode dirs are corrected and scored (stage 7).
#   ./run.sh                                    # all stages
#   ./run.sh --stage 1 --stop_stage 4 --noise phonetic   # text only: synthetic errors, no ASR needed
# Units: subword pieces (BPE, 1000) trained on the pretraining text. The ASR spells in characters, so
# many of its errors are non-words (ELEFANT): a word-level corrector sees those as one unknown token,
# pieces still spell them out. Pretraining text: LJSpeech's sentences plus speechocean762's training
# transcripts (×4), corrupted by an error model fitted on the ASR's own training-set errors.
# All options go to recipes/correct.sh (see its header); the run reported in issue 10 is in RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
exec ../../../recipes/correct.sh --pretrain_text ../../../../shared/data/ljspeech_text/metadata.csv \
  --asr_dir ../asr1 --asr_exp exp/maskctc --eval_sets dev --score_by spk2age "$@"
