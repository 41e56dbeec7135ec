#!/usr/bin/env bash
# Install everything rnnlang needs on a fresh Debian machine: graphviz's `dot` (diagrams) and the
# Python package with its test extras. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dot >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
