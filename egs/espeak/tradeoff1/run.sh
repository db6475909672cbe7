#!/usr/bin/env bash
# The AR-vs-NAR trade-off on ../asr1's trained models (issue 35): next to Mask-CTC, the speed-ups a user would pick
# instead of NAR, each decoded and scored on the test set and timed at batch 1 on CPU against the AR beam search:
# AR greedy search, the AR model int8-quantized (dynamic, linear layers), an AR trained with one decoder layer,
# and Mask-CTC with 0 (= greedy CTC), 1, 2, 5, 10 iterations. Outputs go into ../asr1/exp (where the report reads them)
# and exp/tradeoff here (tradeoff.md, tradeoff.json, tradeoff.png). Run ../asr1 first (stages 1-7).
#   ./run.sh                                         # stages 1-4
#   ./run.sh --stage 4 --tts ../../../../tts_recipe  # the report again, with a TTS recipe dir beside
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

stage=1
stop_stage=100
asr_dir=../asr1          # the ASR recipe: its data/, dump/ and trained exp/maskctc, exp/ar (avg5.pt)
test_set=test
average_num=5            # decode with EXP/avg<N>.pt, as ../asr1 does
dec1_conf=conf/tuning/ar_dec1.yaml
threshold=0.999          # Mask-CTC threshold of the iteration sweep (ESPnet's default: the tuned 0 masks nothing)
iterations="0 1 2 5 10"  # Mask-CTC iteration counts (0 = greedy CTC through the Mask-CTC path)
beam=10
ctc_weight=0.3
bench_utts=40            # test utterances timed at batch 1
bench_repeat=1
tts=""                   # optional TTS recipe dir for the report (its exp/<nar>, exp/<tts_ar> results and speed files)
tts_ar=teacher
decodes="maskctc/ctc maskctc/maskctc_th${threshold}_it* ar/* ar_*/*"   # the systems the report lists

. ../../../recipes/parse_options.sh
. ../../../recipes/lib.sh
export OMP_NUM_THREADS=1
a=$asr_dir
ckpt() { if [ "$average_num" -gt 0 ]; then echo "--checkpoint $a/exp/$1/avg$average_num.pt"; fi; }

dec() {  # $1 exp, $2 decode dir name, rest: options of `asr decode`
  local e=$1 name=$2; shift 2
  # shellcheck disable=SC2046
  ns asr decode --model "$a/exp/$e" $(ckpt "$e") --dump "$a/dump/$test_set" --out "$a/exp/$e/decode_$test_set/$name" \
    --device cpu "$@"
  ns asr score "$a/data/$test_set/text_asr" "$a/exp/$e/decode_$test_set/$name/hyp" > /dev/null
}

if run_stage 1; then
  banner 1 "decode + score $test_set: AR greedy, AR int8 (beam, greedy), Mask-CTC iterations"
  dec ar greedy --method greedy
  dec ar "beam${beam}_int8" --method beam --beam "$beam" --ctc-weight "$ctc_weight" --quantize int8
  dec ar greedy_int8 --method greedy --quantize int8
  for it in $iterations; do
    dec maskctc "maskctc_th${threshold}_it$it" --method maskctc --threshold "$threshold" --iterations "$it" --ctc-fusion 0 --no-length-adjust
  done
fi

if run_stage 2; then
  banner 2 "AR with one decoder layer ($dec1_conf) -> $a/exp/ar_dec1, decode + score $test_set"
  conf=$(pwd)/$dec1_conf
  (cd "$a" && narspeech asr train --config "$conf" --tokens data/tokens.txt --train-data data/train --train-dump dump/train \
    --valid-data data/dev --valid-dump dump/dev --exp exp/ar_dec1 --device cpu --resume)
  [ "$average_num" -gt 0 ] && ns train average "$a/exp/ar_dec1" --num "$average_num" --fewer-ok --out "$a/exp/ar_dec1/avg$average_num.pt"
  dec ar_dec1 "beam$beam" --method beam --beam "$beam" --ctc-weight "$ctc_weight"
fi

if run_stage 3; then
  banner 3 "speed at batch 1 on CPU, every system against the AR beam search in one run -> $a/exp/speed_$test_set.tradeoff.json"
  ns bench asr --maskctc "$a/exp/maskctc" --ar "$a/exp/ar" --dump "$a/dump/$test_set" --limit "$bench_utts" --batch-sizes 1 \
    --threshold "$threshold" --iterations 10 --mask-iterations "${iterations// /,}" --ar-greedy --quantize int8 --ar-variant "$a/exp/ar_dec1" \
    --beam "$beam" --ctc-weight "$ctc_weight" --repeat "$bench_repeat" --checkpoint-name "avg$average_num.pt" --device cpu --out "$a/exp/speed_$test_set.tradeoff.json"
fi

if run_stage 4; then
  banner 4 "report -> exp/tradeoff"
  tts_opt=(); [ -n "$tts" ] && tts_opt=(--tts "$tts" --tts-ar "$tts_ar")
  ns analyze tradeoff --asr "$a" --asr-set "$test_set" --asr-decodes "$decodes" "${tts_opt[@]+"${tts_opt[@]}"}" --out exp/tradeoff
fi
log "done (stages $stage..$stop_stage)"
