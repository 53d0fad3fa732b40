#!/usr/bin/env bash
# The README's second command: make sure setup is done (seconds when it is), then run the whole
# test suite: fast unit tests, then the real models end to end. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
exec "${COACH_VENV:-.venv}/bin/python" -m pytest "$@"
