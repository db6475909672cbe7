# Source me: puts the narspeech virtual env (made by tools/install.sh) first on PATH.
_ns_venv=${NARSPEECH_VENV:-$HOME/.cache/narspeech/venv}
if [ -x "$_ns_venv/bin/narspeech" ]; then
  export PATH="$_ns_venv/bin:$PATH"
elif ! command -v narspeech >/dev/null 2>&1; then
  echo "narspeech is not installed: run tools/install.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
unset _ns_venv
