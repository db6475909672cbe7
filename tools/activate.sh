# Source me: puts the narspeech virtual env (made by tools/install.sh) first on PATH, and this checkout first on
# PYTHONPATH, so a recipe runs the code of the checkout it lives in even when the env's editable install points at
# another clone (one env shared by several checkouts, or by a CI clone since deleted).
_ns_venv=${NARSPEECH_VENV:-$HOME/.cache/narspeech/venv}
_ns_root=$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$_ns_venv/bin/narspeech" ]; then
  export PATH="$_ns_venv/bin:$PATH"
elif ! command -v narspeech >/dev/null 2>&1; then
  echo "narspeech is not installed: run tools/install.sh first" >&2
  unset _ns_venv _ns_root
  return 1 2>/dev/null || exit 1
fi
if [ -d "$_ns_root/narspeech" ]; then
  case "${PYTHONPATH:-}" in
    "$_ns_root" | "$_ns_root":*) ;;
    *) export PYTHONPATH="$_ns_root${PYTHONPATH:+:$PYTHONPATH}" ;;
  esac
fi
unset _ns_venv _ns_root
