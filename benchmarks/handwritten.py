"""Hand-written JAX + optax training loops of the benchmark models: the speed reference.

Written from the anchors' published model definitions and from what made a hand-written loop
fast on these machines (the batch split over the cores, time-major scans), with no rnnlang code:

- R: Feedbax's point-mass reach, noise-free tutorial version, as examples/point_mass_reach.rnn:
  GRU 8 -> 50 (equinox's GRUCell), linear readout, point mass (m = 1, Euler, dt = 0.05),
  99 steps, batch 250; loss sum_k (k/99)^6 |p_k - g|^2 + |v_99|^2 + 1e-5 sum|y|^2 + 1e-5 sum|h|^2,
  Adam 1e-2.
- P / S: PsychRNN's hello world, as examples/perceptual_discrimination.rnn: CTRNN (relu,
  alpha = 0.1, autapses allowed as in the example, trainable initial state), perceptual
  discrimination trials generated inside JAX, 200 steps, batch 128; masked MSE (mean), each
  gradient clipped to norm 1, Adam 1e-3. S varies the hidden size and the replicates.

What makes them fast (each measured in benchmarks/RESULTS.md's log):
- many optimizer steps per dispatch: a `lax.scan` over training steps inside one jit;
- the batch split over the CPU cores as JAX devices (`shard_map`, gradients averaged with
  `pmean` once per training step, after the time loop), every device generating its own share of
  the trials;
- batch-major state (B, n) and row-vector products (x @ W with W stored (in, out)), time-major
  trial arrays (T, B, n) so the time scan slices the leading axis, trial noise drawn before the
  time loop; loss terms as full reductions (sum / B), never a partial reduction over a
  transposed array;
- on this JAX (0.10.2) `jax_threefry_partitionable = True` (the default) measured 3-5% faster
  than False, the opposite of an earlier profile on a shared machine; `--threefry-partitionable false` gives the other.
- `--fused` hoists the state-independent input projections (the ctrnn's u W_in^T, the GRU's goal
  input) and the ctrnn's readout out of the time loop as single large products: measured 2-9%
  slower here (the (T, B, H) intermediates leave the cache), so it is off by default.

Run as a worker (one process per timed variant; the runner does this):
    python benchmarks/handwritten.py --workload R --k 50 --blocks 5
prints one line of JSON with the timings.
"""

from __future__ import annotations

import abc
import argparse
import json
import math
import os
import sys
import time

T_START = float(os.environ.get("BENCH_T0", time.time()))


def configure(devices: int = 0) -> None:
    """One JAX CPU device per core (must run before jax is imported)."""
    n = devices or min(os.cpu_count() or 1, 8)
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + f" --xla_force_host_platform_device_count={n}").strip()


# ---- the models (imported lazily, after configure) ------------------------------------------------


THREEFRY_PARTITIONABLE = True  # measured here: True (JAX's default) 3-5% faster than False


def _jax():
    import jax

    jax.config.update("jax_threefry_partitionable", THREEFRY_PARTITIONABLE)
    return jax


def _mesh_and_specs():
    import numpy as np
    from jax.sharding import Mesh, PartitionSpec as P

    jax = _jax()
    devs = jax.devices()
    return Mesh(np.array(devs), ("b",)), P, len(devs)


class Workload(abc.ABC):
    """A model + task + optimizer with a chunked training function:
    chunk(params, opt_state, start) -> (params, opt_state, losses (K, R))."""

    name = ""

    def __init__(self, k: int, replicates: int = 1, fused: bool = False, replicate_mode: str = "auto") -> None:
        self.k, self.R, self.fused, self.replicate_mode = k, replicates, fused, replicate_mode
        self.mesh, self.P, self.ndev = _mesh_and_specs()
        if self.batch % self.ndev:
            self.ndev = 1
            import numpy as np
            from jax.sharding import Mesh
            self.mesh = Mesh(np.array(_jax().devices()[:1]), ("b",))
        self.local_batch = self.batch // self.ndev

    # subclass API
    def init_one(self, key): ...
    def loss_one(self, params, trial, key): ...  # one replicate, local batch
    def trials(self, key, batch): ...

    @abc.abstractmethod
    def optimizer(self):
        """The optax optimizer of this workload."""

    def init(self, seed: int = 0):
        jax = _jax()
        import jax.random as jr

        keys = jr.split(jr.PRNGKey(seed), self.R)
        params = jax.vmap(self.init_one)(keys)
        opt_state = jax.vmap(self.optimizer().init)(params)
        return params, opt_state

    def chunk_fn(self):
        jax = _jax()
        import jax.numpy as jnp
        import jax.random as jr
        import optax

        opt = self.optimizer()
        P = self.P
        k_train = jr.PRNGKey(1234)
        R = self.R

        def per_device(params, opt_state, start):
            dev = jax.lax.axis_index("b")

            def grads_of(params, trial, key):
                g = jax.value_and_grad(self.loss_one)
                if R == 1:
                    l, gr = g(jax.tree_util.tree_map(lambda x: x[0], params), trial, key)
                    return l[None], jax.tree_util.tree_map(lambda x: x[None], gr)
                if self.replicate_mode == "map" or (self.replicate_mode == "auto" and getattr(self, "H", 0) >= 128):
                    return jax.lax.map(lambda p: g(p, trial, key), params)
                return jax.vmap(g, in_axes=(0, None, None))(params, trial, key)

            def step(carry, i):
                params, opt_state = carry
                key = jr.fold_in(jr.fold_in(k_train, start + i), dev)
                k_trial, k_noise = jr.split(key)
                trial = self.trials(k_trial, self.local_batch)
                loss, grads = grads_of(params, trial, k_noise)
                grads = jax.lax.pmean(grads, "b")
                loss = jax.lax.pmean(loss, "b")
                updates, opt_state = jax.vmap(opt.update)(grads, opt_state, params)
                params = optax.apply_updates(params, updates)
                return (params, opt_state), loss

            (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(self.k))
            return params, opt_state, losses

        sm = jax.shard_map(per_device, mesh=self.mesh, in_specs=(P(), P(), P()), out_specs=(P(), P(), P()),
                           check_vma=False)
        return jax.jit(sm, donate_argnums=(0, 1))


class Reach(Workload):
    """Feedbax's point_mass_nn_simple_reaches (noise-free), batch-major."""

    name = "R"

    def __init__(self, k: int = 50, replicates: int = 1, fused: bool = False, replicate_mode: str = "auto",
                 hidden: int = 50, batch: int = 250, steps: int = 99, lr: float = 1e-2, one_gate_product: bool = False) -> None:
        self.H, self.batch, self.steps, self.lr, self.dt = hidden, batch, steps, lr, 0.05
        # one product of [input, state] by all gate weights (a zero block keeps the new gate's two
        # terms apart) instead of one for the input and one for the state: measured 0.96x
        self.one_gate_product = one_gate_product
        super().__init__(k, replicates, fused, replicate_mode)

    def optimizer(self):
        import optax

        return optax.adam(self.lr)

    def init_one(self, key):
        import jax.numpy as jnp
        import jax.random as jr

        H = self.H
        k1, k2, k3, k4, k5 = jr.split(key, 5)
        lim = 1.0 / math.sqrt(H)
        u = lambda k, s: jr.uniform(k, s, jnp.float32, -lim, lim)  # noqa: E731
        # stored transposed (in, out) for the batch-major products
        return {"Wih": u(k1, (8, 3 * H)), "Whh": u(k2, (H, 3 * H)), "b": u(k3, (3 * H,)), "bn": u(k4, (H,)),
                "Wout": u(k5, (H, 2)), "bout": jnp.zeros((2,), jnp.float32)}

    def trials(self, key, batch):
        import jax.random as jr

        pts = jr.uniform(key, (2, batch, 2), minval=-1.0, maxval=1.0)
        return {"start": pts[0], "goal": pts[1]}

    def loss_one(self, p, trial, key):
        jax = _jax()
        import jax.numpy as jnp

        H, dt, T = self.H, self.dt, self.steps
        goal, start = trial["goal"], trial["start"]
        B = goal.shape[0]
        sig = jax.nn.sigmoid
        if self.fused:
            gi_goal = goal @ p["Wih"][0:2] + p["b"]  # the goal input is constant over the trial
            Wpv = p["Wih"][4:8]
        if self.one_gate_product:  # columns: r and z (input + state), n's input part, n's state part
            zi, zh = jnp.zeros((8, H)), jnp.zeros((H, H))
            W = jnp.concatenate([jnp.concatenate([p["Wih"][:, :2 * H], p["Wih"][:, 2 * H:], zi], 1),
                                 jnp.concatenate([p["Whh"][:, :2 * H], zh, p["Whh"][:, 2 * H:]], 1)], 0)
            bias = jnp.concatenate([p["b"], jnp.zeros((H,))])

        def body(carry, _):
            h, pos, vel = carry
            if self.one_gate_product:
                g = jnp.concatenate([goal, jnp.zeros_like(goal), pos, vel, h], -1) @ W + bias
                r, z = sig(g[:, :H]), sig(g[:, H:2 * H])
                n = jnp.tanh(g[:, 2 * H:3 * H] + r * (g[:, 3 * H:] + p["bn"]))
            else:
                if self.fused:
                    gi = gi_goal + jnp.concatenate([pos, vel], -1) @ Wpv
                else:
                    x = jnp.concatenate([goal, jnp.zeros_like(goal), pos, vel], -1)
                    gi = x @ p["Wih"] + p["b"]
                gh = h @ p["Whh"]
                r = sig(gi[:, :H] + gh[:, :H])
                z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
                n = jnp.tanh(gi[:, 2 * H:] + r * (gh[:, 2 * H:] + p["bn"]))
            h = n + z * (h - n)
            y = h @ p["Wout"] + p["bout"]
            pos, vel = pos + dt * vel, vel + dt * y
            return (h, pos, vel), (h, pos, y)

        init = (jnp.zeros((B, H), jnp.float32), start, jnp.zeros_like(start))
        (h, pos, vel), (hs, ps, ys) = jax.lax.scan(body, init, None, length=T)
        w = (jnp.arange(1, T + 1, dtype=jnp.float32) / T) ** 6
        err = jnp.sum((ps - goal[None]) ** 2, axis=-1)  # (T, B)
        pos_term = jnp.sum(w @ err) / B
        vel_term = jnp.sum(vel * vel) / B
        effort = 1e-5 * jnp.sum(ys * ys) / B
        activity = 1e-5 * jnp.sum(hs * hs) / B
        return pos_term + vel_term + effort + activity


class Discrimination(Workload):
    """PsychRNN's Basic CTRNN on perceptual discrimination, batch-major, trials in JAX."""

    name = "P"

    def __init__(self, k: int = 50, replicates: int = 1, fused: bool = False, replicate_mode: str = "auto",
                 hidden: int = 50, batch: int = 128, steps: int = 200, lr: float = 1e-3) -> None:
        self.H, self.batch, self.steps, self.lr = hidden, batch, steps, lr
        self.dt, self.tau = 10.0, 100.0
        self.alpha = self.dt / self.tau
        super().__init__(k, replicates, fused, replicate_mode)

    def optimizer(self):
        import jax.numpy as jnp
        import optax

        def per_tensor(updates, params=None):
            import jax

            def one(g):
                norm = jnp.sqrt(jnp.sum(g * g))
                return g * jnp.minimum(1.0, 1.0 / jnp.maximum(norm, 1e-12))
            return jax.tree_util.tree_map(one, updates)

        return optax.chain(optax.stateless(per_tensor), optax.adam(self.lr))

    def init_one(self, key):
        import jax.numpy as jnp
        import jax.random as jr
        import numpy as np
        import jax

        H = self.H
        k_in, k_rec, k_out, k_state = jr.split(key, 4)
        W = jr.normal(k_rec, (H, H), jnp.float32)

        def radius(m):
            return np.asarray(np.max(np.abs(np.linalg.eigvals(np.asarray(m, np.float64)))), np.float32)

        rho = jax.pure_callback(radius, jax.ShapeDtypeStruct((), jnp.float32), W, vmap_method="sequential")
        # stored transposed (in, out) for the batch-major products
        return {"W_in": jr.normal(k_in, (2, H)) * math.sqrt(2.0 / (2 + H)),
                "W_rec": (1.1 * W / rho).T,
                "W_out": jr.normal(k_out, (H, 2)) * math.sqrt(2.0 / (2 + H)),
                "b_rec": jnp.zeros((H,)), "b_out": jnp.zeros((2,)),
                "init_state": 0.1 + 0.01 * jr.normal(k_state, (H,))}

    def trials(self, key, batch):
        """Time-major (T, B, 2) input, target and mask of PsychRNN's PerceptualDiscrimination."""
        import jax.numpy as jnp
        import jax.random as jr

        T, dt = self.steps, self.dt
        Tms = T * dt
        k_coh, k_dir, k_on, k_dur, k_noise = jr.split(key, 5)
        coh = jnp.asarray([0.1, 0.3, 0.5, 0.7])[jr.randint(k_coh, (batch,), 0, 4)]
        direction = jr.randint(k_dir, (batch,), 0, 2)
        onset = Tms * 0.5 * jr.uniform(k_on, (batch,))
        dur = Tms * (0.125 + 0.25 * jr.uniform(k_dur, (batch,)))
        end = onset + dur
        t = (jnp.arange(T, dtype=jnp.float32) * dt)[:, None]  # (T, 1)
        stim = ((t > onset) & (t < end))[..., None]  # (T, B, 1)
        is_dir = jnp.arange(2)[None, :] == direction[:, None]  # (B, 2)
        level = 1.0 + coh[:, None] * is_dir
        std = math.sqrt(2 * 0.01 * math.sqrt(10) * math.sqrt(dt) * 0.1 ** 2)
        x = std * jr.normal(k_noise, (T, batch, 2)) + jnp.where(stim, level[None], 0.0)
        choice = jnp.where(is_dir, 1.0, 0.2)
        y = jnp.where((t > end + 20.0)[..., None], choice[None], 0.0)
        mask = jnp.broadcast_to((t >= end)[..., None], y.shape).astype(jnp.float32)
        return {"x": x, "y": y, "mask": mask}

    def forward(self, p, trial):
        """Outputs (T, B, 2)."""
        jax = _jax()
        import jax.numpy as jnp

        a = self.alpha
        x = trial["x"]
        T, B, _ = x.shape
        s0 = jnp.broadcast_to(p["init_state"], (B, self.H))
        if self.fused:
            drive_in = x @ p["W_in"] + p["b_rec"]  # (T, B, H), one product before the loop

            def body(s, d):
                s = (1 - a) * s + a * (jnp.maximum(s, 0.0) @ p["W_rec"] + d)
                return s, s

            _, ss = jax.lax.scan(body, s0, drive_in)
            return jnp.maximum(ss, 0.0) @ p["W_out"] + p["b_out"]

        def body(s, u):
            s = (1 - a) * s + a * (jnp.maximum(s, 0.0) @ p["W_rec"] + u @ p["W_in"] + p["b_rec"])
            return s, jnp.maximum(s, 0.0) @ p["W_out"] + p["b_out"]

        _, ys = jax.lax.scan(body, s0, x)
        return ys

    def loss_one(self, p, trial, key):
        import jax.numpy as jnp

        ys = self.forward(p, trial)
        e = trial["mask"] * (ys - trial["y"])
        return jnp.sum(e * e) / e.size  # mean over the local batch, time and outputs

    def accuracy_fn(self):
        """jitted (params of one replicate, trial) -> fraction correct (PsychRNN's rule)."""
        jax = _jax()
        import jax.numpy as jnp

        def acc(p, trial):
            ys = self.forward(p, trial)
            m = trial["mask"]
            chosen = jnp.argmax(jnp.mean(ys * m, axis=0), axis=-1)
            truth = jnp.argmax(jnp.mean(trial["y"] * m, axis=0), axis=-1)
            return jnp.mean(chosen == truth)

        return jax.jit(acc)


WORKLOADS = {"R": Reach, "P": Discrimination, "S": Discrimination}


# ---- worker ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=("R", "P", "S"), required=True)
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--replicates", type=int, default=1)
    ap.add_argument("--k", type=int, default=50, help="training steps per dispatch")
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--block-dispatches", type=int, default=1, help="dispatches of K steps per timed block")
    ap.add_argument("--warmup", type=int, default=1, help="untimed dispatches after the first")
    ap.add_argument("--mode", choices=("speed", "accuracy"), default="speed")
    ap.add_argument("--check-every", type=int, default=10, help="accuracy mode: batches between checks")
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--max-batches", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--devices", type=int, default=0)
    ap.add_argument("--fused", action="store_true",
                    help="hoist the state-independent input projections and the ctrnn readout out of the time loop "
                         "(measured here: 2-9%% slower)")
    ap.add_argument("--replicate-mode", choices=("auto", "vmap", "map"), default="auto",
                    help="replicates by vmap, or one after the other (lax.map); auto: map from 128 units "
                         "(measured: map 1.27-1.43x faster at 128-256 units x 5, vmap 1.05-1.18x faster at 50 units)")
    ap.add_argument("--threefry-partitionable", choices=("true", "false"), default="true",
                    help="jax_threefry_partitionable (an earlier profile found false faster; here true is 3-5%% faster)")
    ap.add_argument("--no-ttfs", action="store_true", help="skip the time-to-first-step program")
    ap.add_argument("--budget", type=float, default=0.0, help="seconds for the timed blocks (0: no limit)")
    a = ap.parse_args(argv)
    configure(a.devices)
    global THREEFRY_PARTITIONABLE
    THREEFRY_PARTITIONABLE = a.threefry_partitionable == "true"
    jax = _jax()
    cls = WORKLOADS[a.workload]
    kw = {} if a.hidden is None else {"hidden": a.hidden}
    out: dict = {"variant": "handwritten", "workload": a.workload, "devices": len(jax.devices())}
    if a.mode == "accuracy":
        return _accuracy(a, cls, kw, out)

    w = cls(k=a.k, replicates=a.replicates, fused=a.fused, replicate_mode=a.replicate_mode, **kw)
    if a.no_ttfs:
        params, opt_state = w.init(a.seed)
    else:
        # time to first step: a one-step program, compiled and run once
        w1 = cls(k=1, replicates=a.replicates, fused=a.fused, replicate_mode=a.replicate_mode, **kw)
        params, opt_state = w1.init(a.seed)
        params, opt_state, losses = w1.chunk_fn()(params, opt_state, 0)
        jax.block_until_ready(losses)
        out["time_to_first_step_s"] = time.time() - T_START
    f = w.chunk_fn()
    t = time.perf_counter()
    params, opt_state, losses = f(params, opt_state, 1)
    jax.block_until_ready(losses)
    t1 = out["first_dispatch_s"] = time.perf_counter() - t
    start = 1 + a.k
    n_blocks, warmup = a.blocks, a.warmup
    if a.budget:  # as many blocks as fit the budget (at least two); one warm-up dispatch when slow
        n_blocks = max(2, min(a.blocks, int(a.budget / max(t1 * a.block_dispatches, 1e-9))))
        warmup = min(warmup, 1) if t1 > a.budget / 4 else warmup  # as run.py's _budget
    for _ in range(warmup):
        params, opt_state, losses = f(params, opt_state, start)
        start += a.k
    jax.block_until_ready(losses)
    blocks = []
    for _ in range(n_blocks):
        t = time.perf_counter()
        for _ in range(a.block_dispatches):
            params, opt_state, losses = f(params, opt_state, start)
            start += a.k
        jax.block_until_ready((params, losses))
        blocks.append(a.k * a.block_dispatches / (time.perf_counter() - t))
    out.update(k=a.k, batch=w.batch, replicates=a.replicates, steps_per_s_blocks=blocks,
               final_loss=float(losses[-1].mean()))
    print(json.dumps(out), flush=True)
    return 0


def _accuracy(a, cls, kw, out) -> int:
    """Train with a check of accuracy on a fixed set of 128 trials every `check_every` batches;
    report the wall time (from process start) when it first reaches the target."""
    jax = _jax()
    import jax.random as jr

    w = cls(k=a.check_every, replicates=1, fused=a.fused, **kw)
    params, opt_state = w.init(a.seed)
    f = w.chunk_fn()
    acc = w.accuracy_fn()
    val = w.trials(jr.PRNGKey(999), 128)
    start, reached = 0, None
    history = []
    while start < a.max_batches:
        params, opt_state, losses = f(params, opt_state, start)
        start += a.check_every
        v = float(acc(jax.tree_util.tree_map(lambda x: x[0], params), val))
        history.append((start, round(v, 4)))
        if v >= a.target:
            reached = time.time() - T_START
            break
    out.update(mode="accuracy", target=a.target, time_to_target_s=reached, batches=start,
               trials=start * w.batch, history=history[-5:])
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
