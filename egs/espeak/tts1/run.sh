#!/usr/bin/env bash
# FastSpeech 2 from an AR teacher on a synthetic espeak-ng corpus: the small end-to-end recipe
# (2-core CPU, ~15 min with conf/*.yaml; conf/gpu/*.yaml are paper-size models for a GPU).
#   ./run.sh                      # everything
#   ./run.sh --stage 4 --stop_stage 6 --teacher_conf conf/gpu/teacher.yaml --fs_conf conf/gpu/fastspeech2.yaml
#   ./run.sh --teacher tacotron2  # the AR side Tacotron 2 (conf/tacotron2.yaml) instead of Transformer-TTS (RESULTS.md)
#   ./run.sh --voice en-us,en-us+f2,en-us+m3,en-us+f4 --teacher none   # quick multi-speaker smoke (in a copy of this folder):
#        four voices of different pitch and timbre, a learned vector per voice (model.spks=auto; your own --fs_args replace it), speaker scores in stage 8
# Stage 8 scores intelligibility with the espeak ASR recipe's model (../asr1, greedy CTC) when it has been
# trained (pocketsphinx barely understands espeak voices: 82 % WER on the recordings), else pocketsphinx.
# Options of this script: --num_utts --voice --nj --asr_model; all others go to recipes/tts.sh (--help lists them).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

num_utts=360            # size of the synthetic corpus (90% train, 5% dev, 5% test)
voice=en-us             # one espeak-ng voice: a single-speaker TTS corpus; several (comma-separated): a multi-speaker one
nj=2
asr_model=auto          # auto: ../asr1/exp/maskctc if trained; "" for pocketsphinx; or an ASR exp dir

passthrough=true . ../../../recipes/parse_options.sh
if [ "$asr_model" = auto ]; then
  asr_model=""; [ -f ../asr1/exp/maskctc/best.pt ] && asr_model=../asr1/exp/maskctc
fi
multi=""
case "$voice" in
  *,*) multi="--multispk true --fs_args --set=model.spks=auto --teacher_args --set=model.spks=auto" ;;  # one learned vector per voice
esac
# shellcheck disable=SC2086
exec ../../../recipes/tts.sh --nj "$nj" --token_type phoneme $multi \
  --data_script local/data.sh --data_args "--num_utts $num_utts --voice $voice --nj $nj" \
  ${asr_model:+--asr_model "$asr_model"} "$@"
