#!/usr/bin/env bash
# Build the VS Code extension, editors/vscode/rnnlang-<version>.vsix, from a clean checkout:
# the locked dependencies (npm ci), then vsce package. Needs node >= 20 and the npm registry.
# Install the result with: code --install-extension editors/vscode/rnnlang-<version>.vsix
set -euo pipefail
cd "$(dirname "$0")"

version=$(node -p 'require("./package.json").version')
npm ci --no-audit --no-fund
# the grammar, as VS Code runs it (Oniguruma), over every model file of the repository
find ../.. -name '*.rnn' -not -path '*/node_modules/*' -print0 | xargs -0 node check-grammar.js
npx --no-install vsce package --skip-license --allow-missing-repository --out "rnnlang-${version}.vsix"
echo "built $(pwd)/rnnlang-${version}.vsix"
