# Source me: narspeech on PATH, recipes found, quiet Python.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../../tools/activate.sh"
export PYTHONUNBUFFERED=1
