#!/usr/bin/env bash
# HiFi-GAN on CMU ARCTIC: copy synthesis (the ceiling of every TTS score), fine-tuning, scores, speed.
#   ./run.sh --kaldi_dir ../../../../shared/data/arctic_fb          # corpus already split in Kaldi dirs
#   ./run.sh --stage 3 --ft_conf conf/hifigan_finetune.yaml --ft_limit ""   # the real fine-tuning (GPU)
#   ./run.sh --gta_train ../tts1/dump/train_gta --gta_dev ../tts1/dump/dev_gta   # on FastSpeech 2's GTA mels
# Stages: 1 data, 2 copy synthesis (Griffin-Lim, released HiFi-GAN), 3 fine-tune HiFi-GAN,
#         4 copy synthesis with the fine-tuned model, 5 speed (RTF of V1/V3, batch 1 and full).
# Every stage reads/writes data/ and exp/ and can be re-run alone (training resumes from exp/*/last.pt).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

stage=1
stop_stage=100
spk=slt
kaldi_dir=""
device=auto
ngpu=1                            # > 1: fine-tune with DDP through torchrun
nthreads=1                        # torch threads per process (OMP_NUM_THREADS)
test_set=test
copy_vocoders="griffin-lim hifigan:universal"
copy_limit=""                     # score only the first N test utterances (CPU smoke runs)
init=hifigan:universal            # fine-tuning starts from these generator weights ("" = from scratch)
ft_conf=conf/hifigan_smoke.yaml   # CPU smoke run; conf/hifigan_finetune.yaml on a GPU
ft_exp=exp/hifigan_ft
ft_limit=4                        # CPU smoke: only the first N utterances of train/dev ("" on a GPU: all)
ft_args=""                        # extra options for `vocoder train` (e.g. "--set train.max_steps=100")
gta_train=""                      # dump dirs of FastSpeech 2 ground-truth-aligned mels (ESPnet-style fine-tuning)
gta_dev=""
bench_vocoders="hifigan:universal,random:v3"
bench_utts=8

. ../../../recipes/parse_options.sh
export OMP_NUM_THREADS=$nthreads

log() { echo -e "$(date '+%F %T') [$(basename "$0")] $*" >&2; }
banner() { log "===== stage $1: $2 ====="; }
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
ns_train() {
  if [ "$ngpu" -gt 1 ]; then torchrun --standalone --nproc-per-node "$ngpu" -m narspeech "$@"; else narspeech "$@"; fi
}
limit_opt=""; [ -n "$copy_limit" ] && limit_opt="--limit $copy_limit"

if run_stage 1; then
  banner 1 "data preparation"
  ../tts1/local/data.sh --spk "$spk" --kaldi_dir "$kaldi_dir"
fi

if run_stage 2; then
  banner 2 "copy synthesis of $test_set: $copy_vocoders"
  for v in $copy_vocoders; do
    # shellcheck disable=SC2086
    narspeech vocoder copy "data/$test_set" "exp/copy_${v//[:\/]/_}/$test_set" --vocoder "$v" --device "$device" $limit_opt
  done
fi

if run_stage 3; then
  banner 3 "fine-tune HiFi-GAN ($ft_conf, from ${init:-scratch}) -> $ft_exp"
  opts=""
  [ -n "$init" ] && opts="--init $init"
  [ -n "$gta_train" ] && opts="$opts --mels $gta_train"
  [ -n "$gta_dev" ] && opts="$opts --valid-mels $gta_dev"
  [ -n "$ft_limit" ] && opts="$opts --limit $ft_limit"
  # shellcheck disable=SC2086
  ns_train vocoder train --config "$ft_conf" --train-data data/train --valid-data data/dev --exp "$ft_exp" \
    --device "$device" --resume $opts $ft_args
fi

if run_stage 4; then
  banner 4 "copy synthesis of $test_set with $ft_exp"
  # shellcheck disable=SC2086
  narspeech vocoder copy "data/$test_set" "$ft_exp/copy/$test_set" --vocoder "$ft_exp" --device "$device" $limit_opt
fi

if run_stage 5; then
  banner 5 "speed: $bench_vocoders"
  narspeech bench vocoder "data/$test_set" --vocoders "$bench_vocoders" --limit "$bench_utts" --device "$device" \
    --out exp/bench_vocoder.json
fi
log "done"
