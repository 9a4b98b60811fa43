#!/usr/bin/env bash
# Refresh constraints.txt, the versions the README's commands and .ci/run install: a fresh venv takes the newest
# versions pyproject.toml's ranges allow, the suite runs on them, and only if it passes are they written out.
# Usage: bash scripts/update-constraints.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q torch==2.13.0 -e ".[test,bench]"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
{
    sed -n '1,/^# `bash scripts\/update-constraints.sh`/p' constraints.txt
    # The CPU wheel reports a local version (2.13.0+cpu); the pin without it matches either build.
    "$work/venv/bin/pip" freeze --exclude-editable | grep -v '^genzoo' | sed -E 's/^(torch==[^+]*)\+.*/\1/'
} > "$work/constraints.txt"
mv "$work/constraints.txt" constraints.txt
echo "update-constraints: constraints.txt rewritten with the versions the suite passed with; review 'git diff constraints.txt'"
