"""Reference trajectories from MotorNet itself, for tests/compiler/test_muscles_motornet.py.

Run it with a Python that has MotorNet (https://github.com/OlivierCodol/MotorNet, its PyTorch
package `motornet`) and torch installed, in an environment of its own, outside this project:

    python scripts/motornet_reference.py [tests/data/motornet_reference.npz]

It simulates MotorNet's effectors (RigidTendonArm26 with each rigid-tendon muscle model, and
ReluPointMass24) in double precision (torch's default dtype set to float64 and every module
converted with `.double()`; constants MotorNet builds as float32 keep their float32 rounding, a
relative difference of about 1e-8) for constant and time-varying excitations, and stores per step
the joint, Cartesian, muscle and geometry states in one small .npz. Each case `NAME` stores:

    NAME/config        JSON: effector, muscle, integrator, substeps, dt
    NAME/excitation    (T, n) the excitations given at each step (some outside [0, 1])
    NAME/load          (T, 2) the endpoint load at each step
    NAME/joint         (T+1, 4) joint state (t = 0 is the reset state)
    NAME/cartesian     (T+1, 4) endpoint position and velocity
    NAME/muscle        (T+1, 4, n) activation, fibre length, fibre velocity, force
    NAME/geometry      (T+1, 2 + dof, n) musculotendon length, velocity, moment arms
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch as th

import motornet as mn

T, DT = 80, 0.01
MUSCLES = {"hill": mn.muscle.RigidTendonHillMuscle, "thelen": mn.muscle.RigidTendonHillMuscleThelen,
           "relu": mn.muscle.ReluMuscle}
# the muscle-state rows rnnlang keeps: activation, fibre length, fibre velocity, force
ROWS = ("activation", "muscle length", "muscle velocity", "force")


def excitations(n: int, kind: str) -> np.ndarray:
    t = DT * np.arange(T)[:, None]
    if kind == "constant":
        return np.tile(np.linspace(0.05, 0.6, n)[None, :], (T, 1))
    phase = np.linspace(0.0, 2 * np.pi, n, endpoint=False)[None, :]
    freq = np.linspace(1.0, 3.0, n)[None, :]
    return 0.4 + 0.6 * np.sin(2 * np.pi * freq * t + phase)  # dips below 0: the clip is exercised


def loads(kind: str) -> np.ndarray:
    t = DT * np.arange(T)[:, None]
    if kind == "none":
        return np.zeros((T, 2))
    return np.hstack([2.0 * np.sin(2 * np.pi * t), -1.0 + 0.0 * t])


def simulate(effector: str, muscle: str, integrator: str, substeps: int, drive: str, load: str,
             start: list[float]) -> dict[str, np.ndarray]:
    if effector == "arm26":
        eff = mn.effector.RigidTendonArm26(muscle=MUSCLES[muscle](), timestep=DT, integration_method=integrator,
                                           n_ministeps=substeps)
    else:
        eff = mn.effector.ReluPointMass24(timestep=DT, integration_method=integrator, n_ministeps=substeps)
    eff = eff.double()
    eff.reset(options={"batch_size": 1, "joint_state": th.tensor([start], dtype=th.float64)})
    index = [eff.muscle.state_name.index(r) for r in ROWS]
    u, f = excitations(eff.n_muscles, drive), loads(load)
    rec: dict[str, list[np.ndarray]] = {"joint": [], "cartesian": [], "muscle": [], "geometry": []}

    def record() -> None:
        s = eff.states
        rec["joint"].append(s["joint"][0].double().numpy())
        rec["cartesian"].append(s["cartesian"][0].double().numpy())
        rec["muscle"].append(s["muscle"][0, index, :].double().numpy())
        rec["geometry"].append(s["geometry"][0].double().numpy())

    record()
    for k in range(T):
        eff.step(th.tensor(u[k:k + 1], dtype=th.float64), endpoint_load=th.tensor(f[k:k + 1], dtype=th.float64))
        record()
    config = dict(effector=effector, muscle=muscle, integrator=integrator, substeps=substeps, dt=DT)
    return {"config": np.array(json.dumps(config)), "excitation": u, "load": f,
            **{k: np.stack(v) for k, v in rec.items()}}


CASES = {
    # name: effector, muscle, integrator, substeps, excitation, load, start joint state
    "arm26_hill_constant": ("arm26", "hill", "euler", 1, "constant", "none", [0.8, 1.5, 0.0, 0.0]),
    "arm26_hill_varying_load": ("arm26", "hill", "euler", 1, "varying", "varying", [0.6, 1.2, 0.0, 0.0]),
    "arm26_hill_rk4": ("arm26", "hill", "rk4", 1, "varying", "varying", [0.6, 1.2, 0.0, 0.0]),
    "arm26_thelen_varying": ("arm26", "thelen", "euler", 1, "varying", "none", [0.9, 1.3, 0.0, 0.0]),
    "arm26_thelen_substeps": ("arm26", "thelen", "euler", 3, "constant", "varying", [0.7, 1.0, 0.0, 0.0]),
    "arm26_relu_varying": ("arm26", "relu", "euler", 1, "varying", "none", [0.8, 1.5, 0.0, 0.0]),
    "point_mass_relu_varying": ("point_mass", "relu", "euler", 1, "varying", "varying", [0.1, -0.2, 0.0, 0.0]),
    "point_mass_relu_rk4": ("point_mass", "relu", "rk4", 1, "varying", "none", [-0.3, 0.4, 0.0, 0.0]),
}


def main(path: str) -> None:
    th.set_default_dtype(th.float64)
    out = {}
    for name, args in CASES.items():
        for key, value in simulate(*args).items():
            out[f"{name}/{key}"] = value
    np.savez_compressed(path, **out)
    print(f"wrote {len(CASES)} cases to {path} (MotorNet {mn.__version__}, torch {th.__version__})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/motornet_reference.npz")
