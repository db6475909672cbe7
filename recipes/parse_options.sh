#!/usr/bin/env bash
# Kaldi-style option parsing, sourced by recipes: every variable defined before sourcing
# can be set with --name value (or --name=value); dashes in names map to underscores.
# Unknown options are an error, unless passthrough=true is set before sourcing: then they are
# kept (with their values) in "$@" for the next script, as egs/*/run.sh does for recipes/*.sh.
__args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "options (with current values):"; grep -oE '^[a-z_][a-z0-9_]*=' "$0" | tr -d '=' | sort -u | while read -r v; do printf '  --%s %s\n' "$v" "${!v-}"; done
      exit 0 ;;
    --*=*) __n=${1%%=*}; __n=${__n#--}; __v=${1#*=}; shift ;;
    --*)   __n=${1#--}; [ $# -ge 2 ] || { echo "$0: option --$__n needs a value" >&2; exit 1; }; __v=$2; shift 2 ;;
    *) __args+=("$1"); shift; continue ;;
  esac
  __n=${__n//-/_}
  if ! declare -p "$__n" >/dev/null 2>&1; then
    if [ "${passthrough:-false}" = true ]; then __args+=("--$__n" "$__v"); continue; fi
    echo "$0: unknown option --$__n" >&2; exit 1
  fi
  printf -v "$__n" '%s' "$__v"
done
set -- "${__args[@]+"${__args[@]}"}"
unset __args __n __v
