#!/usr/bin/env bash
# FastSpeech 2 from an AR teacher on CMU ARCTIC (one speaker, ~1 h, 16 kHz); results: RESULTS.md.
#   ./run.sh --spk slt                                   # downloads cmu_us_slt_arctic (stage 1)
#   ./run.sh --kaldi_dir ../../../../shared/data/arctic_fb  # a corpus already in Kaldi train/dev/test dirs
# Paper-size models for a GPU: --teacher transformer --teacher_conf conf/gpu/teacher.yaml --fs_conf conf/gpu/fastspeech2.yaml
# Defaults (CPU, ~3 h of training in all): the 3-state aligner's durations, FastSpeech 2 on them (conf/fastspeech2.yaml)
# and the Tacotron 2 teacher guided by the same alignment (conf/tacotron2.yaml).
# Options of this script: --spk --kaldi_dir --nj --teacher; all others go to recipes/tts.sh.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

spk=slt
kaldi_dir=""
nj=4
teacher=tacotron2       # tacotron2 (conf/tacotron2.yaml) | transformer (conf/teacher.yaml): Tacotron 2 free-runs better

passthrough=true . ../../../recipes/parse_options.sh
# three teacher draws: its prenet dropout stays on at inference, so one draw is not a score
exec ../../../recipes/tts.sh --nj "$nj" --token_type phoneme --teacher "$teacher" --teacher_seeds "0 1 2" \
  --data_script local/data.sh --data_args "--spk $spk${kaldi_dir:+ --kaldi_dir $kaldi_dir}" "$@"
