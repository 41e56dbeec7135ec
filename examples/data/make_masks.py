"""Recreate the connectivity masks the examples use (run from the repository root).

sparse_rec_50.npy: a 50 x 50 recurrent mask keeping each connection with probability 0.5
(seed 0), as PsychRNN's connectivity-mask tutorial does; the diagonal is left to `autapses`."""

import numpy as np

rng = np.random.default_rng(0)
np.save("examples/data/sparse_rec_50.npy", (rng.random((50, 50)) < 0.5).astype(np.float32))
