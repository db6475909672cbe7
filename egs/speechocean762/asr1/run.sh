#!/usr/bin/env bash
# Mask-CTC vs a joint CTC/attention AR baseline on speechocean762 (non-native English, adults and
# children, ~3 h of training speech); dev scored for adults and children separately (spk2age).
#   ./run.sh --kaldi_dir ../../../../shared/data/speechocean762          # CPU configs (conf/*.yaml)
#   ./run.sh --kaldi_dir DIR --maskctc_conf conf/gpu/maskctc.yaml --ar_conf conf/gpu/ar.yaml --device cuda
#   ./run.sh --corpus_dir downloads/speechocean762                         # the public release (train/test)
#   ./run.sh --kaldi_dir DIR --espeak_aug 2500     # + 2500 synthetic espeak-ng utterances (exp/*_espeak)
#   ./run.sh --kaldi_dir DIR --token_type subword  # sentencepiece unigram 300 (exp/*_unigram300); RESULTS.md
# Options of this script: --kaldi_dir --corpus_dir --nj --espeak_aug; all others (--token_type too) go to
# recipes/asr.sh (--help lists them).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

kaldi_dir=""            # a copy split into train/ and dev/ (e.g. ../shared/data/speechocean762)
corpus_dir=""           # or the public release (train/, test/): dev = 25 training speakers held out
nj=2
espeak_aug=0            # > 0: add this many synthetic espeak-ng utterances to the training set (RESULTS.md: whether it helps)

passthrough=true . ../../../recipes/parse_options.sh
if [ -z "$kaldi_dir" ] && [ -z "$corpus_dir" ]; then
  echo "$0: give --kaldi_dir DIR (train/ + dev/) or --corpus_dir DIR (the public release)" >&2; exit 1
fi
aug=()
[ "$espeak_aug" -gt 0 ] && aug=(--train_set train_espeak --exp_tag _espeak)
exec ../../../recipes/asr.sh --nj "$nj" --token_type char --test_sets "" --score_by spk2age "${aug[@]}" \
  --data_script local/data.sh \
  --data_args "--kaldi_dir ${kaldi_dir:-none} --corpus_dir ${corpus_dir:-none} --espeak_aug $espeak_aug --nj $nj" "$@"
