#!/usr/bin/env bash
# Smoke test of the built desktop bundle, with nothing of a Python environment on its path:
#   scripts/check_installer.sh dist [--isbi DIR] [--window-seconds 20] [--keep]
# unpacks dist/cephview-<version>-linux-x86_64.tar.gz into an empty temporary folder, runs
# --version, --help, info (DICOM, JPEG 2000 included), predict, measure, report, train and the
# window there under `env -i`, compares with the development install and prints a PASS/FAIL table.
# PYTHON: the development install's interpreter (default .venv/bin/python); it supplies the
# reference outputs and pydicom's DICOM test files.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
[ $# -ge 1 ] || { echo "usage: $0 DIST [--isbi DIR] [--window-seconds S] [--keep]" >&2; exit 2; }
exec "$PY" "$REPO/scripts/check_installer.py" "$@"
