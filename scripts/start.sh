#!/usr/bin/env bash
# The README's first command: set everything up (idempotent), then serve the app on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec "${COACH_VENV:-.venv}/bin/coach" serve "$@"
