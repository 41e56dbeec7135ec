#!/usr/bin/env bash
# Install what is needed, then run the test suite (slow training tests are skipped by default;
# run them with: python3 -m pytest -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# --dist loadscope: each test module runs on one worker, so a module's trained fixtures are made once
python3 -m pytest -q -n 2 --dist loadscope "$@"
