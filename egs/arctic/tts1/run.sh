#!/usr/bin/env bash
# FastSpeech 2 from an AR teacher on CMU ARCTIC (one speaker, ~1 h, 16 kHz).
#   ./run.sh --spk slt                                   # downloads cmu_us_slt_arctic (stage 1)
#   ./run.sh --kaldi_dir ../../../../shared/data/arctic_fb  # a corpus already in Kaldi train/dev/test dirs
# Paper-size models for a GPU: --teacher_conf conf/gpu/teacher.yaml --fs_conf conf/gpu/fastspeech2.yaml
# Options of this script: --spk --kaldi_dir --nj; all others go to recipes/tts.sh.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

spk=slt
kaldi_dir=""
nj=4

passthrough=true . ../../../recipes/parse_options.sh
exec ../../../recipes/tts.sh --nj "$nj" --token_type phoneme \
  --data_script local/data.sh --data_args "--spk $spk --kaldi_dir $kaldi_dir" "$@"
