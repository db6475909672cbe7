#!/usr/bin/env bash
# Set up narspeech on a fresh Debian machine: espeak-ng (apt) and a cached virtual env
# with torch/torchaudio 2.11 and the rest of tools/requirements.txt, narspeech installed
# editable. Idempotent: a second run with unchanged requirements does nothing slow.
# Prints the venv path on its last line.  Env: NARSPEECH_VENV (default ~/.cache/narspeech/venv).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${NARSPEECH_VENV:-$HOME/.cache/narspeech/venv}
python=${PYTHON:-python3}

sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_="sudo"
apt_install() {
  echo "[install] installing $* with apt" >&2
  $sudo_ apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "$@" >&2
}
command -v espeak-ng >/dev/null 2>&1 || apt_install espeak-ng

stamp="$venv/.narspeech-requirements"
want=$(cat "$root/tools/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -c1-16)
if [ ! -x "$venv/bin/python" ]; then
  echo "[install] creating virtual env $venv" >&2
  mkdir -p "$(dirname "$venv")"
  if ! "$python" -m venv "$venv" >&2; then  # Debian's python3 needs python3-venv for ensurepip
    rm -rf "$venv"
    apt_install python3-venv
    "$python" -m venv "$venv"
  fi
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[install] installing requirements into $venv (torch with CUDA wheels: a few GB the first time)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -r "$root/tools/requirements.txt" >&2
  echo "$want" > "$stamp"
fi
# Always (cheap): point the editable install at this checkout, which may be a fresh clone.
if [ ! -x "$venv/bin/narspeech" ] || ! env -u PYTHONPATH "$venv/bin/python" -P - "$root" <<'PY' 2>/dev/null
import sys, pathlib, narspeech
sys.exit(0 if pathlib.Path(narspeech.__file__).resolve().parent.parent == pathlib.Path(sys.argv[1]).resolve() else 1)
PY
then
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$root" >&2
fi
echo "$venv"
