#!/usr/bin/env bash
# The recipe prelude, sourced by recipes/*.sh after parse_options.sh: logging, stage selection, the
# narspeech calls, and the feature stage every task shares. Reads $stage, $stop_stage, $ngpu,
# $feats_conf, $device, $nj of the sourcing script (benchmarks/gpu/prepare.sh uses log and ns).
log() { echo -e "$(date '+%F %T') [$(basename "$0")] $*" >&2; }
banner() { log "===== stage $1: $2 ====="; }
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
ns() {  # the narspeech CLI; through "$ns_python -m narspeech" when a script sets ns_python
  if [ -n "${ns_python:-}" ]; then "$ns_python" -m narspeech "$@"; else narspeech "$@"; fi
}
ns_train() {  # training commands: plain on one device, torchrun (DDP) on several GPUs
  if [ "${ngpu:-1}" -gt 1 ]; then torchrun --standalone --nproc-per-node "$ngpu" -m narspeech "$@"; else narspeech "$@"; fi
}
feats_stage() {  # $1: the training set (its dump gets the global statistics); $2…: every set to extract
  local train=$1 s
  shift
  for s in "$@"; do
    ns feats extract "data/$s" "dump/$s" --config "$feats_conf" --device "$device" --jobs "$nj"
  done
  ns feats stats "dump/$train"
}
