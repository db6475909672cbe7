#!/usr/bin/env bash
# The main job on a fresh machine: install (cached), then the small end-to-end TTS recipe
# on an espeak-ng synthetic corpus (egs/espeak/tts1). Extra arguments go to run.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$root/tools/install.sh" | tail -n 1)
export NARSPEECH_VENV="$venv"
cd "$root/egs/espeak/tts1"
./run.sh "$@"
