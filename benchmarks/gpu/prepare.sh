#!/usr/bin/env bash
# Prepare the folder that benchmarks/gpu/run.sh needs on a GPU machine (no network, no espeak-ng there).
# Run on the CPU machine, from anywhere; writes (by default) the ignored folder .device/ at the repo root:
#   .device/wheels/          py3.12 wheels the GPU image lacks (../shared/tools/device-wheels.sh,
#                            pinned to this environment's versions) + pystoi
#   .device/data/arctic_fb/  train/dev/test Kaldi dirs (+ `token`, phonemes from espeak-ng here),
#                            tokens.txt, flac/ (the audio they name); the layout of ../shared/data
#   .device/phonemes.json    espeak-ng's phonemes of every dev/test transcript (the run's frontend)
#   .device/models/          trained ASR (Mask-CTC + AR) and corrector (FastCorrect + AR) exps, float16, with
#                            the first 20 utterances of the ASR's dump and 200 hypotheses: `bench asr|correct`
#                            time real decoding on the GPU (defaults: the speechocean762 recipes' exps, when present)
#   .device/manifest.json    what was prepared, when, from which commit, and the sizes
# Then, on the device machine (carry .device):  bash benchmarks/gpu/run.sh --minutes 8 --device cuda
#   benchmarks/gpu/prepare.sh                       # everything; arctic_fb train gets what the models leave of --max_mib
#   benchmarks/gpu/prepare.sh --train 400           # a smaller training set
#   benchmarks/gpu/prepare.sh --asr_maskctc EXP --asr_ar EXP --asr_dump DUMP --asr_threshold 0.3   # other ASR models
#   benchmarks/gpu/prepare.sh --out /tmp/p --wheels false --train 8 --dev 2 --test 3   # the CPU test's form
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=.device             # output folder (relative paths are relative to the repo root)
corpus=""               # Kaldi-style corpus with train/dev/test (default ../shared/data/arctic_fb)
train=""                # first N utterances of each set (empty: all)
dev=""
test=""
wheels=true             # download the wheels (needs the package registry)
max_mib=60              # refuse a folder larger than this (the device call carries 64 MiB in all)
models=true             # carry trained ASR / corrector exps (those given, else the defaults below that exist)
so=egs/speechocean762
asr_maskctc=$so/asr1/exp/maskctc      # Mask-CTC exp (its avg5.pt, else best.pt)
asr_ar=$so/asr1/exp/ar                # AR exp, same encoder
asr_dump=$so/asr1/dump/dev            # its first asr_utts utterances are timed
asr_utts=20
asr_threshold=0.5                     # Mask-CTC threshold the GPU rows use (the CPU rows in benchmarks/README.md: 0.5)
correct_fc=$so/ec1/exp/fc_snap        # FastCorrect exp
correct_ar=$so/ec1/exp/ar_snap        # AR corrector exp
correct_hyp=$so/ec1/exp/snap_dev/maskctc_maskctc_lp_th0.5_it5/hyp   # the hypotheses the CPU rows corrected
python=${PYTHON:-}

while [ $# -gt 0 ]; do
  case "$1" in
    --out|--corpus|--train|--dev|--test|--wheels|--max_mib|--max-mib|--models|--asr_maskctc|--asr_ar|--asr_dump|--asr_utts|\
    --asr_threshold|--correct_fc|--correct_ar|--correct_hyp)
      [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 2; }
      v=${1#--}; v=${v//-/_}; printf -v "$v" '%s' "$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "$0: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done

cd "$root"
if [ -z "$python" ]; then
  if [ -x "${NARSPEECH_VENV:-$HOME/.cache/narspeech/venv}/bin/python" ]; then python=${NARSPEECH_VENV:-$HOME/.cache/narspeech/venv}/bin/python
  else python=python3; fi
fi
ns_python=$python
. recipes/lib.sh   # log, ns (through $ns_python)
if [ -z "$corpus" ]; then
  corpus=$("$python" -c 'from narspeech.paths import shared_data_dir; print(shared_data_dir() / "arctic_fb")')
fi
[ -d "$corpus/train" ] || { echo "$0: no corpus at $corpus (train/dev/test Kaldi dirs)" >&2; exit 1; }
command -v espeak-ng >/dev/null || { echo "$0: espeak-ng is needed here (phonemes are made on this machine)" >&2; exit 1; }

mkdir -p "$out"
data="$out/data/arctic_fb"

if [ "$wheels" = true ]; then
  log "wheels -> $out/wheels"
  wdir="$out/wheels"
  rm -rf "$wdir"
  dw="$root/../shared/tools/device-wheels.sh"
  [ -f "$dw" ] || { echo "$0: $dw not found (the shared wheel list); use --wheels false" >&2; exit 1; }
  bash "$dw" "$wdir" >&2
  plat="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any"
  fetch() {  # one wheel, no dependencies, for the GPU machine's python 3.12
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $plat -d "$wdir" "$1" >&2
  }
  for extra in pystoi; do fetch "$extra" || log "no py3.12 wheel for $extra"; done
  # the latest version of each unless this environment has another: the GPU run tests what CI tests
  for w in "$wdir"/*.whl; do
    base=$(basename "$w"); name=${base%%-*}; ver=$(echo "$base" | cut -d- -f2)
    want=$("$python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$name" 2>/dev/null || true)
    if [ -n "$want" ] && [ "$want" != "$ver" ]; then
      if fetch "$name==$want"; then rm -f "$w"; log "pinned $name $ver -> $want"; fi
    fi
  done
  ls "$wdir" >&2
fi

rm -rf "$out/models"
if [ "$models" = true ]; then
  margs=()
  if [ -d "$asr_maskctc" ] && [ -d "$asr_ar" ] && [ -d "$asr_dump" ]; then
    margs+=(--asr-maskctc "$asr_maskctc" --asr-ar "$asr_ar" --asr-dump "$asr_dump" --asr-utts "$asr_utts" --asr-threshold "$asr_threshold")
  else
    log "no ASR models at $asr_maskctc / $asr_ar / $asr_dump: the GPU run will skip bench asr"
  fi
  if [ -d "$correct_fc" ] && [ -d "$correct_ar" ] && [ -f "$correct_hyp" ]; then
    margs+=(--correct-fc "$correct_fc" --correct-ar "$correct_ar" --correct-hyp "$correct_hyp")
  else
    log "no correctors at $correct_fc / $correct_ar / $correct_hyp: the GPU run will skip bench correct"
  fi
  if [ ${#margs[@]} -gt 0 ]; then
    log "trained models -> $out/models"
    "$python" benchmarks/gpu/prepare.py models "$out/models" "${margs[@]}"
  fi
fi

# what a device call carries besides this folder: tracked and untracked-not-ignored files (64 MiB in all)
tree_kib=$(git ls-files -co --exclude-standard -z 2>/dev/null | du -ck --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)

log "data: $corpus -> $data"
rm -rf "$data"
sizes=()
if [ -n "$train" ]; then sizes+=(--train "$train")
else  # train gets what the rest leaves of max_mib (the wheels, the models and the tree's share of the 64 MiB carry kept)
  used_kib=$(du -sk "$out" | cut -f1)
  budget=$(( max_mib - (used_kib + 1023) / 1024 - 3 ))   # 3 MiB for text, tokens and phonemes
  left=$(( 64 - (${tree_kib:-0} + 1023) / 1024 - (used_kib + 1023) / 1024 - 3 ))
  [ "$left" -lt "$budget" ] && budget=$left
  sizes+=(--budget-mib "$budget")
fi
[ -n "$dev" ] && sizes+=(--dev "$dev")
[ -n "$test" ] && sizes+=(--test "$test")
"$python" benchmarks/gpu/prepare.py data "$corpus" "$data" "${sizes[@]}"
for s in train dev test; do
  ns text tokenize "$data/$s" --kind phoneme --language en-us
done
# the inventory of all three sets (the recipe lists train's alone): a subset's train must not make dev/test unusable
ns text vocab "$data/train" "$data/dev" "$data/test" --out "$data/tokens.txt"
"$python" benchmarks/gpu/prepare.py phonemes "$out/phonemes.json" "$data/dev" "$data/test" --language en-us

size_kib=$(du -sk "$out" | cut -f1)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
"$python" - "$out" "$size_kib" "$commit" "$corpus" <<'EOF'
import json, sys, time
from pathlib import Path
out, kib, commit, corpus = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = out / "data" / "arctic_fb"
sets = {s: sum(1 for _ in open(data / s / "wav.scp")) for s in ("train", "dev", "test")}
wheels = sorted(p.name for p in (out / "wheels").glob("*.whl")) if (out / "wheels").is_dir() else []
models = out / "models" / "models.json"
man = {"prepared": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit, "corpus": corpus,
       "utts": sets, "wheels": wheels, "models": json.loads(models.read_text()) if models.is_file() else {},
       "size_mib": round(kib / 1024, 1)}
(out / "manifest.json").write_text(json.dumps(man, indent=1) + "\n")
print(json.dumps(man))
EOF
size_mib=$(( (size_kib + 1023) / 1024 ))
if [ "$size_mib" -gt "$max_mib" ]; then
  echo "$0: $out is ${size_mib} MiB, over --max_mib $max_mib: use --train N for a smaller training set (or --models false)" >&2
  exit 1
fi
log "done: $out (${size_mib} MiB)"
total_mib=$(( (${tree_kib:-0} + size_kib + 1023) / 1024 ))
if [ "$total_mib" -gt 64 ]; then
  log "warning: the working tree (${tree_kib:-0} KiB outside ignored paths) plus $out make ${total_mib} MiB, over the 64 MiB a device call carries: move untracked scratch out of the tree or use --train N"
else
  log "a device call with --carry $out sends about ${total_mib} MiB (limit 64)"
fi
