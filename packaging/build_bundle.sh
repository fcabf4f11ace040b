#!/usr/bin/env bash
# Build the self-contained folder bundle dist/agentq/ (run `dist/agentq/agentq` to start the app).
# Uses the project's virtualenv; installs PyInstaller into it if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m PyInstaller --version >/dev/null 2>&1 || "$PY" -m pip install --quiet "pyinstaller>=6.3"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "${DIST:-dist}" --workpath "${WORK:-build/pyinstaller}" packaging/agentq.spec
echo "bundle: ${DIST:-dist}/agentq/agentq"
