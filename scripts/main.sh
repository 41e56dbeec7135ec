#!/usr/bin/env bash
# Install what is needed, then the main job end to end: check and draw both examples, train
# PsychRNN's perceptual discrimination to 90%+ accuracy, evaluate the run and plot it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rnn check examples/point_mass_reach.rnn examples/perceptual_discrimination.rnn
mkdir -p runs
rnn diagram examples/point_mass_reach.rnn -o runs/point_mass_reach.svg
rm -rf runs/main-perceptual-discrimination
rnn train examples/perceptual_discrimination.rnn --out runs/main-perceptual-discrimination "$@"
rnn eval runs/main-perceptual-discrimination
