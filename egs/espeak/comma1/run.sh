#!/usr/bin/env bash
# CoMMA (Ren et al., ACL 2020) on the three narspeech tasks: how much a target token depends on the other target
# tokens (the attention density ratio R(p)), for TTS (phonemes -> mels), ASR (log-mel -> characters) and
# correction (hypothesis words -> reference words), each also with the alignment constraint and, where an
# AR model's outputs are given, with knowledge distillation. Small CPU models (conf/comma.yaml); conf/gpu/ for
# real corpora.
#   ./run.sh                                  # everything
#   ./run.sh --stage 6 --stop_stage 8 --comma_conf conf/gpu/comma.yaml --device cuda
#   ./run.sh --stage 5 --tasks tts --tts_teacher ../tts1/exp/teacher   # adds the TTS KD variants kd and align_kd (the
#        teacher's free-running mels; ../tts1 run with --teacher tacotron2, the AR TTS that speaks there)
#   ./run.sh --stage 5 --tasks asr --asr_ar_model ../asr1/exp/ar --asr_ar_checkpoint avg2.pt   # adds the ASR KD variant
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

stage=1                 # first stage to run
stop_stage=100          # last stage to run
nj=2
nthreads=1              # OMP_NUM_THREADS of every step (2 threads fight on a shared 2-core machine)
device=cpu              # cpu | cuda | auto (CoMMA training and measurement)
tasks="tts asr correct"
variants="base align kd align_kd"  # base | align | kd | align_kd (kd: tasks whose AR outputs are there, stage 5; align_kd: TTS only)
comma_conf=conf/comma.yaml
comma_args=""           # extra options for `analyze comma train` (e.g. "--set train.steps=200")
tts_args="--set train.steps=400 --set train.batch_items=16"  # TTS and ASR batches cost 4x a correction batch on CPU:
asr_args="--set train.steps=500 --set train.batch_items=16"  # fewer, smaller steps keep the recipe within its CPU budget
ps="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"
layers=""               # last layers whose attention is averaged ("" = the last half)
asr_model=""            # a trained ASR exp (e.g. ../asr1/exp/maskctc): its CTC aligns the characters; "" = the HMM aligner
tts_teacher=""          # a trained `tts train-teacher` exp: stage 5 takes its free-running mels as the KD targets
asr_ar_model=""         # a trained AR ASR exp (e.g. ../asr1/exp/ar): stage 5 decodes the ASR sets with it, ASR's KD targets
asr_ar_checkpoint=""    # its checkpoint file (e.g. avg2.pt, the one ../asr1 scores); "" = `asr decode`'s default (best.pt)
asr_ar_decode="--method ctc"  # the AR model's CTC head: its decoder alone loops (greedy CER > 100 %); beam 10 + CTC costs ~15 s/utt on CPU
correct_kd_train=""     # an AR corrector's outputs (`utt text`) on data/correct_train/hyp, data/correct_test/hyp
correct_kd_test=""
data_args=""            # options for local/data.sh (e.g. "--tts_utts 600")
out=exp/comma_report

. ../../../recipes/parse_options.sh
. ../../../recipes/lib.sh
export OMP_NUM_THREADS=$nthreads
has() { case " $1 " in *" $2 "*) return 0 ;; *) return 1 ;; esac; }

if run_stage 1; then
  log "===== stage 1: data (espeak-ng speech for TTS and ASR, noised prompts for correction)"
  # shellcheck disable=SC2086
  local/data.sh --nj "$nj" $data_args
fi

if run_stage 2; then
  log "===== stage 2: tokens (TTS phonemes, ASR characters)"
  for s in tts_train tts_test; do narspeech text tokenize "data/$s" --kind phoneme; done
  narspeech text vocab data/tts_train --out data/tts_tokens.txt
  for s in asr_train asr_test; do narspeech asr tokenize "data/$s" --unit char; done
  narspeech text vocab data/asr_train --out data/asr_tokens.txt
  narspeech text check data/tts_test --tokens data/tts_tokens.txt || log "warning: TTS test tokens missing from the list"
  narspeech text check data/asr_test --tokens data/asr_tokens.txt || log "warning: ASR test tokens missing from the list"
fi

if run_stage 3; then
  log "===== stage 3: features (TTS 22.05 kHz mels, ASR 16 kHz log-mel) and statistics"
  for s in tts_train tts_test; do narspeech feats extract "data/$s" "dump/$s" --config conf/tts_feats.yaml --jobs "$nj"; done
  for s in asr_train asr_test; do narspeech feats extract "data/$s" "dump/$s" --config conf/asr_feats.yaml --jobs "$nj"; done
  narspeech feats stats dump/tts_train
  narspeech feats stats dump/asr_train
fi

if run_stage 4; then
  log "===== stage 4: alignments for the constraint: TTS phoneme durations (HMM aligner); ASR characters (CTC forced alignment with
  --asr_model, else the HMM aligner). Unsupervised, so training and test utterances are aligned together"
  for t in tts asr; do
    has "$tasks" "$t" || continue
    if [ "$t" = asr ] && [ -n "$asr_model" ]; then
      for s in train test; do
        narspeech analyze comma ctc-align --asr-exp "$asr_model" --data "data/asr_$s" --dump "dump/asr_$s" \
          --out "exp/align/asr_$s/durations" --device "$device"
      done
      mkdir -p exp/align/asr; cat exp/align/asr_train/durations exp/align/asr_test/durations | sort > exp/align/asr/durations
      continue
    fi
    rm -rf "data/${t}_both" "dump/${t}_both"
    narspeech data combine "data/${t}_both" "data/${t}_train" "data/${t}_test"
    narspeech feats combine "dump/${t}_both" "dump/${t}_train" "dump/${t}_test"
    narspeech text vocab "data/${t}_both" --out "exp/align/${t}_tokens.txt"
    narspeech tts align --data "data/${t}_both" --dump "dump/${t}_both" --tokens "exp/align/${t}_tokens.txt" \
      --out "exp/align/$t" --states 3 --edge-silence
  done
fi

if run_stage 5; then
  log "===== stage 5: KD targets: the AR models' outputs (TTS: ${tts_teacher:-no teacher given}; ASR: ${asr_ar_model:-no AR model given})"
  if [ -n "$tts_teacher" ]; then
    for s in tts_train tts_test; do
      narspeech tts durations --teacher "$tts_teacher" --data "data/$s" --dump "dump/$s" --out "exp/kd/$s" --kd --skip-bad \
        --device "$device"   # --skip-bad: a test phoneme unseen in training is no KD target (listed)
    done
  fi
  if [ -n "$asr_ar_model" ]; then
    for s in asr_train asr_test; do
      # shellcheck disable=SC2086
      narspeech asr decode --model "$asr_ar_model" --dump "dump/$s" --out "exp/kd/$s" $asr_ar_decode --device "$device" \
        ${asr_ar_checkpoint:+--checkpoint "$asr_ar_model/$asr_ar_checkpoint"}
      narspeech asr score "data/$s/text_asr" "exp/kd/$s/hyp" --unit char | tail -n 1   # the teacher must recognise
    done
  fi
fi

inputs() {  # $1 task, $2 set (train|test), $3 variant: the task's input options
  local t=$1 s=$2 v=$3 kd=""
  case "$t" in
    tts) if [ "${v#align_}" = kd ]; then  # the teacher's mels, aligned by its own attention on them
           kd="exp/kd/tts_$s/kd"; echo "--data data/tts_$s --dump dump/tts_$s --tokens data/tts_tokens.txt --durations $kd/durations"
         else
           echo "--data data/tts_$s --dump dump/tts_$s --tokens data/tts_tokens.txt --durations exp/align/tts/durations"
         fi ;;
    asr) echo "--data data/asr_$s --dump dump/asr_$s --tokens data/asr_tokens.txt --durations exp/align/asr/durations"
         [ "$v" = kd ] && kd="exp/kd/asr_$s/token_hyp" ;;
    correct) echo "--hyp data/correct_$s/hyp --ref data/correct_$s/text --unit word"
         [ "$v" = kd ] && kd=$([ "$s" = train ] && echo "$correct_kd_train" || echo "$correct_kd_test") ;;
  esac
  [ -n "$kd" ] && echo "--kd $kd"
  return 0
}
kd_ready() {  # $1 task: are its AR outputs there?
  case "$1" in
    tts) [ -f exp/kd/tts_train/kd/feats.scp ] && [ -f exp/kd/tts_test/kd/feats.scp ] ;;
    asr) [ -f exp/kd/asr_train/token_hyp ] && [ -f exp/kd/asr_test/token_hyp ] ;;
    correct) [ -n "$correct_kd_train" ] && [ -n "$correct_kd_test" ] ;;
  esac
}
runs() {  # "task variant" pairs to train and measure
  for t in $tasks; do for v in $variants; do
    if [ "${v#align_}" = kd ] && ! kd_ready "$t"; then log "no AR outputs for $t: its $v variant is left out"; continue; fi
    if [ "$v" = align_kd ] && [ "$t" != tts ]; then log "align_kd is TTS only (the KD targets' alignment: the teacher's attention)"; continue; fi
    echo "$t $v"
  done; done
}

if run_stage 6; then
  log "===== stage 6: train CoMMA ($comma_conf) for each task and variant"
  runs | while read -r t v; do
    [ -f "exp/comma_${t}_$v/model.pt" ] && { log "exp/comma_${t}_$v trained already"; continue; }
    a=""; case "$v" in align*) a="--align" ;; esac
    # shellcheck disable=SC2046,SC2086
    narspeech analyze comma train --task "$t" --exp "exp/comma_${t}_$v" --config "$comma_conf" --device "$device" \
      $(inputs "$t" train "$v") $a $comma_args $(case $t in tts) echo "$tts_args" ;; asr) echo "$asr_args" ;; esac)
  done
fi

if run_stage 7; then
  log "===== stage 7: R(p) on the test sets at p = $ps"
  runs | while read -r t v; do
    # shellcheck disable=SC2046
    narspeech analyze comma measure --task "$t" --exp "exp/comma_${t}_$v" --p "$ps" --device "$device" \
      ${layers:+--layers "$layers"} $(inputs "$t" test "$v")
  done
fi

if run_stage 8; then
  log "===== stage 8: table and figures -> $out"
  # shellcheck disable=SC2046
  narspeech analyze comma report $(runs | while read -r t v; do echo "exp/comma_${t}_$v"; done) --out "$out"
fi
