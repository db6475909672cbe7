#!/usr/bin/env bash
# The AR-vs-NAR trade-off on ../asr1's trained models (issue 35): next to Mask-CTC, the speed-ups a user would pick
# instead of NAR, each decoded and scored on the test set and timed at batch 1 on CPU against the AR beam search:
# AR greedy search, the AR model int8-quantized (dynamic, linear layers), an AR trained with one decoder layer,
# and Mask-CTC with 0 (= greedy CTC), 1, 2, 5, 10 iterations; then a small correction run (FastCorrect vs an AR
# corrector on the Mask-CTC's hypotheses of sentences no model has seen) with the AR corrector's greedy and int8 variants.
# ASR outputs go into ../asr1/exp (where the report reads them), correction outputs into data/ and exp/ here, the report
# into exp/tradeoff (tradeoff.md, tradeoff.json, tradeoff.png). Run ../asr1 first (stages 1-7).
#   ./run.sh                                   # stages 1-6
#   ./run.sh --stage 6 --tts ../tts1           # the report again, with a TTS recipe dir (its exp/fastspeech2, exp/<tts_ar>)
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
narrow_beams="1 3"       # the AR's joint CTC/attention search at narrower beams (cheaper than $beam)
ctc_weight=0.3
bench_utts=20            # test utterances timed at batch 1 (as ../asr1 stage 8: the AR beam search is slow on CPU)
bench_repeat=1
c_set=test_unseen        # correction: ../asr1's set whose sentences are in no other part (no corrector has seen them)
c_text=../../../../shared/data/ljspeech_text/metadata.csv   # pretraining text (the prompts' source), less $c_set's sentences
c_unit=bpe               # subword units: a character corrector of this size never learnt to copy in its budget
c_bpe=1000
c_fc_conf=conf/tuning/correct_fastcorrect_small.yaml
c_ar_conf=conf/tuning/correct_ar_small.yaml
c_ft_steps=400           # fine-tuning updates on the ASR pairs (each corrector)
c_decode=maskctc/decode_{set}/ctc   # the ASR hypotheses corrected (Mask-CTC's greedy CTC)
c_beam=5
c_bench=100              # sentences timed at batch 1
tts=""                   # optional TTS recipe dir for the report (its exp/<nar>, exp/<tts_ar> results and speed files)
tts_ar=teacher
decodes=""               # the systems the report lists (default: greedy CTC, the iteration sweep, the AR variants)

. ../../../recipes/parse_options.sh
. ../../../recipes/lib.sh
export OMP_NUM_THREADS=1
a=$asr_dir
if [ -z "$decodes" ]; then
  decodes="maskctc/ctc ar/greedy* ar/beam* ar_*/*"
  for it in $iterations; do decodes+=" maskctc/maskctc_th${threshold}_it$it"; done
fi
ckpt() { if [ "$average_num" -gt 0 ]; then echo "--checkpoint $a/exp/$1/avg$average_num.pt"; fi; }

dec() {  # $1 exp, $2 decode dir name, rest: options of `asr decode`
  local e=$1 name=$2; shift 2
  # shellcheck disable=SC2046
  ns asr decode --model "$a/exp/$e" $(ckpt "$e") --dump "$a/dump/$test_set" --out "$a/exp/$e/decode_$test_set/$name" \
    --device cpu "$@"
  ns asr score "$a/data/$test_set/text_asr" "$a/exp/$e/decode_$test_set/$name/hyp" > /dev/null
}

if run_stage 1; then
  banner 1 "decode + score $test_set: AR greedy (attention argmax), narrower AR beams, AR int8, Mask-CTC iterations"
  for q in none int8; do
    x=""; [ "$q" = none ] || x=_$q
    dec ar "greedy$x" --method greedy --quantize "$q"                                         # attention argmax
    for b in $narrow_beams; do
      dec ar "beam$b$x" --method beam --beam "$b" --ctc-weight "$ctc_weight" --quantize "$q"    # joint CTC/attention
    done
  done
  dec ar "beam${beam}_int8" --method beam --beam "$beam" --ctc-weight "$ctc_weight" --quantize int8
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
    --threshold "$threshold" --iterations 10 --mask-iterations "${iterations// /,}" --ar-greedy --ar-beams "${narrow_beams// /,}" --quantize int8 --ar-variant "$a/exp/ar_dec1" \
    --beam "$beam" --ctc-weight "$ctc_weight" --repeat "$bench_repeat" --checkpoint-name "avg$average_num.pt" --device cpu --out "$a/exp/speed_$test_set.tradeoff.json"
fi

if run_stage 4; then
  banner 4 "a small correction run (recipes/correct.sh, $c_unit units, $c_ar_conf) on ../asr1's Mask-CTC"
  mkdir -p data
  # the pretraining text without the sentences of $c_set (matched on their letters, the usual abbreviations spelt out)
  awk -F'|' 'function key(s) {
      s = toupper(s); gsub(/MRS\./, "MISSUS", s); gsub(/MR\./, "MISTER", s); gsub(/DR\./, "DOCTOR", s)
      gsub(/REV\./, "REVEREND", s); gsub(/CO\./, "COMPANY", s); gsub(/&/, "AND", s); gsub(/[^A-Z]/, "", s); return s }
    FNR == NR { sub(/^[^ ]+ /, ""); drop[key($0)] = 1; next }
    { k = key($NF); if (k in drop) hit[k] = 1; else print }
    END { for (k in drop) if (!(k in hit)) n++; if (n) print n " sentences of the evaluation set not found in the text" > "/dev/stderr" }' \
    "$a/data/$c_set/text_asr" "$c_text" > data/correct_text.txt
  ../../../recipes/correct.sh --pretrain_text data/correct_text.txt --heldout_sentences 200 --indomain_copies 0 --unit "$c_unit" \
    --bpe_size "$c_bpe" --asr_dir "$a" --asr_exp exp/maskctc --asr_method ctc --asr_ckpts "checkpoints/step00000750.pt avg5.pt" \
    --tune_speakers_mod 6 --fc_conf "$c_fc_conf" --ar_conf "$c_ar_conf" --ft_steps "$c_ft_steps" \
    --eval_sets "$c_set" --eval_decodes "$c_decode" --score_by "" --beam "$c_beam" --bench_batch_sizes 1 \
    --bench_sentences "$c_bench" --device cpu
fi

if run_stage 5; then
  banner 5 "AR corrector variants (greedy = beam 1, int8) on $c_set: correct + score, then time them against the AR beam"
  h=$a/exp/${c_decode//\{set\}/$c_set}
  name=$(basename "$(dirname "$(dirname "$h")")")_$(basename "$h")
  ref=$a/data/$c_set/text_asr
  for v in "ar_greedy --beam 1" "ar_int8 --beam $c_beam --quantize int8" "ar_greedy_int8 --beam 1 --quantize int8"; do
    set -- $v; n=$1; shift
    ns correct decode --model exp/ar --hyp "$h/hyp" --ref "$ref" --out "exp/ar/decode_$c_set/${name}_$n" --oov correct --device cpu "$@"
    ns asr score "$ref" "exp/ar/decode_$c_set/${name}_$n/hyp" --out "exp/score_$c_set/$name/$n" > /dev/null
  done
  ns bench correct --fastcorrect exp/fc --ar exp/ar --hyp "$h/hyp" --limit "$c_bench" --batch-sizes 1 --beam "$c_beam" \
    --ar-greedy --quantize int8 --device cpu --out "exp/speed_$c_set.tradeoff.json"
fi

if run_stage 6; then
  banner 6 "report -> exp/tradeoff"
  opt=(); [ -n "$tts" ] && opt=(--tts "$tts" --tts-ar "$tts_ar")
  [ -d "exp/score_$c_set" ] && opt+=(--correct . --correct-set "$c_set")
  ns analyze tradeoff --asr "$a" --asr-set "$test_set" --asr-decodes "$decodes" "${opt[@]+"${opt[@]}"}" --out exp/tradeoff
fi
log "done (stages $stage..$stop_stage)"
