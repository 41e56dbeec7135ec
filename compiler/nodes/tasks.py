"""Task node kinds: reaching tasks after Feedbax and cognitive tasks after PsychRNN.

Every task makes its trials inside JAX, vectorised over the batch and deterministic for a key
(see `api.TaskImpl`). Step k = 0..T-1 of a trial is the model's k-th update: the signals at
index k are what the model sees and is scored on during that update.

Reaches (time in steps; Feedbax's `n_steps` time points = the initial state + T updates):
  simple_reaches    start and goal uniform in the workspace, the goal shown from the first step.
  delayed_reaches   random epochs (start, target on, delay), hold until movement onset.
Cognitive tasks (time in the units of `dt`, milliseconds for PsychRNN; trial length
T = steps * dt; step k happens at time t = k * dt, as in PsychRNN's `generate_trial`):
  perceptual_discrimination, delayed_discrimination, match_to_category.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .api import ConfigError, NodeConfig, TaskImpl, Trial
from .base import NodeKind, Param, Port, register
from .lazy import lazy

jax = lazy("jax")
jnp = lazy("jax.numpy")
jr = lazy("jax.random")

Array = Any
POSVEL = {"pos": (0, 2), "vel": (2, 4)}


# ---------------------------------------------------------------------------------------------
# shared helpers


def _merge(params: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Task parameters with a curriculum stage's overrides applied."""
    if not overrides:
        return dict(params)
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ValueError(f"unknown task parameter(s) in overrides: {', '.join(unknown)}")
    return {**params, **overrides}


def _f32(x: Any) -> Array:
    return jnp.asarray(x, dtype=jnp.float32)


def _time_grid(config: NodeConfig) -> Array:
    """Times t_k = k * dt of the steps k = 0..T-1, shape (T,)."""
    return jnp.arange(config.steps, dtype=jnp.float32) * jnp.float32(config.dt)


def _repeats_to(n_conditions: int, at_least: int) -> int:
    """How many times a condition grid repeats to reach `at_least` trials."""
    return max(1, math.ceil(at_least / n_conditions))


def masked_choice(output: Array, mask: Array) -> Array:
    """PsychRNN's choice: the channel with the highest time-average of output * mask.

    output, mask: (B, T, n). The average runs over all T steps (as PsychRNN's `np.mean`);
    ties go to the lowest channel. Returns (B,) int32.
    """
    return jnp.argmax(jnp.mean(output * mask, axis=1), axis=-1).astype(jnp.int32)


def psychrnn_correct(response: Array, target: Array, mask: Array) -> Array:
    """PsychRNN's accuracy rule per trial, (B,) float32 of 0/1.

    The response's masked choice is compared with the target's masked choice; a trial whose
    mask is all zero counts as correct (both choices are then channel 0 in PsychRNN).
    """
    same = masked_choice(response, mask) == masked_choice(target, mask)
    empty = jnp.all(mask == 0, axis=(1, 2))
    return jnp.logical_or(same, empty).astype(jnp.float32)


def psychrnn_noise_std(dt: float, noise: Any) -> Array:
    """Input noise std of PsychRNN's discrimination tasks: sqrt(2 * 0.01 * sqrt(10) * sqrt(dt) * noise^2).

    (PsychRNN >= 1.0 formula; it equals sqrt(2 * alpha) * noise at dt = 10, tau = 100.)
    """
    return jnp.sqrt(jnp.float32(2 * 0.01 * math.sqrt(10) * math.sqrt(dt))) * jnp.abs(_f32(noise))


def _check_range(name: str, value: Any) -> None:
    """A 2-vector [a, b] with 0 <= a <= b."""
    v = np.asarray(value, dtype=float)
    if v.shape != (2,) or not (0 <= v[0] <= v[1]):
        raise ConfigError(f"`{name}` must be [a, b] with 0 <= a <= b, got {value!r}", name)


class _CognitiveTask(TaskImpl):
    """Shared metrics of the PsychRNN tasks: `correct` (accuracy rule) and `choice`."""

    def metrics(self, signals: Mapping[str, Array], trial: Trial) -> dict[str, Array]:
        response = _f32(signals["response"])
        target = trial["signals"]["target"]
        mask = trial["signals"]["mask"]
        return {
            "correct": psychrnn_correct(response, target, mask),
            "choice": masked_choice(response, mask).astype(jnp.float32),
        }


# ---------------------------------------------------------------------------------------------
# reaches (Feedbax)


def _workspace(value: Any) -> np.ndarray:
    ws = np.asarray(value, dtype=np.float32)
    if ws.shape != (2, 2) or not np.all(ws[0] <= ws[1]):
        raise ConfigError(f"`workspace` must be [[xmin, ymin], [xmax, ymax]] with min <= max, got {value!r}", "workspace")
    return ws


def _with_zero_vel(pos: Array) -> Array:
    """(..., 2) positions -> (..., 4) states with zero velocity."""
    return jnp.concatenate([pos, jnp.zeros_like(pos)], axis=-1)


def _uniform_endpoints(key: Array, workspace: Array) -> tuple[Array, Array]:
    """One trial's start and goal, independent and uniform in the workspace (Feedbax's
    `uniform_tuples(key, 2, workspace)`: row 0 the start, row 1 the goal)."""
    ws = _f32(workspace)
    pts = jr.uniform(key, (2, 2), minval=ws[0], maxval=ws[1], dtype=jnp.float32)
    return pts[0], pts[1]


def internal_grid_points(workspace: Array, n: int) -> Array:
    """n x n evenly spaced points strictly inside the workspace, x varying fastest (Feedbax)."""
    ws = _f32(workspace)
    xs = jnp.linspace(ws[0, 0], ws[1, 0], n + 2)[1:-1]
    ys = jnp.linspace(ws[0, 1], ws[1, 1], n + 2)[1:-1]
    gx, gy = jnp.meshgrid(xs, ys)
    return jnp.stack([gx.ravel(), gy.ravel()], axis=1)


def center_out(workspace: Array, grid_n: int, n_directions: int, length: float) -> dict[str, Array]:
    """Center-out reach sets: `n_directions` reaches of `length` at angles 2*pi*j/n from each
    internal grid point. Trial i uses centre i // n_directions and direction i % n_directions."""
    centres = internal_grid_points(workspace, grid_n)
    angles = jnp.linspace(0.0, 2 * jnp.pi, n_directions + 1, dtype=jnp.float32)[:-1]
    n_c = grid_n * grid_n
    centre_idx = jnp.repeat(jnp.arange(n_c, dtype=jnp.int32), n_directions)
    direction = jnp.tile(jnp.arange(n_directions, dtype=jnp.int32), n_c)
    angle = angles[direction]
    start = centres[centre_idx]
    goal = start + jnp.float32(length) * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    return {"start": start, "goal": goal, "direction": direction, "angle": angle, "centre": centre_idx}


class _ReachTask(TaskImpl):
    """Shared parts of the reach tasks: workspace, validation geometry, metrics."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.workspace = _workspace(self.p["workspace"])
        for name in ("eval_grid_n", "eval_n_directions"):
            if int(self.p[name]) < 1:
                raise ConfigError(f"`{name}` must be >= 1, got {self.p[name]!r}", name)

    def _validation_geometry(self) -> dict[str, Array]:
        return center_out(self.workspace, int(self.p["eval_grid_n"]),
                          int(self.p["eval_n_directions"]), float(self.p["eval_length"]))

    def metrics(self, signals: Mapping[str, Array], trial: Trial) -> dict[str, Array]:
        """final_position_error = |p_T - goal|, final_speed = |v_T| (last recorded state)."""
        last = _f32(signals["effector"])[:, -1, :]
        goal = trial["vars"]["goal"]
        return {
            "final_position_error": jnp.linalg.norm(last[:, 0:2] - goal, axis=-1),
            "final_speed": jnp.linalg.norm(last[:, 2:4], axis=-1),
        }


class SimpleReachesImpl(_ReachTask):
    """Feedbax's SimpleReaches: the goal (zero velocity) is the input and the target throughout.
    vars: start, goal; validation adds direction, angle and centre (index of the grid point)."""

    def _trial(self, start: Array, goal: Array, extra: Mapping[str, Array]) -> Trial:
        steps = self.config.steps
        target = jnp.broadcast_to(_with_zero_vel(goal)[:, None, :], (goal.shape[0], steps, 4))
        return {
            "signals": {"target": target},
            "init": {"start": _with_zero_vel(start)},
            "vars": {"start": start, "goal": goal, **extra},
        }

    def trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None = None) -> Trial:
        p = _merge(self.p, overrides)
        keys = jr.split(key, batch)
        start, goal = jax.vmap(lambda k: _uniform_endpoints(k, p["workspace"]))(keys)
        return self._trial(start, goal, {})

    def validation(self, key: Array) -> Trial:
        g = self._validation_geometry()
        return self._trial(g["start"], g["goal"],
                           {"direction": g["direction"], "angle": g["angle"], "centre": g["centre"]})


def _epoch_bounds(value: Any) -> np.ndarray:
    b = np.asarray(value)
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1 or np.any(b[:, 0] < 0) or np.any(b[:, 0] >= b[:, 1]):
        raise ConfigError(f"`epoch_bounds` must be rows [lo, hi) with 0 <= lo < hi, got {value!r}", "epoch_bounds")
    if not np.all(b == np.round(b)):
        raise ConfigError(f"`epoch_bounds` must be whole numbers of steps, got {value!r}", "epoch_bounds")
    return b.astype(np.int32)


class DelayedReachesImpl(_ReachTask):
    """Feedbax's DelayedReaches: epochs (start, target on, delay) of random lengths in steps,
    then movement. Hold is 1 before movement onset; the loss target is the start until
    movement onset and the goal from then on; the cue shows the goal in the target-on epochs.
    vars: start, goal, epoch_lengths, epoch_starts, move_onset (steps); validation adds
    direction, angle, centre."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.bounds = _epoch_bounds(self.p["epoch_bounds"])
        self.on_epochs = tuple(int(e) for e in self.p["target_on_epochs"])
        n_epochs = self.bounds.shape[0]
        if any(e < 0 or e >= n_epochs for e in self.on_epochs):
            raise ConfigError(f"`target_on_epochs` {list(self.on_epochs)} must index the {n_epochs} epochs", "target_on_epochs")

    def _trial(self, start: Array, goal: Array, lengths: Array, extra: Mapping[str, Array]) -> Trial:
        batch = start.shape[0]
        steps = self.config.steps
        lengths = lengths.astype(jnp.int32)
        starts = jnp.concatenate([jnp.zeros((batch, 1), jnp.int32), jnp.cumsum(lengths, axis=1)], axis=1)
        move_onset = starts[:, -1]
        k = jnp.arange(steps, dtype=jnp.int32)[None, None, :]
        in_epoch = (k >= starts[:, :-1, None]) & (k < starts[:, 1:, None])  # (B, E, T)
        if self.on_epochs:
            target_on = jnp.any(in_epoch[:, list(self.on_epochs), :], axis=1)
        else:
            target_on = jnp.zeros((batch, steps), bool)
        moving = k[:, 0, :] >= move_onset[:, None]  # (B, T)
        goal4, start4 = _with_zero_vel(goal), _with_zero_vel(start)
        cue = jnp.where(target_on[..., None], goal4[:, None, :], 0.0).astype(jnp.float32)
        target = jnp.where(moving[..., None], goal4[:, None, :], start4[:, None, :])
        return {
            "signals": {
                "cue": cue,
                "hold": (~moving).astype(jnp.float32)[..., None],
                "target_on": target_on.astype(jnp.float32)[..., None],
                "target": target,
            },
            "init": {"start": start4},
            "vars": {"start": start, "goal": goal, "epoch_lengths": lengths, "epoch_starts": starts,
                     "move_onset": move_onset, **extra},
        }

    def trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None = None) -> Trial:
        p = _merge(self.p, overrides)
        bounds = jnp.asarray(p["epoch_bounds"], dtype=jnp.int32)

        def one(k: Array) -> tuple[Array, Array, Array]:
            k_ends, k_epochs = jr.split(k)
            start, goal = _uniform_endpoints(k_ends, p["workspace"])
            lengths = jr.randint(k_epochs, (bounds.shape[0],), bounds[:, 0], bounds[:, 1], dtype=jnp.int32)
            return start, goal, lengths

        start, goal, lengths = jax.vmap(one)(jr.split(key, batch))
        return self._trial(start, goal, lengths, {})

    def validation_epoch_lengths(self) -> np.ndarray:
        """Fixed epoch lengths of the validation set: the midpoints (lo + hi) / 2, halves rounded up."""
        return np.floor((self.bounds[:, 0] + self.bounds[:, 1]) / 2 + 0.5).astype(np.int32)

    def validation(self, key: Array) -> Trial:
        g = self._validation_geometry()
        n = g["start"].shape[0]
        lengths = jnp.broadcast_to(jnp.asarray(self.validation_epoch_lengths()), (n, self.bounds.shape[0]))
        return self._trial(g["start"], g["goal"], lengths,
                           {"direction": g["direction"], "angle": g["angle"], "centre": g["centre"]})


# ---------------------------------------------------------------------------------------------
# cognitive tasks (PsychRNN)


class PerceptualDiscriminationImpl(_CognitiveTask):
    """PsychRNN's PerceptualDiscrimination.

    Onset ~ U[a, b) * T, duration ~ U[c, d) * T (onset_frac = [a, b], duration_frac = [c, d]);
    with end = onset + duration, at time t: input = noise + (onset < t < end) * (1 + coherence
    on channel `direction`, 1 on the other); target = (t > end + target_delay) * (hi on
    `direction`, lo on the other); mask = (t >= end) on both channels.
    vars: coherence, direction (0/1: the channel with the larger mean), signed_coherence
    (+coherence for direction 0, -coherence for direction 1), onset, duration (time units).
    """

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        if np.asarray(self.p["coherences"]).size < 1:
            raise ConfigError("`coherences` must not be empty", "coherences")
        _check_range("onset_frac", self.p["onset_frac"])
        _check_range("duration_frac", self.p["duration_frac"])

    def _make(self, key: Array, p: Mapping[str, Any], coh: Array, direction: Array) -> Trial:
        batch = coh.shape[0]
        T = jnp.float32(self.config.steps * self.config.dt)
        k_on, k_dur, k_noise = jr.split(key, 3)
        on, dur = _f32(p["onset_frac"]), _f32(p["duration_frac"])
        onset = T * (on[0] + (on[1] - on[0]) * jr.uniform(k_on, (batch,), dtype=jnp.float32))
        duration = T * (dur[0] + (dur[1] - dur[0]) * jr.uniform(k_dur, (batch,), dtype=jnp.float32))
        end = onset + duration
        t = _time_grid(self.config)[None, :]
        stim = (t > onset[:, None]) & (t < end[:, None])  # (B, T)
        is_dir = jnp.arange(2)[None, :] == direction[:, None]  # (B, 2)
        level = 1.0 + coh[:, None] * is_dir
        std = psychrnn_noise_std(self.config.dt, p["noise"])
        x = std * jr.normal(k_noise, (batch, self.config.steps, 2), dtype=jnp.float32)
        x = x + jnp.where(stim[..., None], level[:, None, :], 0.0)
        choice_vals = jnp.where(is_dir, _f32(p["hi"]), _f32(p["lo"]))
        after = t > (end + _f32(p["target_delay"]))[:, None]
        y = jnp.where(after[..., None], choice_vals[:, None, :], 0.0)
        mask = jnp.broadcast_to((t >= end[:, None])[..., None], y.shape).astype(jnp.float32)
        return {
            "signals": {"input": x.astype(jnp.float32), "target": y.astype(jnp.float32), "mask": mask},
            "init": {},
            "vars": {"coherence": coh, "direction": direction,
                     "signed_coherence": jnp.where(direction == 0, coh, -coh),
                     "onset": onset, "duration": duration},
        }

    def trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None = None) -> Trial:
        p = _merge(self.p, overrides)
        k_coh, k_dir, k_rest = jr.split(key, 3)
        coh = jr.choice(k_coh, _f32(p["coherences"]).reshape(-1), (batch,))
        direction = jr.randint(k_dir, (batch,), 0, 2, dtype=jnp.int32)
        return self._make(k_rest, p, coh, direction)

    def validation(self, key: Array) -> Trial:
        """Every coherence x both directions (coherence-major), repeated to >= 64 trials;
        timings and noise drawn from `key`."""
        cohs = np.asarray(self.p["coherences"], dtype=np.float32).reshape(-1)
        n_cond = 2 * cohs.size
        cond = np.arange(n_cond * _repeats_to(n_cond, 64)) % n_cond
        return self._make(key, self.p, jnp.asarray(cohs[cond // 2]), jnp.asarray(cond % 2, dtype=jnp.int32))


class DelayedDiscriminationImpl(_CognitiveTask):
    """PsychRNN's DelayedDiscrimination.

    Five durations (onset, stimulus 1, delay, stimulus 2, decision), each U[0, 1) * frac * T
    (epoch_fracs); boundaries b0..b4 are their cumulative sums. Input = noise + on
    b0 <= t < b1 the encoding of f1, on b2 <= t < b3 that of f2, channel 0 holding
    0.4 + 0.8 (f - fmin)/(fmax - fmin) and channel 1 0.4 + 0.8 (fmax - f)/(fmax - fmin).
    On b3 <= t < b4: target hi on the choice channel (0 when f1 > f2), lo on the other; mask 1.
    vars: f1, f2, choice, pair (row of `pairs`), order (0: the pair as given, 1: swapped),
    stim1_on, delay_on, stim2_on, decision_on, end (b0..b4, time units).
    """

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        pairs = np.asarray(self.p["pairs"], dtype=float)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] < 1:
            raise ConfigError(f"`pairs` must be rows [f_a, f_b], got {self.p['pairs']!r}", "pairs")
        fr = np.asarray(self.p["freq_range"], dtype=float)
        if fr.shape != (2,) or not fr[0] < fr[1]:
            raise ConfigError(f"`freq_range` must be [fmin, fmax] with fmin < fmax, got {self.p['freq_range']!r}", "freq_range")
        fracs = np.asarray(self.p["epoch_fracs"], dtype=float)
        if fracs.shape != (5,) or np.any(fracs < 0):
            raise ConfigError(f"`epoch_fracs` must be 5 non-negative numbers, got {self.p['epoch_fracs']!r}", "epoch_fracs")

    def _make(self, key: Array, p: Mapping[str, Any], pair: Array, order: Array) -> Trial:
        batch = pair.shape[0]
        T = jnp.float32(self.config.steps * self.config.dt)
        k_dur, k_noise = jr.split(key)
        pairs = _f32(p["pairs"])
        fa, fb = pairs[pair, 0], pairs[pair, 1]
        f1 = jnp.where(order == 0, fa, fb)
        f2 = jnp.where(order == 0, fb, fa)
        choice = jnp.where(f1 > f2, 0, 1).astype(jnp.int32)
        durations = jr.uniform(k_dur, (batch, 5), dtype=jnp.float32) * _f32(p["epoch_fracs"]) * T
        b = jnp.cumsum(durations, axis=1)  # b[:, i] = boundary b_i
        fr = _f32(p["freq_range"])

        def encode(f: Array) -> Array:
            return jnp.stack([0.4 + 0.8 * (f - fr[0]) / (fr[1] - fr[0]),
                              0.4 + 0.8 * (fr[1] - f) / (fr[1] - fr[0])], axis=-1)

        t = _time_grid(self.config)[None, :]
        s1 = (b[:, 0:1] <= t) & (t < b[:, 1:2])
        s2 = (b[:, 2:3] <= t) & (t < b[:, 3:4])
        dec = (b[:, 3:4] <= t) & (t < b[:, 4:5])
        std = psychrnn_noise_std(self.config.dt, p["noise"])
        x = std * jr.normal(k_noise, (batch, self.config.steps, 2), dtype=jnp.float32)
        x = x + s1[..., None] * encode(f1)[:, None, :] + s2[..., None] * encode(f2)[:, None, :]
        vals = jnp.where(jnp.arange(2)[None, :] == choice[:, None], _f32(p["hi"]), _f32(p["lo"]))
        y = jnp.where(dec[..., None], vals[:, None, :], 0.0)
        mask = jnp.broadcast_to(dec[..., None], y.shape).astype(jnp.float32)
        return {
            "signals": {"input": x.astype(jnp.float32), "target": y.astype(jnp.float32), "mask": mask},
            "init": {},
            "vars": {"f1": f1, "f2": f2, "choice": choice, "pair": pair, "order": order,
                     "stim1_on": b[:, 0], "delay_on": b[:, 1], "stim2_on": b[:, 2],
                     "decision_on": b[:, 3], "end": b[:, 4]},
        }

    def trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None = None) -> Trial:
        p = _merge(self.p, overrides)
        k_pair, k_order, k_rest = jr.split(key, 3)
        n_pairs = np.shape(p["pairs"])[0]
        pair = jr.randint(k_pair, (batch,), 0, n_pairs, dtype=jnp.int32)
        order = jr.randint(k_order, (batch,), 0, 2, dtype=jnp.int32)
        return self._make(k_rest, p, pair, order)

    def validation(self, key: Array) -> Trial:
        """Every pair x both orders (pair-major), repeated to >= 64 trials; timings and noise from `key`."""
        n_cond = 2 * np.asarray(self.p["pairs"]).shape[0]
        cond = np.arange(n_cond * _repeats_to(n_cond, 64)) % n_cond
        return self._make(key, self.p, jnp.asarray(cond // 2, dtype=jnp.int32),
                          jnp.asarray(cond % 2, dtype=jnp.int32))


def ring_bump(angle: Array, n_in: int, scale: Any = 1.0) -> Array:
    """PsychRNN's ring input: a Gaussian pdf of the wrapped difference between each channel's
    angle (linspace(0, 2*pi, n_in): the first and last channels coincide) and `angle`.
    angle (B,) -> (B, n_in)."""
    ring = jnp.linspace(0.0, 2 * jnp.pi, n_in, dtype=jnp.float32)
    d = ring[None, :] - angle[:, None]
    d = jnp.where(d > jnp.pi, d - 2 * jnp.pi, jnp.where(d < -jnp.pi, d + 2 * jnp.pi, d))
    s = _f32(scale)
    z = d / s
    return jnp.exp(-z**2 / 2.0) / (jnp.sqrt(2 * jnp.pi) * s)


class MatchToCategoryImpl(_CognitiveTask):
    """PsychRNN's MatchToCategory.

    Angle ~ U[0, 2*pi), category = floor(angle / (2*pi / n_out)). Input = noise (std
    noise / (2 dt)) + on onset <= t < onset + input_dur the ring bump; on
    onset + input_dur <= t < onset + input_dur + output_dur: target 1 on the category channel,
    0 elsewhere, mask 1. vars: angle, category.
    """

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        for name in ("n_in", "n_out", "eval_n_angles"):
            if int(self.p[name]) < 1:
                raise ConfigError(f"`{name}` must be >= 1, got {self.p[name]!r}", name)

    def _make(self, key: Array, p: Mapping[str, Any], angle: Array) -> Trial:
        batch = angle.shape[0]
        n_in, n_out = int(self.p["n_in"]), int(self.p["n_out"])
        angle = angle.astype(jnp.float32)
        category = jnp.clip(jnp.floor(angle / (2 * jnp.pi / n_out)), 0, n_out - 1).astype(jnp.int32)
        t = _time_grid(self.config)[None, :]
        onset, in_dur, out_dur = _f32(p["onset"]), _f32(p["input_dur"]), _f32(p["output_dur"])
        stim = (onset <= t) & (t < onset + in_dur)
        out = (onset + in_dur <= t) & (t < onset + in_dur + out_dur)
        std = _f32(p["noise"]) / jnp.float32(2 * self.config.dt)
        x = std * jr.normal(key, (batch, self.config.steps, n_in), dtype=jnp.float32)
        x = x + stim[..., None] * ring_bump(angle, n_in, p["bump_scale"])[:, None, :]
        onehot = (jnp.arange(n_out)[None, :] == category[:, None]).astype(jnp.float32)
        y = out[..., None] * onehot[:, None, :]
        mask = jnp.broadcast_to(out[..., None], y.shape).astype(jnp.float32)
        return {
            "signals": {"input": x.astype(jnp.float32), "target": y.astype(jnp.float32), "mask": mask},
            "init": {},
            "vars": {"angle": angle, "category": category},
        }

    def trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None = None) -> Trial:
        p = _merge(self.p, overrides)
        k_angle, k_noise = jr.split(key)
        angle = 2 * jnp.pi * jr.uniform(k_angle, (batch,), dtype=jnp.float32)
        return self._make(k_noise, p, angle)

    def validation(self, key: Array) -> Trial:
        """eval_n_angles angles 2*pi*(j + 1/2)/n (off the category boundaries); noise from `key`."""
        n = int(self.p["eval_n_angles"])
        angle = 2 * jnp.pi * (jnp.arange(n, dtype=jnp.float32) + 0.5) / n
        return self._make(key, self.p, angle)


# ---------------------------------------------------------------------------------------------
# declarations


def _reach_params() -> tuple[Param, ...]:
    return (
        Param("workspace", "matrix", [[-1.0, -1.0], [1.0, 1.0]],
              "reach workspace [[xmin, ymin], [xmax, ymax]]; starts and goals are uniform in it"),
        Param("eval_grid_n", "int", 1, "validation: n x n grid of centre-out sets inside the workspace", low=1, high=100),
        Param("eval_n_directions", "int", 7, "validation: reaches per centre, at angles 2*pi*j/n", low=1, high=10_000),
        Param("eval_length", "float", 0.5, "validation: reach length", low=0, low_open=True),
    )


_REACH_START = Port("start", "out", 4, timing="state", role="init", fields=POSVEL,
                    doc="the effector's start state (position, zero velocity)")
_REACH_EFFECTOR = Port("effector", "in", 4, combine="single", fields=POSVEL,
                       doc="the effector state (pos, vel) after each update, for metrics")

_COGNITIVE_NOISE = Param("noise", "float", 0.1, "PsychRNN's stim_noise (input noise scale)", low=0)


def _cognitive_ports(n_in: Any, n_out: Any) -> tuple[Port, ...]:
    return (
        Port("input", "out", n_in, timing="state", doc="the network's input, with noise"),
        Port("target", "out", n_out, timing="state", doc="the target output"),
        Port("mask", "out", n_out, timing="state", doc="the loss mask (1 where scored)"),
        Port("response", "in", n_out, combine="single", doc="the network's output, for metrics"),
    )


register(
    NodeKind(
        "simple_reaches", "task", _reach_params(),
        ports=(
            Port("target", "out", 4, timing="state", fields=POSVEL,
                 doc="goal position and zero velocity, constant over the trial (input and loss target)"),
            _REACH_START,
            _REACH_EFFECTOR,
        ),
        doc="Feedbax SimpleReaches: reaches between uniform random points; center-out validation.",
        impl=SimpleReachesImpl,
    ),
    NodeKind(
        "delayed_reaches", "task",
        _reach_params() + (
            Param("epoch_bounds", "matrix", [[5, 15], [10, 20], [10, 25]],
                  "epoch lengths in steps, each uniform in [lo, hi): start, target on, delay; then movement"),
            Param("target_on_epochs", "index_list", [1], "epochs in which the cue shows the goal"),
        ),
        ports=(
            Port("cue", "out", 4, timing="state", fields=POSVEL,
                 doc="goal (zero velocity) during the target-on epochs, zeros otherwise"),
            Port("hold", "out", 1, timing="state", doc="1 before movement onset, 0 from then on"),
            Port("target_on", "out", 1, timing="state", doc="1 during the target-on epochs"),
            Port("target", "out", 4, timing="state", fields=POSVEL,
                 doc="loss target: the start until movement onset, then the goal (zero velocity)"),
            _REACH_START,
            _REACH_EFFECTOR,
        ),
        doc="Feedbax DelayedReaches: cue, delay with hold, then movement; center-out validation "
            "with fixed epoch lengths.",
        impl=DelayedReachesImpl,
    ),
    NodeKind(
        "perceptual_discrimination", "task",
        (
            Param("coherences", "vector", [0.1, 0.3, 0.5, 0.7], "coherences drawn uniformly per trial"),
            _COGNITIVE_NOISE,
            Param("onset_frac", "vector", [0.0, 0.5], "stimulus onset ~ U[a, b) * T, T = steps * dt"),
            Param("duration_frac", "vector", [0.125, 0.375], "stimulus duration ~ U[a, b) * T"),
            Param("target_delay", "float", 20.0, "target starts this long (time units) after the stimulus", low=0),
            Param("hi", "float", 1.0, "target on the correct channel"),
            Param("lo", "float", 0.2, "target on the other channel"),
        ),
        ports=_cognitive_ports(2, 2),
        doc="PsychRNN PerceptualDiscrimination (2AFC on two noisy channels).",
        impl=PerceptualDiscriminationImpl,
    ),
    NodeKind(
        "delayed_discrimination", "task",
        (
            Param("pairs", "matrix", [[18, 10], [22, 14], [26, 18], [30, 22], [34, 26]],
                  "frequency pairs; each trial draws a pair and an order"),
            _COGNITIVE_NOISE,
            Param("freq_range", "vector", [10.0, 34.0], "[fmin, fmax] of the input encoding"),
            Param("epoch_fracs", "vector", [0.125, 0.25, 0.25, 0.25, 0.125],
                  "onset, stimulus 1, delay, stimulus 2, decision: each ~ U[0, 1) * frac * T"),
            Param("hi", "float", 1.0, "target on the correct channel"),
            Param("lo", "float", 0.2, "target on the other channel"),
        ),
        ports=_cognitive_ports(2, 2),
        doc="PsychRNN DelayedDiscrimination (was f1 > f2?).",
        impl=DelayedDiscriminationImpl,
    ),
    NodeKind(
        "match_to_category", "task",
        (
            Param("n_in", "int", 16, "ring input channels (angles linspace(0, 2*pi, n_in))", low=1, high=100_000),
            Param("n_out", "int", 2, "categories (equal slices of the ring)", low=1, high=100_000),
            _COGNITIVE_NOISE,
            Param("onset", "float", 200.0, "stimulus onset (time units)", low=0),
            Param("input_dur", "float", 1000.0, "stimulus duration (time units)", low=0),
            Param("output_dur", "float", 800.0, "response window after the stimulus (time units)", low=0),
            Param("bump_scale", "float", 1.0, "width (std, radians) of the input bump", low=0, low_open=True),
            Param("eval_n_angles", "int", 64, "validation: evenly spaced angles", low=1, high=100_000),
        ),
        ports=_cognitive_ports("n_in", "n_out"),
        doc="PsychRNN MatchToCategory (ring input, half-ring categories).",
        impl=MatchToCategoryImpl,
    ),
)
