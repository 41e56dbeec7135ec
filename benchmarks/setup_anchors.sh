#!/usr/bin/env bash
# Create the anchors' throwaway virtual environments OUTSIDE the repository (never committed).
#
#   benchmarks/setup_anchors.sh [VENV_ROOT] [FEEDBAX_SOURCE]
#
# VENV_ROOT defaults to /tmp/bench-venvs. It gets:
#   psychrnn/  PsychRNN 1.0.0 + TensorFlow CPU. pip must be below 24.1 and PsychRNN installed with
#              --no-deps: its metadata has a non-standard `python-version` requirement, and recent
#              pip skips 1.0.0 and silently installs 0.3 instead.
#   feedbax/   Feedbax from its source (its only wheel lacks the `mechanics` and `xabdeef`
#              subpackages) with the versions its source needs: jax 0.5.2, jaxlib 0.5.1,
#              equinox 0.11.12, optax 0.2.4, diffrax 0.7.0.
# FEEDBAX_SOURCE is a checkout (or a bare git directory) of github.com/mlprt/feedbax; a bare git
# directory is exported into VENV_ROOT/feedbax-src. Without it only PsychRNN is installed.
# Each step logs to VENV_ROOT/<name>.log; a failed anchor leaves VENV_ROOT/<name>.FAILED.
set -u
ROOT="${1:-/tmp/bench-venvs}"
FEEDBAX_SRC="${2:-}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
REPO="$(cd "$(dirname "$0")/.." && pwd)"
case "$(realpath -m "$ROOT")/" in
  "$REPO"/*) echo "setup_anchors: refusing to create venvs inside the repository ($ROOT)" >&2; exit 2;;
esac
mkdir -p "$ROOT"

psychrnn() {
  local V="$ROOT/psychrnn"
  rm -f "$ROOT/psychrnn.FAILED"
  (
    set -ex
    "$PY" -m venv "$V"
    "$V/bin/python" -m pip install "pip<24.1"
    "$V/bin/python" -m pip install "tensorflow-cpu>=2.13,<2.17" "numpy<2"
    "$V/bin/python" -m pip install --no-deps "psychrnn==1.0.0"
    "$V/bin/python" -c "from psychrnn._version import __version__ as v; import tensorflow as tf; assert v == '1.0.0', v; print('psychrnn', v, 'tf', tf.__version__)"
  ) >"$ROOT/psychrnn.log" 2>&1 || { echo "see $ROOT/psychrnn.log" >"$ROOT/psychrnn.FAILED"; return 1; }
}

feedbax() {
  local V="$ROOT/feedbax" SRC="$FEEDBAX_SRC"
  rm -f "$ROOT/feedbax.FAILED"
  (
    set -ex
    if [ -d "$SRC" ] && [ ! -d "$SRC/feedbax" ]; then  # a bare git directory: export its HEAD
      rm -rf "$ROOT/feedbax-src" && mkdir -p "$ROOT/feedbax-src"
      git --git-dir="$SRC" archive HEAD | tar -x -C "$ROOT/feedbax-src"
      SRC="$ROOT/feedbax-src"
    fi
    "$PY" -m venv "$V"
    "$V/bin/python" -m pip install "pip<24.1"
    "$V/bin/python" -m pip install "jax==0.5.2" "jaxlib==0.5.1" "equinox==0.11.12" "optax==0.2.4" \
      "diffrax==0.7.0" "jaxtyping>=0.2.38" "numpy<2.3" crc32c matplotlib plotly polars seaborn tensorboardx tqdm
    "$V/bin/python" -m pip install --no-deps "$SRC"
    "$V/bin/python" -c "import feedbax, feedbax.xabdeef, jax; print('feedbax ok, jax', jax.__version__)"
    echo "$SRC" >"$V/FEEDBAX_SOURCE"
  ) >"$ROOT/feedbax.log" 2>&1 || { echo "see $ROOT/feedbax.log" >"$ROOT/feedbax.FAILED"; return 1; }
}

rc=0
psychrnn || { echo "PsychRNN install failed: $ROOT/psychrnn.log"; rc=1; }
if [ -n "$FEEDBAX_SRC" ]; then
  feedbax || { echo "Feedbax install failed: $ROOT/feedbax.log"; rc=1; }
else
  echo "no Feedbax source given; skipped (clone mlprt/feedbax from GitHub and pass its path)"
fi
echo "venvs in $ROOT"
exit $rc
