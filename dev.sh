#!/usr/bin/env bash
# One entry point for a fresh clone:  ./dev.sh demo   |   ./dev.sh test   [pytest args...]
# Creates .venv (Python 3.10-3.12), installs CMBQuant with everything it needs (CPU torch first, so pip
# never pulls a multi-GB CUDA build), then runs the demo or the test suite.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${CMBQUANT_VENV:-.venv}

pick_python() {
  for py in python3.12 python3.11 python3.10 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))'; then
      echo "$py"; return 0
    fi
  done
  echo "dev.sh: needs Python 3.10-3.12 (Slicer 5.10+ bundles 3.12)" >&2; return 1
}

install_python_deps() {
  local stamp="$VENV/.cmbquant-installed" want
  want=$(cat pyproject.toml dev.sh | sha256sum | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  [[ -x "$VENV/bin/python" ]] || "$(pick_python)" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # CPU torch first (the PyTorch wheel nnU-Net needs); then the project with all extras.
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q "torch==2.13.0" -e ".[slicer,inference,stats,regions,web,dicom,batch,test]"
  echo "$want" > "$stamp"
}

install_browser() {
  # Headless Chromium for the web-review end-to-end test (Debian's build; Playwright drives it).
  if ! command -v chromium >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "dev.sh: could not install chromium; browser tests will be skipped" >&2
    else
      echo "dev.sh: run as root or 'sudo apt-get install chromium' for the browser tests" >&2
    fi
  fi
}

install_dicom3tools() {
  # dciodvfy (Debian's dicom3tools) validates the exported DICOM SEG and SR; the tests that need it skip without it.
  if ! command -v dciodvfy >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dicom3tools >/dev/null) \
        || echo "dev.sh: could not install dicom3tools; the dciodvfy checks will be skipped" >&2
    else
      echo "dev.sh: run as root or 'sudo apt-get install dicom3tools' for the DICOM validation tests" >&2
    fi
  fi
}

cmd=${1:-help}; shift || true
case "$cmd" in
  demo)
    install_python_deps
    "$VENV/bin/cmbquant" demo --out out/demo "$@"
    echo "Open out/demo/demo_case/overview.png, or load out/demo/demo_case/image.nii.gz + cmbs.seg.nrrd in Slicer."
    echo "The commands above run after 'source $VENV/bin/activate' (or call $VENV/bin/cmbquant directly)."
    ;;
  test)
    install_python_deps
    install_browser
    install_dicom3tools
    "$VENV/bin/lint-imports" --no-cache  # the layers contract of docs/architecture.md (pyproject.toml [tool.importlinter])
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
    ;;
  *)
    echo "usage: ./dev.sh demo | test [pytest args]"; exit 1 ;;
esac
