#!/usr/bin/env bash
# Build the documentation site (mkdocs.yml) into site/, warnings as errors (a broken link fails).
#   bash scripts/docs.sh            build into site/
#   bash scripts/docs.sh serve      preview at http://127.0.0.1:8000 while editing
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e '.[docs]'
export NO_MKDOCS_2_WARNING=1
if [ "${1:-}" = serve ]; then
  exec python3 -m mkdocs serve
fi
python3 -m mkdocs build --strict --clean
echo "docs: built site/ (open site/index.html)"
