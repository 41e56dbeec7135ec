"""PsychRNN's hello world (its "Minimal Example" notebook) as written, seeds set to 0, then its
accuracy by the task's own accuracy_function on 8 fresh batches of 128 trials; prints one line of
JSON. Runs in the PsychRNN environment that benchmarks/setup_anchors.sh makes (outside the
repository), not in rnnlang's:

    /tmp/bench-venvs/psychrnn/bin/python benchmarks/psychrnn_hello.py

docs/from-psychrnn.md ("Measured") compares it with the same model trained by rnnlang."""
import time, json, warnings
warnings.filterwarnings('ignore')
import numpy as np, tensorflow as tf, random
tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
from psychrnn.tasks.perceptual_discrimination import PerceptualDiscrimination
from psychrnn.backend.models.basic import Basic
seed = 0
tf.compat.v2.random.set_seed(seed); random.seed(seed); np.random.seed(seed)
t0 = time.time()
pd = PerceptualDiscrimination(dt = 10, tau = 100, T = 2000, N_batch = 128)
network_params = pd.get_task_params()
network_params['name'] = 'model'
network_params['N_rec'] = 50
model = Basic(network_params)
losses, _, _ = model.train(pd, {'verbosity': False})
t1 = time.time()
accs = []
for _ in range(8):
    x, y, m, _ = pd.get_trial_batch()
    out, _ = model.test(x)
    accs.append(pd.accuracy_function(y, out, m))
print(json.dumps({"train_s": round(t1 - t0, 1), "batches": len(losses), "last_loss": float(losses[-1]),
                  "accuracy_first_batch": float(accs[0]), "accuracy_1024": float(np.mean(accs))}))
model.destruct()
